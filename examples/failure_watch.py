"""Watching an object's fault state while its home process is stopped, resumed and killed.

    python examples/failure_watch.py serve          # offers a Counter; prints its ticket, pid
    python examples/failure_watch.py watch TICKET   # prints the Counter's fault states
    python examples/failure_watch.py --demo         # stops, resumes, then kills a home process

``serve`` offers a stationary Counter. ``watch`` takes its ticket and prints each fault state
of the proxy as ``netobj.fault_stream`` reports it - ``ok``, ``temp_fail``, ``ok`` again,
``perm_fail`` - until ``perm_fail``, which is final; try ``kill -STOP PID``, ``kill -CONT PID``
and ``kill -KILL PID`` on the pid that ``serve`` printed.

``--demo`` runs the home as a child process and is the watcher itself:

1. it calls ``incr()`` three times (1, 2, 3);
2. it stops the home (SIGSTOP) for 2 s. An ``incr()`` issued then waits, as does one issued
   after the link has turned ``temp_fail``; ``netobj.fail_fast(counter, after=0.3).value()``
   fails with ``netobj.TempFailure`` instead (it was sent, so it may still run after the
   resume: a read, which changes nothing). After SIGCONT the link is ``ok`` again and the
   two waiting calls complete, each exactly once (4 and 5: ``value()`` is then 5);
3. it kills the home (SIGKILL): the stream prints ``perm_fail`` and ends, and a call made
   afterwards fails with ``netobj.PermFailure`` at once.

Both sites use fast failure detection (heartbeats every 0.2 s): the link turns ``temp_fail``
after about half a second of silence, and ``perm_fail`` as soon as the home's address refuses
connections. The last line is ``ok: saw ok -> temp_fail -> ok -> perm_fail`` when the stream
showed exactly those states; otherwise the demo prints what it saw and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import netobj
from netobj.link import LinkConfig

#: Fast failure detection, on both sites of the demo.
LINKS = LinkConfig(heartbeat_interval_s=0.2, probe_interval_s=0.2)
EXPECTED = ["ok", "temp_fail", "ok", "perm_fail"]
STOPPED_S = 2.0  # how long the demo keeps the home stopped
TIMEOUT = 15.0  # the bound on every wait of the demo


@netobj.stationary
class Counter:
    def __init__(self) -> None:
        self.n = 0

    def incr(self) -> int:
        self.n += 1
        return self.n

    def value(self) -> int:
        return self.n


def die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this process when its parent dies. The demo stops this
    process, and a stopped process cannot notice that its stdin closed: should the demo itself
    be killed meanwhile, this still ends it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


async def serve(demo_child: bool) -> None:
    if demo_child:
        die_with_parent()
    async with netobj.Site(host="127.0.0.1", port=0, link_config=LINKS) as site:
        print(site.offer(Counter()), flush=True)
        print(f"pid {os.getpid()}", flush=True)
        # serve until stdin closes (the demo) or the process is interrupted
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


class Watcher:
    """Prints each fault state of a proxy, stamped with the seconds since ``t0``, and keeps
    the list of states seen so that the demo can wait for one."""

    def __init__(self, proxy: Any, t0: float) -> None:
        self.t0 = t0
        self.seen: list[str] = []
        self._changed = asyncio.Event()
        self._stream = netobj.fault_stream(proxy)
        self.task = asyncio.create_task(self._run())

    def say(self, text: str) -> None:
        print(f"{time.monotonic() - self.t0:6.2f}s  {text}", flush=True)

    async def _run(self) -> None:
        try:
            async for state in self._stream:
                self.seen.append(state)
                self.say(f"state: {state}" + (" (the stream ended)" if state == "perm_fail"
                                              else ""))
                self._changed.set()
        finally:
            self._changed.set()

    async def reach(self, state: str, count: int = 1) -> None:
        """Wait (at most TIMEOUT) until ``state`` has been seen ``count`` times."""
        async def wait() -> None:
            while self.seen.count(state) < count:
                if self.task.done():
                    raise RuntimeError(f"the stream ended without {state!r}")
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(wait(), TIMEOUT)
        except TimeoutError:
            raise TimeoutError(f"no {state!r} within {TIMEOUT:g} s") from None

    def close(self) -> None:
        self._stream.close()
        self.task.cancel()


async def watch(ticket: str) -> int:
    """Print the fault states of the object behind ``ticket`` until perm_fail."""
    async with netobj.Site(link_config=LINKS) as site:
        counter = await asyncio.wait_for(site.take(ticket), TIMEOUT)
        w = Watcher(counter, time.monotonic())
        w.say(f"watching {ticket} (Ctrl-C to stop)")
        try:
            await w.task
        finally:
            w.close()
    return 0


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def scenario(site: netobj.Site, ticket: str, home: asyncio.subprocess.Process) -> int:
    counter = await asyncio.wait_for(site.take(ticket), TIMEOUT)
    w = Watcher(counter, time.monotonic())
    w.say(f"watching the Counter at {ticket}")
    try:
        await w.reach("ok")
        for _ in range(3):
            w.say(f"incr() -> {await asyncio.wait_for(counter.incr(), TIMEOUT)}")

        # -- stop the home ----------------------------------------------------------------
        stopped_at = time.monotonic()
        home.send_signal(signal.SIGSTOP)
        w.say(f"SIGSTOP the home (pid {home.pid}) for {STOPPED_S:.0f} s")
        waiting = [counter.incr()]
        w.say("incr() issued: it waits")
        quick = netobj.fail_fast(counter, after=0.3).value()  # a read: harmless if it runs
        w.say("fail_fast(counter, after=0.3).value() issued")
        await w.reach("temp_fail")
        waiting.append(counter.incr())
        w.say("incr() issued while temp_fail: it waits too")
        try:
            got = await asyncio.wait_for(quick, TIMEOUT)
        except netobj.TempFailure as exc:
            w.say(f"the fail_fast call failed: {describe(exc)}")
        else:
            w.say(f"the fail_fast call returned {got!r} instead of failing")
            return 1
        await asyncio.sleep(max(0.0, stopped_at + STOPPED_S - time.monotonic()))
        if any(v.done() for v in waiting):
            w.say("a call completed while the home was stopped")
            return 1

        # -- resume it ----------------------------------------------------------------------
        home.send_signal(signal.SIGCONT)
        w.say("SIGCONT the home")
        await w.reach("ok", 2)
        results = [await asyncio.wait_for(v, TIMEOUT) for v in waiting]
        w.say(f"the waiting incr() calls returned {', '.join(map(str, results))}")
        value = await asyncio.wait_for(counter.value(), TIMEOUT)
        w.say(f"value() -> {value}")
        if results != [4, 5] or value != 5:
            w.say("expected 4, 5 and then value() 5: each waiting call exactly once")
            return 1

        # -- kill it ------------------------------------------------------------------------
        home.send_signal(signal.SIGKILL)
        w.say("SIGKILL the home")
        await w.reach("perm_fail")
        await asyncio.wait_for(w.task, TIMEOUT)
        t = time.monotonic()
        try:
            got = await asyncio.wait_for(counter.incr(), TIMEOUT)
        except netobj.PermFailure as exc:
            w.say(f"incr() failed after {(time.monotonic() - t) * 1000:.1f} ms: "
                  f"{describe(exc)}")
        else:
            w.say(f"incr() returned {got!r} after the kill")
            return 1
    except (TimeoutError, RuntimeError, netobj.NetobjError) as exc:
        w.say(f"gave up: {describe(exc)}")
        return 1
    finally:
        w.close()
        if w.seen != EXPECTED:
            print(f"FAILED: saw {' -> '.join(w.seen) or 'nothing'}, "
                  f"expected {' -> '.join(EXPECTED)}")
    if w.seen != EXPECTED:
        return 1
    print(f"ok: saw {' -> '.join(w.seen)}")
    return 0


async def demo() -> int:
    """Start the home process, watch its Counter while stopping, resuming and killing it."""
    home = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "serve", "--demo-child",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    assert home.stdin is not None and home.stdout is not None
    try:
        try:
            ticket = (await asyncio.wait_for(home.stdout.readline(), 30)).decode().strip()
            pid_line = (await asyncio.wait_for(home.stdout.readline(), TIMEOUT)).decode()
        except TimeoutError:
            ticket = pid_line = ""
        if not ticket or pid_line.split() != ["pid", str(home.pid)]:
            print("the home process did not start", file=sys.stderr)
            return 1
        print(f"home site (pid {home.pid}) offers a Counter: {ticket}")
        async with netobj.Site(link_config=LINKS) as site:
            return await scenario(site, ticket, home)
    finally:
        if home.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it may have just exited
                home.send_signal(signal.SIGCONT)  # in case it is still stopped
            home.stdin.close()
            try:
                await asyncio.wait_for(home.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    home.kill()
                await home.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true",
                        help="stop, resume and kill a home process while watching its Counter")
    sub = parser.add_subparsers(dest="cmd")
    s = sub.add_parser("serve", help="offer a Counter; print its ticket and this pid")
    s.add_argument("--demo-child", action="store_true", help=argparse.SUPPRESS)
    w = sub.add_parser("watch", help="print the Counter's fault states until perm_fail")
    w.add_argument("ticket")
    args = parser.parse_args()
    if args.demo:
        return asyncio.run(demo())
    if args.cmd == "serve":
        asyncio.run(serve(args.demo_child))
        return 0
    if args.cmd == "watch":
        return asyncio.run(watch(args.ticket))
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
