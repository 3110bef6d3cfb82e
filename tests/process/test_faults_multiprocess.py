"""Faults reflected into the program, proven with real faults on real processes (loopback).

SIGKILL, SIGSTOP/SIGCONT, restarts on the same port, and link cuts through a relay the test
controls. Every wait is bounded; nothing sleeps to let things settle except where the fault
itself is a duration (a process stopped for 3 s).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

import netobj
from netobj.link import LinkConfig
from tests.support.procs import ROOT, SiteProcess, read_line, start_script, start_site

WORKER = ROOT / "tests" / "support" / "sites" / "fault_worker.py"
CONFIG = LinkConfig(heartbeat_interval_s=0.2, temp_timeout_s=2.0, redial_max_s=0.2,
                    probe_interval_s=0.2)


async def start_worker(*args: str) -> asyncio.subprocess.Process:
    return await start_script(WORKER, *args)


async def test_sigkill_of_the_home_three_watchers_see_perm_fail_and_waiting_vars_fail() -> None:
    home = await start_site("--expose", "calc")
    procs: list[asyncio.subprocess.Process] = []
    try:
        procs = [await start_worker("watch", home.tickets["calc"]) for _ in range(3)]
        for p in procs:
            assert await read_line(p) == "READY"
            assert (await read_line(p)).startswith("STATE ok")
        killed_at = time.monotonic()
        home.kill()
        bound = 10.0  # a refused redial decides it; perm_timeout (60 s) would be the backstop
        for p in procs:
            line = await read_line(p, bound)
            assert line.startswith("STATE perm_fail"), line
            assert float(line.split()[2]) - killed_at < bound
            pending = await read_line(p, bound)
            assert pending.startswith("PENDING PermFailure"), pending
        for p in procs:
            assert await asyncio.wait_for(p.wait(), 30) == 0  # nothing hangs
    finally:
        home.kill()
        await home.close()
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()


async def test_sigstop_for_3s_gives_temp_fail_then_ok_and_500_calls_run_once() -> None:
    home = await start_site("--expose", "calc")
    try:
        async with netobj.Site(link_config=CONFIG) as site:
            calc = await asyncio.wait_for(site.take(home.tickets["calc"]), 30)
            assert await asyncio.wait_for(calc.record(-1), 30) == -2
            stream = netobj.fault_stream(calc)
            assert await asyncio.wait_for(anext(stream), 5) == "ok"
            home.stop()
            try:
                calls = [calc.record(i) for i in range(500)]  # issued during the pause
                assert await asyncio.wait_for(anext(stream), 10) == "temp_fail"
                assert not any(v.done() for v in calls)  # they wait (the default)
                await asyncio.sleep(3.0 - 0.0)  # the fault itself: stopped for 3 s
            finally:
                home.cont()
            assert await asyncio.wait_for(anext(stream), 15) == "ok"
            results = await asyncio.wait_for(asyncio.gather(*calls), 60)
            assert results == [2 * i for i in range(500)]
            log = await asyncio.wait_for(calc.get_log(), 30)
            assert log == [-1, *range(500)]  # each executed exactly once, in order
            stream.close()
    finally:
        await home.close()


async def test_fail_fast_calls_return_temp_failure_within_the_requested_time() -> None:
    home = await start_site("--expose", "calc")
    try:
        async with netobj.Site(link_config=CONFIG) as site:
            calc = await asyncio.wait_for(site.take(home.tickets["calc"]), 30)
            assert await asyncio.wait_for(calc.add(1, 1), 30) == 2
            home.stop()
            try:
                stream = netobj.fault_stream(calc)
                assert await asyncio.wait_for(anext(stream), 5) == "ok"
                assert await asyncio.wait_for(anext(stream), 10) == "temp_fail"
                loop = asyncio.get_running_loop()
                for after in (0.0, 0.3, 1.0):
                    t0 = loop.time()
                    with pytest.raises(netobj.TempFailure, match="unreachable"):
                        await asyncio.wait_for(netobj.fail_fast(calc, after).add(2, 2), 10)
                    elapsed = loop.time() - t0
                    assert elapsed < after + 1.0, (after, elapsed)  # loop latency margin
                # the default waits: still pending after all that
                waiting = calc.add(3, 3)
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(asyncio.ensure_future(
                        _await(waiting))), 0.5)
            finally:
                home.cont()
            assert await asyncio.wait_for(_await(waiting), 30) == 6
            stream.close()
    finally:
        await home.close()


async def _await(var: netobj.Var[object]) -> object:
    return await var


async def test_restarted_site_old_proxies_and_tickets_never_reach_the_new_incarnation() -> None:
    first = await start_site("--expose", "calc")
    async with netobj.Site(link_config=CONFIG) as site:
        calc = await asyncio.wait_for(site.take(first.tickets["calc"]), 30)
        assert await asyncio.wait_for(calc.record(1), 30) == 2
        port = first.address.rsplit(":", 1)[1]
        first.kill()
        await first.close()
        second = await start_site("--expose", "calc", "--port", port)
        try:
            assert second.address == first.address and second.site_id != first.site_id
            with pytest.raises(netobj.PermFailure):
                await asyncio.wait_for(calc.record(2), 30)
            assert netobj.fault_state(calc) == "perm_fail"
            with pytest.raises(netobj.PermFailure):
                await asyncio.wait_for(site.take(first.tickets["calc"]), 30)
            with pytest.raises(netobj.PermFailure):  # at once, and for good
                await asyncio.wait_for(calc.record(3), 1)
            fresh = await asyncio.wait_for(site.take(second.tickets["calc"]), 30)
            assert await asyncio.wait_for(fresh.get_log(), 30) == []  # nothing reached it
        finally:
            await second.close()


async def test_relay_cut_and_restored_20_times_during_5000_calls() -> None:
    """Two sender processes, 2,500 calls each, through a relay the test cuts 20 times: every
    call runs exactly once, in each sender's order; nothing is lost or duplicated."""
    from netobj.testing import Relay
    from tests.process.test_relay import via

    home = await start_site("--expose", "calc")
    procs: list[asyncio.subprocess.Process] = []
    try:
        async with Relay(home.address) as relay:
            ticket = via(home.tickets["calc"], relay)
            procs = [await start_worker("calls", ticket, "2500", str(k * 100_000))
                     for k in range(2)]
            for p in procs:
                assert await read_line(p) == "STARTED"
            for _ in range(20):
                await asyncio.sleep(0.25)
                relay.cut()
                await asyncio.sleep(0.15)
                relay.restore()
            lines = [await read_line(p, 180) for p in procs]
            for line in lines:
                verdict, n, distinct, _ = line.split()[1:]
                assert (verdict, n, distinct) == ("ok", "2500", "2500"), line
            assert relay.cut_count == 20
            assert relay.connections >= 4  # links really were re-made through the relay
            assert sum(int(line.split()[4]) for line in lines) >= 2
        for p in procs:
            assert await asyncio.wait_for(p.wait(), 30) == 0
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
        await home.close()


