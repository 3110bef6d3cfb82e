"""Sites used from plain threads: Site.background(), Var.wait(), calls from many threads."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import netobj

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import sys, threading, concurrent.futures
import netobj
site = netobj.Site.background()
assert site.address and threading.current_thread() is threading.main_thread()
calc = site.take(sys.argv[1]).wait(10)
print("pid", calc.pid().wait(10))

def worker(k):
    return [calc.add(k, i).wait(10) for i in range(50)]

with concurrent.futures.ThreadPoolExecutor(8) as pool:
    results = list(pool.map(worker, range(8)))
assert results == [[k + i for i in range(50)] for k in range(8)], results
# calls made from threads, all in flight at once, then waited on
vs = [calc.record(i) for i in range(200)]
assert [v.wait(10) for v in vs] == [2 * i for i in range(200)]
try:
    calc.sleep(5).wait(0.05)
except TimeoutError:
    print("timeout ok")
site.close()
print("done")
"""


def test_background_site_from_threads(server: object) -> None:
    from tests.support.procs import SiteProcess

    assert isinstance(server, SiteProcess)
    out = subprocess.run([sys.executable, "-c", SCRIPT, server.tickets["calc"]],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert f"pid {server.pid}" in out.stdout
    assert "timeout ok" in out.stdout and "done" in out.stdout


def test_wait_on_the_sites_own_loop_refuses() -> None:
    site = netobj.Site.background()
    try:
        var: netobj.Var[int] = netobj.Var()
        errors: list[BaseException] = []
        done = threading.Event()

        def on_loop() -> None:
            try:
                var.wait()
            except BaseException as exc:
                errors.append(exc)
            done.set()

        assert site._gate.post(on_loop)
        assert done.wait(10)
        assert isinstance(errors[0], netobj.DeadlockError)
        assert "await var" in str(errors[0])
    finally:
        site.close()


def test_closed_site_refuses_work() -> None:
    site = netobj.Site.background()
    ticket = site.offer({"x": 1})
    site.close()
    with pytest.raises(netobj.SiteClosedError):
        site.offer(1)
    with pytest.raises(netobj.SiteClosedError):
        site.take(ticket)


def test_the_loop_gate_runs_work_on_the_loop_thread_and_refuses_it_once_closed() -> None:
    site = netobj.Site.background()
    gate = site._gate
    ran: list[int] = []
    done = threading.Event()

    def on_loop(k: int) -> None:
        ran.append(threading.get_ident())
        assert gate.call(ran.append, k)  # from the loop thread: runs now, inline
        done.set()

    try:
        assert not gate.on_loop()
        assert gate.call(on_loop, 7)  # from this thread: queued for the loop
        assert done.wait(10)
        assert ran[0] == gate.thread != threading.get_ident() and ran[1] == 7
    finally:
        site.close()
    assert not gate.call(ran.append, 8)  # the site is closed: refused, never run
    assert not gate.post(ran.append, 9)
    assert ran[1:] == [7]


def test_offer_from_many_threads_gives_distinct_tickets() -> None:
    site = netobj.Site.background()
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            tickets = list(pool.map(lambda i: site.offer(i), range(200)))
        assert len(set(tickets)) == 200
        assert [site.take(t).wait(5) for t in tickets] == list(range(200))
    finally:
        site.close()


def test_cached_and_replicated_objects_from_plain_threads() -> None:
    """Calls from threads that are not the site's loop thread go through the loop (they never
    run inline), and still see one object: a counter hit from 8 threads on two sites."""
    from tests.support.sites.objects import MovingCounter, SharedCounter

    home = netobj.Site.background()
    other = netobj.Site.background()
    try:
        moving_t = home.offer(MovingCounter())
        shared_t = home.offer(SharedCounter())
        proxies = [s.take(moving_t).wait(10) for s in (home, other)]
        replicas = [s.take(shared_t).wait(10) for s in (home, other)]

        def worker(k: int) -> list[int]:
            p, r = proxies[k % 2], replicas[k % 2]
            out = []
            for _ in range(50):
                out.append(p.inc().wait(30))
                r.inc().wait(30)
                assert r.get().wait(30) >= 1
            return out

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = [v for chunk in pool.map(worker, range(8)) for v in chunk]
        assert sorted(results) == list(range(1, 401))
        assert proxies[1].get().wait(10) == 400
        assert replicas[0].get().wait(10) == replicas[1].get().wait(10) == 400
    finally:
        other.close()
        home.close()


def test_inline_calls_from_a_thread_while_the_state_keeps_moving() -> None:
    """A plain thread calls a cached object inline (no lock, no loop hop) while another site
    keeps asking for the state: the state never leaves in the middle of a call, so no
    increment is lost or seen twice."""
    import asyncio

    from tests.support.sites.objects import MovingCounter

    home = netobj.Site.background()
    other = netobj.Site.background()
    try:
        ticket = home.offer(MovingCounter())
        mine = home.take(ticket).wait(10)
        theirs = other.take(ticket).wait(10)
        n = 3000
        seen_here: list[int] = []

        def hammer() -> None:
            import time

            for i in range(n):
                seen_here.append(mine.inc().wait(30))
                if i % 10 == 0:
                    time.sleep(0.0002)  # let the other site's requests in

        async def pull() -> list[int]:
            out = []
            for _ in range(n):
                out.append(await theirs.inc())
                await asyncio.sleep(0)
            return out

        assert other._gate.loop is not None
        pulling = asyncio.run_coroutine_threadsafe(pull(), other._gate.loop)
        worker = threading.Thread(target=hammer)
        worker.start()
        seen_there = pulling.result(120)
        worker.join(120)
        assert not worker.is_alive()
        assert sorted(seen_here + seen_there) == list(range(1, 2 * n + 1))
        entity = object.__getattribute__(theirs, "_netobj_m")
        assert entity.moves_in >= 2  # the state really went back and forth
    finally:
        other.close()
        home.close()


def test_the_state_does_not_leave_during_an_inline_call_in_another_thread() -> None:
    from tests.support.sites.objects import Gate

    home = netobj.Site.background()
    other = netobj.Site.background()
    try:
        ticket = home.offer(Gate())
        here = home.take(ticket).wait(10)
        there = other.take(ticket).wait(10)
        entered, release = threading.Event(), threading.Event()
        result: list[int] = []
        worker = threading.Thread(target=lambda: result.append(
            here.hold(entered, release).wait(30)))
        worker.start()
        assert entered.wait(10)  # the inline call is running, in the worker thread
        wanted = there.get()  # the other site asks for the state meanwhile
        with pytest.raises(TimeoutError):
            wanted.wait(0.5)  # it does not leave in the middle of the call
        release.set()
        assert wanted.wait(30) == 2  # it left after the call, with both increments
        worker.join(30)
        assert result == [2]
    finally:
        release.set()
        other.close()
        home.close()
