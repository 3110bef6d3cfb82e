"""netobj on 8 sites: bind-to-seen latency of a dataflow variable, and the stationary RTT.

Sites: the benchmark process runs site 0 (the *coordinator*, which owns every Var); sites
1..7 are worker processes (``python -m benchmarks.bench_dataflow serve``), each with one
``@stationary`` :class:`Worker`. Site 1 is the *binder*.

One run of ``n`` binds:

1. set-up (not timed): the coordinator makes ``n`` fresh unbound Vars and passes the list to
   every worker in one call, ``hold(vars, report_port, tag, site)``. Each worker starts a
   task per Var that does ``value = await var`` and then takes ``t_seen =
   time.monotonic_ns()`` and sends ``(tag, j, site, t_seen, value)`` to ``report_port`` (a
   Port owned by the coordinator). Receiving the Vars makes each worker register with the
   owner; the call's reply travels after the registrations on the same FIFO link, so when
   ``hold`` has returned everywhere all 8 sites hold every Var. The coordinator runs the same
   waiting task per Var for itself (site 0).
2. binds, one at a time: the coordinator calls ``binder.bind_one(tag, j)``; the binder takes
   ``t_bind = time.monotonic_ns()`` and calls ``var.bind(value)`` on its proxy of Var j (a
   request to the owner; the owner binds and sends the value to all 7 holders), and returns
   ``t_bind``. The coordinator waits until all 8 sites have reported Var j (timeout 10 s)
   before it starts the next bind.
3. latency of bind j = ``max(t_seen over the 8 sites) - t_bind``. All clocks are
   CLOCK_MONOTONIC of the one host, so the difference is exact to the clock's resolution; the
   time the reports take to reach the coordinator is *not* included.

The stationary RTT is measured between the same two sites (coordinator -> binder):
``await worker.add(i, 1)``, one at a time, on the same 8-process set-up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import netobj
import netobj.site
from benchmarks import _common
from benchmarks._common import (
    CALL_TIMEOUT_S,
    HOST,
    LoopThread,
    ServerProcess,
    check,
    exit_with_parent,
    serve_offer,
)

NAME = "netobj 8 sites"
SITES = 8  # the coordinator (this process) and SITES - 1 workers
BIND_TIMEOUT_S = 10.0
CHUNK = 50  # the latency rows alternate in blocks of this many ops (see benchmarks.__main__)


@dataclass(frozen=True)
class Run:
    """One timed run: wall time, per-op latencies, CPU of this process and of the far side."""

    elapsed_s: float
    latencies_ns: list[int]
    client_cpu_s: float
    far_cpu_s: float
    per_site_ns: list[list[int]]  # bind-to-seen: per bind, t_seen - t_bind per site


@netobj.stationary
class Worker:
    def __init__(self) -> None:
        self._vars: list[netobj.Var[Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._ack_failures = 0
        self._binds = 0

    def add(self, a: int, b: int) -> int:
        return a + b

    async def hold(
        self, variables: list[netobj.Var[Any]], report: netobj.Port, tag: int, site: int
    ) -> int:
        """Wait for each Var in a task; report ``(tag, j, site, t_seen, value)`` on ``report``."""
        for task in self._tasks:  # an earlier run's leftovers (only after a failed run)
            task.cancel()
        self._tasks.clear()
        self._vars = list(variables)
        for j, var in enumerate(self._vars):
            task = asyncio.ensure_future(_see(var, report, tag, j, site))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(self._vars)

    async def bind_one(self, tag: int, j: int) -> int:
        """Bind held Var j to ``(tag, j)``; return the CLOCK_MONOTONIC ns just before."""
        var = self._vars[j]
        t_bind = time.monotonic_ns()
        ack = var.bind((tag, j))
        self._binds += 1
        if ack is not None:
            ack.add_done_callback(self._on_ack)
        return t_bind

    def _on_ack(self, ack: netobj.Var[Any]) -> None:
        if ack.failed():
            self._ack_failures += 1

    def stats(self) -> tuple[int, int]:
        return self._binds, self._ack_failures

    def cpu(self) -> float:
        """This process's CPU seconds so far (all threads)."""
        return time.process_time()


async def _see(var: netobj.Var[Any], report: netobj.Port, tag: int, j: int, site: int) -> None:
    value = await var
    t_seen = time.monotonic_ns()
    report.send((tag, j, site, t_seen, value))