def _netns_unavailable() -> str | None:
    import shutil
    import subprocess

    if shutil.which("ip") is None:
        return "the `ip` command is not installed"
    name = f"nbprobe{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        return f"cannot create network namespaces here: {r.stderr.strip() or r.returncode}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


async def test_veth_link_between_namespaces_down_and_up_20_times_during_5000_calls() -> None:
    """The same, over a real veth pair between two network namespaces the test creates:
    the link is set down and up 20 times while the calls run (where the sandbox allows it;
    otherwise the test is skipped and says why)."""
    import subprocess

    reason = _netns_unavailable()
    if reason is not None:
        print(f"skipping the veth test: {reason}")
        pytest.skip(reason)
    tag = os.getpid() % 100_000
    ns_a, ns_b, dev_a, dev_b = f"nba{tag}", f"nbb{tag}", f"vna{tag}", f"vnb{tag}"
    subnet = f"10.{200 + tag % 50}.{tag % 250}"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    site: SiteProcess | None = None
    proc: asyncio.subprocess.Process | None = None
    try:
        ip("netns", "add", ns_a)
        ip("netns", "add", ns_b)
        ip("link", "add", dev_a, "type", "veth", "peer", "name", dev_b)
        ip("link", "set", dev_a, "netns", ns_a)
        ip("link", "set", dev_b, "netns", ns_b)
        ip("-n", ns_a, "addr", "add", f"{subnet}.1/24", "dev", dev_a)
        ip("-n", ns_b, "addr", "add", f"{subnet}.2/24", "dev", dev_b)
        for ns, dev in ((ns_a, dev_a), (ns_b, dev_b)):
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        site = await start_site("--expose", "calc", "--host", f"{subnet}.1",
                                       prefix=("ip", "netns", "exec", ns_a))
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", ns_b, sys.executable, str(WORKER), "calls",
            site.tickets["calc"], "5000", "0", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT), "NETOBJ_HOST": f"{subnet}.2"})
        assert await read_line(proc) == "STARTED"
        for _ in range(20):
            await asyncio.sleep(0.25)
            ip("-n", ns_a, "link", "set", dev_a, "down")
            await asyncio.sleep(0.2)
            ip("-n", ns_a, "link", "set", dev_a, "up")
        line = await read_line(proc, 240)
        assert line.split()[1:4] == ["ok", "5000", "5000"], line
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        if site is not None:
            await site.close()
        for ns in (ns_a, ns_b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
