"""Cached and replicated objects across real OS processes (TCP on loopback).

The home runs in one process (tests/support/sites/serve.py); workers
(tests/support/sites/mobile_worker.py) each run their own site. Histories are recorded with
time.monotonic(), one clock for every process of the machine, and checked here for
linearizability and for stale reads.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import netobj
from netobj.link import LinkConfig
from tests.support.linearizability import Op, check, counter_model, stale_observations
from tests.support.procs import ROOT, finish, read_line, start_script, start_site
from tests.support.sites.objects import MovingCounter, SharedCounter

WORKER = ROOT / "tests" / "support" / "sites" / "mobile_worker.py"
CONFIG = LinkConfig(heartbeat_interval_s=0.2, temp_timeout_s=1.0, redial_max_s=0.2,
                    probe_interval_s=0.2)


async def start_worker(*args: str) -> asyncio.subprocess.Process:
    return await start_script(WORKER, *args, stdin=True)


def _history(lines: list[str]) -> list[Op]:
    ops: list[Op] = []
    for line in lines:
        report: dict[str, Any] = json.loads(line)
        for name, start, end, result in report["history"]:
            ops.append(Op(str(report["pid"]), start, end, name, 1 if name == "inc" else None,
                          result))
    return ops


@pytest.mark.parametrize("name", ["moving", "shared"])
async def test_three_processes_increment_1000_times_each(name: str) -> None:
    home = await start_site("--expose", name)
    procs: list[asyncio.subprocess.Process] = []
    try:
        ticket = home.tickets[name]
        mode = "inc" if name == "moving" else "mixed"
        n = 1000
        procs = [await start_worker("count", ticket, str(n), mode) for _ in range(3)]
        lines = [await read_line(p, 300) for p in procs]
        history = _history(lines)
        # the state really travelled between the processes (or copies were refreshed)
        arrivals = [json.loads(line)["moves"] for line in lines]
        assert all(a >= 1 for a in arrivals) and sum(arrivals) >= 10, arrivals
        incs = sorted(op.result for op in history if op.name == "inc")
        # every increment ran exactly once: the values seen are 1..total, each once
        assert incs == list(range(1, len(incs) + 1))
        async with netobj.Site(link_config=CONFIG) as site:
            p = await asyncio.wait_for(site.take(ticket), 30)
            final = await asyncio.wait_for(p.get(), 60)
        if name == "moving":
            assert final == 3 * n == len(incs)
        else:
            assert final == len(incs) and len(history) == 3 * n
        assert not stale_observations(history), "a process read the past"
        assert check(history, counter_model, 0), "the history is not linearizable"
        # the workers close cleanly: state they hold goes home, nothing is lost
        await finish(procs)
        assert [p.returncode for p in procs] == [0, 0, 0]
        async with netobj.Site(link_config=CONFIG) as site:
            p = await asyncio.wait_for(site.take(ticket), 30)
            assert await asyncio.wait_for(p.inc(), 60) == len(incs) + 1
            assert netobj.fault_state(p) == "ok"
    finally:
        await finish(procs)
        await home.close()


async def test_replicated_counter_with_only_writes_ends_at_3000() -> None:
    home = await start_site("--expose", "shared")
    procs: list[asyncio.subprocess.Process] = []
    try:
        ticket = home.tickets["shared"]
        procs = [await start_worker("count", ticket, "1000", "inc") for _ in range(3)]
        history = _history([await read_line(p, 300) for p in procs])
        assert sorted(op.result for op in history) == list(range(1, 3001))
        async with netobj.Site(link_config=CONFIG) as site:
            p = await asyncio.wait_for(site.take(ticket), 30)
            assert await asyncio.wait_for(p.get(), 60) == 3000
    finally:
        await finish(procs)
        await home.close()


async def test_holder_killed_mid_run_fails_the_object_on_every_site() -> None:
    home = await start_site("--expose", "moving")
    procs: list[asyncio.subprocess.Process] = []
    holder: asyncio.subprocess.Process | None = None
    try:
        ticket = home.tickets["moving"]
        holder = await start_worker("hold", ticket, "600")
        assert await read_line(holder, 60) == "HOLDING"
        procs = [await start_worker("wait", ticket) for _ in range(3)]
        for p in procs:
            assert await read_line(p) == "WAITING"
        async with netobj.Site(link_config=CONFIG) as site:
            mine = await asyncio.wait_for(site.take(ticket), 30)
            pending = mine.inc()
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            holder.kill()
            bound = 30.0  # generous: a refused probe of the holder's address decides it
            lines = [await read_line(p, bound) for p in procs]
            assert all(line.startswith("PERMFAILURE") for line in lines), lines
            assert all("failed" in line for line in lines), lines
            with pytest.raises(netobj.PermFailure):
                await asyncio.wait_for(pending, bound)
            assert loop.time() - t0 < bound
            assert netobj.fault_state(mine) == "perm_fail"
            with pytest.raises(netobj.PermFailure):  # never recreated from a stale copy
                await asyncio.wait_for(mine.get(), 10)
    finally:
        if holder is not None and holder.returncode is None:
            holder.kill()
        await finish([*procs, *([holder] if holder else [])])
        await home.close()


async def test_home_killed_every_proxy_reports_perm_fail() -> None:
    home = await start_site("--expose", "moving", "shared")
    try:
        async with netobj.Site(link_config=CONFIG) as site:
            moving = await asyncio.wait_for(site.take(home.tickets["moving"]), 30)
            shared = await asyncio.wait_for(site.take(home.tickets["shared"]), 30)
            assert await asyncio.wait_for(moving.inc(), 30) == 1  # the state is here now
            assert await asyncio.wait_for(shared.get(), 30) == 0  # a valid copy here
            home.kill()
            for proxy in (moving, shared):
                async def failed(p: Any = proxy) -> None:
                    while netobj.fault_state(p) != "perm_fail":
                        await asyncio.sleep(0.05)

                await asyncio.wait_for(failed(), 30)
            with pytest.raises(netobj.PermFailure, match="home"):
                await moving.inc()
            with pytest.raises(netobj.PermFailure, match="home"):
                await shared.get()
    finally:
        home.kill()
        await home.close()


@pytest.mark.parametrize("variant", ["--no-class", "--bare-class"])
async def test_taking_an_object_whose_class_is_not_allowed_is_a_marshal_error(
        variant: str) -> None:
    home = await start_site("--expose", "moving")
    proc = await start_worker("take", home.tickets["moving"], variant)
    try:
        line = await read_line(proc, 60)
        assert line.startswith("ERROR MarshalError"), line
        assert "tests.support.sites.objects.MovingCounter" in line
        if variant == "--no-class":
            assert "unknown on this site" in line
        else:
            assert "not decorated with @netobj.cached" in line
    finally:
        await finish([proc])
        await home.close()


async def test_the_site_keeps_serving_after_a_refused_class() -> None:
    """The refusal is the taker's alone: the home and other takers go on."""
    home = await start_site("--expose", "moving")
    bad = await start_worker("take", home.tickets["moving"], "--no-class")
    try:
        assert (await read_line(bad, 60)).startswith("ERROR MarshalError")
        async with netobj.Site(link_config=CONFIG) as site:
            p = await asyncio.wait_for(site.take(home.tickets["moving"]), 30)
            assert await asyncio.wait_for(p.inc(), 30) == 1
    finally:
        await finish([bad])
        await home.close()


def test_test_classes_are_decorated() -> None:
    assert netobj.protocol_of(MovingCounter()) == "cached"
    assert netobj.protocol_of(SharedCounter()) == "replicated"