def serve() -> None:
    serve_offer(Worker, HOST)


def start_workers(count: int = SITES - 1) -> list[ServerProcess]:
    """Start the worker processes in parallel; on any failure stop them all and raise."""
    started: list[ServerProcess] = []
    errors: list[BaseException] = []
    wait_s = _common.SERVER_START_TIMEOUT_S + 10
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(_common.start_server, __name__) for _ in range(count)]
        try:
            for fut in futures:
                try:
                    started.append(fut.result(timeout=wait_s))
                except (RuntimeError, OSError, concurrent.futures.TimeoutError) as exc:
                    errors.append(exc)
        except BaseException:  # e.g. the run's deadline: stop whatever did start
            for fut in futures:
                with contextlib.suppress(BaseException):
                    fut.result(timeout=wait_s).stop()
            raise
    if errors:
        for server in started:
            server.stop()
        raise RuntimeError(f"{NAME}: {len(errors)} worker(s) failed to start: {errors[0]!r}")
    return started


class Cluster:
    """The coordinator site (in this process) and proxies for the workers' Worker objects."""

    def __init__(self, workers: Sequence[ServerProcess]) -> None:
        self.workers = list(workers)
        self._lt = LoopThread("bench-dataflow")
        self._site: netobj.Site | None = None
        self._tag = 0
        self._pending: dict[tuple[int, int], list[int]] = {}
        self._complete: dict[tuple[int, int], asyncio.Future[None]] = {}
        self._bad_reports: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        try:
            self._lt.run(self._connect([w.info[0] for w in self.workers]), CALL_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    async def _connect(self, tickets: list[str]) -> None:
        self._site = await netobj.Site(host=HOST, port=0).start()
        self._proxies: list[Any] = [await asyncio.wait_for(self._site.take(t), 30) for t in tickets]
        self._report = netobj.Port()
        self._reader = asyncio.ensure_future(self._read_reports())

    async def _read_reports(self) -> None:
        async for msg in self._report.stream:
            try:
                tag, j, site, t_seen, value = msg
            except (TypeError, ValueError):
                self._bad_reports.append(f"malformed report {msg!r}")
                continue
            self._seen((tag, j), site, t_seen, value)

    def _seen(self, key: tuple[int, int], site: int, t_seen: int, value: Any) -> None:
        if tuple(value) != key:
            self._bad_reports.append(f"site {site} saw {value!r} for {key}")
        times = self._pending.get(key)
        if times is None:
            self._bad_reports.append(f"late or unexpected report from site {site} for {key}")
            return
        times[site] = t_seen
        if all(times):
            fut = self._complete.get(key)
            if fut is not None and not fut.done():
                fut.set_result(None)

    async def _see_local(self, var: netobj.Var[Any], key: tuple[int, int]) -> None:
        value = await var
        self._seen(key, 0, time.monotonic_ns(), value)

    async def _bind_to_seen(self, n: int) -> Run:
        self._tag += 1
        tag = self._tag
        loop = asyncio.get_running_loop()
        variables: list[netobj.Var[Any]] = [netobj.Var() for _ in range(n)]
        # set-up, not timed: every worker holds every Var, and so does this site
        held = await asyncio.wait_for(
            asyncio.gather(
                *(w.hold(variables, self._report, tag, k + 1) for k, w in enumerate(self._proxies))
            ),
            CALL_TIMEOUT_S,
        )
        check(all(h == n for h in held), "dataflow hold")
        local = [
            asyncio.ensure_future(self._see_local(v, (tag, j))) for j, v in enumerate(variables)
        ]
        binder = self._proxies[0]
        lat = [0] * n
        detail: list[list[int]] = []
        far0 = await self._far_cpu(self._proxies)
        cpu0 = time.process_time()
        start = time.perf_counter()
        try:
            for j in range(n):
                key = (tag, j)
                times = self._pending[key] = [0] * SITES
                done = self._complete[key] = loop.create_future()
                t_bind = await asyncio.wait_for(binder.bind_one(tag, j), BIND_TIMEOUT_S)
                await asyncio.wait_for(done, BIND_TIMEOUT_S)
                check(min(times) >= t_bind, "dataflow: a site saw the value before the bind")
                lat[j] = max(times) - t_bind
                detail.append([t - t_bind for t in times])
                del self._pending[key], self._complete[key]
        finally:
            for task in local:
                task.cancel()
            for key in [k for k in self._pending if k[0] == tag]:
                del self._pending[key]
                self._complete.pop(key, None)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        far = await self._far_cpu(self._proxies) - far0
        check(not self._bad_reports, f"dataflow reports: {self._bad_reports[:3]}")
        return Run(elapsed, lat, cpu, far, detail)

    async def _far_cpu(self, proxies: Sequence[Any]) -> float:
        cpus = await asyncio.wait_for(asyncio.gather(*(p.cpu() for p in proxies)), CALL_TIMEOUT_S)
        return float(sum(cpus))

    async def _rtt(self, n: int) -> Run:
        worker = self._proxies[0]
        lat = [0] * n
        clock = time.perf_counter_ns
        far0 = await self._far_cpu([worker])
        cpu0 = time.process_time()
        start = clock()
        for i in range(n):
            t0 = clock()
            r = await worker.add(i, 1)
            lat[i] = clock() - t0
            check(r == i + 1, "netobj add (8 sites)")
        elapsed = (clock() - start) / 1e9
        cpu = time.process_time() - cpu0
        far = await self._far_cpu([worker]) - far0
        return Run(elapsed, lat, cpu, far, [])

    async def _ack_failures(self) -> int:
        _, failures = await asyncio.wait_for(self._proxies[0].stats(), CALL_TIMEOUT_S)
        return int(failures)

    def bind_to_seen(self, n: int) -> Run:
        """n binds, one at a time; latencies = per-bind ns from bind to seen by all sites."""
        return self._lt.run(self._bind_to_seen(n), CALL_TIMEOUT_S + n * 2 * BIND_TIMEOUT_S)

    def rtt(self, n: int) -> Run:
        """``add(i, 1)`` on the binder's stationary Worker, n times in sequence."""
        return self._lt.run(self._rtt(n), CALL_TIMEOUT_S + n * 0.01)

    def ack_failures(self) -> int:
        return self._lt.run(self._ack_failures(), CALL_TIMEOUT_S)

    def close(self) -> None:
        site = self._site
        if site is not None:
            self._site = None
            try:
                self._lt.run(site.aclose(), 10)
            except Exception as exc:
                print(f"{NAME}: closing the coordinator site failed: {exc!r}", file=sys.stderr)
        self._lt.close()


def notes() -> list[str]:
    return [
        f"bind-to-seen: {SITES} netobj sites on uvloop (this process = site 0, owner of every "
        f"Var; {SITES - 1} worker processes; site 1 binds). Per bind: latency = max over the "
        f"{SITES} sites of t_seen - t_bind, where t_bind = time.monotonic_ns() on site 1 just "
        "before var.bind(value) on its proxy Var, and t_seen = time.monotonic_ns() on each "
        "site right after its `await var` returns (one waiting task per Var per site, set up "
        "before timing; each Var passed to the workers inside a call). One bind at a time: "
        "the next starts after all 8 reports are in. Path: site 1 -> owner (bind request), "
        "owner -> 7 holders (value), i.e. two one-way hops plus a 7-way fan-out. "
        "CLOCK_MONOTONIC is shared by all processes on the host; the reports' own travel "
        "time is not counted (their CPU is).",
        "stationary RTT: `await worker.add(i, 1)` from site 0 to a @stationary object on "
        "site 1 (a def method: it runs on the object's serial lane thread), one at a time, "
        "on the same 8-process set-up, same count as binds. Pyro5 RTT (reference): the "
        "Pyro5 client's sequential add, same count, in the same rounds. ratio = row ÷ netobj "
        "stationary RTT. The three rows run in alternating blocks of "
        f"{CHUNK} ops (RTT, binds, Pyro5 RTT, RTT, ...) so that they meet the same machine "
        "noise; a round's latencies are all its blocks together. CPU µs/op = time.process_time() "
        "per bind or call of this process (all its threads; for bind-to-seen that is site 0's "
        "work plus the call to site 1 that triggers each bind) and of the far side (read in "
        "that process by a call before and after each block, outside the timed part): all 7 "
        "workers for bind-to-seen, site 1 for the netobj RTT, the Pyro5 server for Pyro5's.",
    ]


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    exit_with_parent()
    serve()
