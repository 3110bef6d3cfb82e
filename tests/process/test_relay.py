"""Link cuts between real processes, through a TCP relay that the test controls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import netobj
from netobj.testing import Relay
from netobj.ticket import Ticket, parse_ticket
from tests.support.procs import SiteProcess, start_site


@pytest.fixture(params=["tcp", "grpc"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[SiteProcess]:
    """The site process behind the relay, on each carrier (the relay pipes bytes)."""
    sp = await start_site("--carrier", request.param)
    try:
        yield sp
    finally:
        await sp.close()


def via(ticket: str, relay: Relay) -> str:
    t = parse_ticket(ticket)
    host, _, port = relay.address.rpartition(":")
    return str(Ticket(host, int(port), t.site_id, t.key, t.carrier))


async def test_relay_cut_during_1000_calls_loses_and_duplicates_nothing(
    site: netobj.Site, server: SiteProcess
) -> None:
    async with Relay(server.address) as relay:
        calc = await site.take(via(server.tickets["calc"], relay))
        vars_ = []
        for i in range(1000):
            vars_.append(calc.record(i))
            if i % 40 == 0:
                await asyncio.sleep(0.005)  # let frames go out between cuts
            if i in (150, 420, 700, 880):
                relay.cut()
                await asyncio.sleep(0.3)
                relay.restore()
        results = await asyncio.wait_for(asyncio.gather(*vars_), 60)
        assert results == [2 * i for i in range(1000)]
        # executed exactly once each, in call order
        assert await asyncio.wait_for(calc.get_log(), 30) == list(range(1000))
        assert relay.cut_count == 4
        assert relay.connections >= 2  # the link really was re-made through the relay
        stats = site.statistics()["links"][server.site_id]
        assert stats["reconnects"] >= 1


async def test_relay_cut_while_calls_wait_keeps_them(
    site: netobj.Site, server: SiteProcess
) -> None:
    async with Relay(server.address) as relay:
        calc = await site.take(via(server.tickets["calc"], relay))
        assert await calc.add(1, 2) == 3
        relay.cut()
        pending = [calc.record(i) for i in range(50)]
        await asyncio.sleep(0.5)
        assert not any(v.done() for v in pending)
        relay.restore()
        assert await asyncio.wait_for(asyncio.gather(*pending), 30) == [2 * i for i in range(50)]
        assert await calc.get_log() == list(range(50))
