"""Every call gets exactly one outcome, whatever the method raises (issue 9, item 4).

A home site in its own process offers one object per protocol whose methods raise what
hostile or careless code raises: an exception whose ``__str__`` raises, ``SystemExit``,
``KeyboardInterrupt``, a ``CancelledError`` raised by the method itself, a result whose
marshalling raises. On both carriers and every protocol, each such call must fail with a
specific error, innocent calls batched with it must succeed, the object must go on (a normal
call after each case succeeds), and the home process must still be serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import netobj
from netobj.errors import UNRENDERABLE
from tests.support.helpers import FAST_LINKS
from tests.support.procs import SiteProcess, start_site
from tests.support.sites import objects  # noqa: F401 - the classes must be known here (cached)

PROTOCOLS = ["stationary", "active", "cached", "replicated"]
CARRIERS = ["tcp", "grpc"]


@pytest.fixture(params=CARRIERS)
async def home(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, SiteProcess]]:
    carrier = request.param
    sp = await start_site("--carrier", carrier, "--expose",
                          *(f"odd_{p}" for p in PROTOCOLS))
    try:
        yield carrier, sp
    finally:
        await sp.close()


def failed_as(exc: BaseException, name: str) -> bool:
    """``exc`` stands for an exception of class ``name`` raised by the method: itself when
    the method ran here (cached), a RemoteError naming it when it ran at the home."""
    if isinstance(exc, netobj.RemoteError):
        return exc.type_name.rsplit(".", 1)[-1] == name
    return type(exc).__name__ == name


async def outcome(var: Any) -> BaseException | None:
    """The exception ``var`` failed with (None if it succeeded); never cancels the test."""
    try:
        await asyncio.wait_for(var, 20)
    except Exception as exc:
        return exc
    return None


async def check_goes_on(p: Any, n: int) -> None:
    assert await asyncio.wait_for(p.ok(n), 20) == n
    assert await asyncio.wait_for(p.async_ok(n + 1), 20) == n + 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_every_odd_raise_gets_one_outcome_and_the_object_goes_on(
        home: tuple[str, SiteProcess], protocol: str) -> None:
    carrier, sp = home
    async with netobj.Site(transport=carrier, link_config=FAST_LINKS) as site:
        p = await asyncio.wait_for(site.take(sp.tickets[f"odd_{protocol}"]), 20)
        remote = protocol != "cached"  # a cached object's methods run here, at the caller
        await check_goes_on(p, 1)

        # an exception that cannot be rendered: a specific error with a placeholder message
        for method in (p.unprintable, p.async_unprintable):
            exc = await outcome(method())
            assert exc is not None and failed_as(exc, "Unprintable"), exc
            if remote:
                assert isinstance(exc, netobj.RemoteError)
                assert exc.remote_message == UNRENDERABLE
            await check_goes_on(p, 10)

        # ... and the innocent calls batched with it (pipelined, not awaited between) succeed
        vs = [p.ok(20), p.unprintable(), p.ok(21), p.async_unprintable(), p.ok(22)]
        outs = [await outcome(v) for v in vs]
        assert outs[0] is None and outs[2] is None and outs[4] is None, outs
        assert failed_as(outs[1], "Unprintable") and failed_as(outs[3], "Unprintable")  # type: ignore[arg-type]
        assert [await v for v in (vs[0], vs[2], vs[4])] == [20, 21, 22]

        # BaseExceptions a method raises are its outcome, never the caller's or the site's
        cases = [(p.async_cancelled, "CancelledError"), (p.async_exits, "SystemExit"),
                 (p.exits, "SystemExit"), (p.interrupts, "KeyboardInterrupt")]
        for method, name in cases:
            exc = await outcome(method())
            assert exc is not None and failed_as(exc, name), (name, exc)
            assert isinstance(exc, netobj.RemoteError), "a BaseException reaches the caller"
            await check_goes_on(p, 30)

        # a batch mixing them with good calls
        vs = [p.ok(40), p.async_cancelled(), p.async_exits(), p.exits(), p.ok(41)]
        outs = [await outcome(v) for v in vs]
        assert outs[0] is None and outs[4] is None, outs
        assert all(isinstance(e, netobj.RemoteError) for e in outs[1:4]), outs

        if remote:  # a result whose marshalling raises something other than MarshalError
            exc = await outcome(p.returns_unencodable())
            assert isinstance(exc, netobj.MarshalError), exc
        await check_goes_on(p, 50)

    assert sp.proc.returncode is None, "the home site process ended"
