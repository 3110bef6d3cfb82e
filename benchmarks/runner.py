"""Running the benchmarks: start every server process, connect every client, run the
workloads interleaved over rounds, stop everything (also on a deadline or SIGTERM)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType, ModuleType
from typing import Any

from benchmarks import bench_dataflow, bench_netobj, bench_protocols, bench_pyro
from benchmarks._common import ECHO_SIZE, ServerProcess
from benchmarks.report import _fmt
from benchmarks.samples import (
    ASYNC_SEQUENTIAL,
    BIND_ROW,
    ECHO,
    FIRST_CALL,
    LATENCY,
    LOCAL,
    MESSAGES,
    PIPELINED,
    PROTO_WORKLOADS,
    PYRO_RTT_ROW,
    RTT_ROW,
    SEQUENTIAL,
    WORKLOADS,
    Sample,
    Sizes,
    local_key,
    supports,
)


class Deadline(Exception):
    """The whole run took longer than --deadline seconds."""


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_workload(
    client: Any, server: ServerProcess, workload: str, n: int, payload: bytes
) -> Sample:
    """One measured run, with the CPU time both processes spent on it. ``client`` is a
    :class:`benchmarks._common.Client`, or a floor's client with only the faces its module's
    WORKLOADS name (and netobj's ``sequential_async``)."""
    client_cpu0, server_cpu0 = time.process_time(), server.cpu_seconds()
    lat: list[int] = []
    if workload == SEQUENTIAL:
        elapsed, lat = client.sequential(n)
    elif workload == ASYNC_SEQUENTIAL:
        elapsed, lat = client.sequential_async(n)
    elif workload == PIPELINED:
        elapsed = client.pipelined(n)
    elif workload == MESSAGES:
        elapsed = client.messages(n)
    else:
        elapsed, lat = client.echo(n, payload)
    client_cpu = time.process_time() - client_cpu0
    server_cpu1 = server.cpu_seconds()
    server_cpu = None if server_cpu0 is None or server_cpu1 is None else server_cpu1 - server_cpu0
    return Sample(n, elapsed, tuple(lat), client_cpu, server_cpu)


def run_latency(
    cluster: bench_dataflow.Cluster, pyro: Any | None, n: int
) -> list[tuple[str, Sample]]:
    """One round of the latency rows: netobj RTT, netobj bind-to-seen and (if ``pyro``, a
    Pyro5 client) Pyro5's RTT, alternating in blocks of ``bench_dataflow.CHUNK`` ops."""
    rows = [RTT_ROW, BIND_ROW] + ([PYRO_RTT_ROW] if pyro is not None else [])
    acc: dict[str, list[bench_dataflow.Run]] = {row: [] for row in rows}
    done = 0
    while done < n:
        k = min(bench_dataflow.CHUNK, n - done)
        acc[RTT_ROW].append(cluster.rtt(k))
        acc[BIND_ROW].append(cluster.bind_to_seen(k))
        if pyro is not None:
            far0, cpu0 = pyro.server_cpu(), time.process_time()
            elapsed, lat = pyro.sequential(k)
            cpu = time.process_time() - cpu0
            acc[PYRO_RTT_ROW].append(
                bench_dataflow.Run(elapsed, lat, cpu, pyro.server_cpu() - far0, [])
            )
        done += k
    out: list[tuple[str, Sample]] = []
    for row in rows:
        runs = acc[row]
        out.append(
            (
                row,
                Sample(
                    n,
                    sum(r.elapsed_s for r in runs),
                    tuple(x for r in runs for x in r.latencies_ns),
                    sum(r.client_cpu_s for r in runs),
                    sum(r.far_cpu_s for r in runs),
                    tuple(tuple(d) for r in runs for d in r.per_site_ns),
                ),
            )
        )
    return out


def run_protocols(
    client: bench_protocols.ProtocolClient,
    server: ServerProcess,
    local: bench_protocols.LocalBench,
    sizes: Sizes,
    label: str,
) -> list[tuple[tuple[str, str], Sample]]:
    """One round of the protocol tables: a fresh Coder per protocol on the server, its first
    peek(), n sequential peek() and get() calls each (workload outer, protocol inner), then
    ``local_runs`` runs of every local variant, interleaved."""
    out: list[tuple[tuple[str, str], Sample]] = []
    client.fresh()
    for protocol in bench_protocols.PROTOCOLS:
        out.append(((FIRST_CALL, protocol), Sample(1, client.first(protocol))))
    for method in bench_protocols.METHODS:
        n = sizes.protocol_calls
        for protocol in bench_protocols.PROTOCOLS:
            client_cpu0, server_cpu0 = time.process_time(), server.cpu_seconds()
            elapsed = client.run(protocol, method, n)
            client_cpu = time.process_time() - client_cpu0
            server_cpu1 = server.cpu_seconds()
            server_cpu = (
                None if server_cpu0 is None or server_cpu1 is None else server_cpu1 - server_cpu0
            )
            sample = Sample(n, elapsed, (), client_cpu, server_cpu)
            out.append(((PROTO_WORKLOADS[method], protocol), sample))
            _log(
                f"{label} {PROTO_WORKLOADS[method]:<16} {protocol:<10}"
                f"{sample.elapsed_s / n * 1e6:>12,.2f} µs/call"
            )
    for _ in range(sizes.local_runs):
        for variant in bench_protocols.LOCAL_VARIANTS:
            n = sizes.local_calls
            cpu0 = time.process_time()
            elapsed = local.run(variant, n)
            out.append(
                ((LOCAL, local_key(variant)), Sample(n, elapsed, (), time.process_time() - cpu0))
            )
    for variant in bench_protocols.LOCAL_VARIANTS:
        runs = [s for (w, k), s in out if w == LOCAL and k == local_key(variant)]
        best = min(s.elapsed_s / s.calls for s in runs)
        _log(f"{label} {LOCAL} {local_key(variant):<50}{best * 1e9:>9,.0f} ns/call (best)")
    return out


def run_all(
    systems: Sequence[ModuleType], sizes: Sizes, budget_s: float, protocols: bool = True
) -> tuple[dict[tuple[str, str], list[Sample]], list[str], list[str]]:
    """Start every server, connect every client, run the interleaved rounds, tear down.

    ``protocols``: also run the protocol tables (benchmarks.bench_protocols).
    Returns (samples, notes, problems). Rounds after the first start only if the longest
    round so far still fits in ``budget_s`` (counted from the end of the warm-up).
    """
    payload = os.urandom(ECHO_SIZE)
    servers: dict[str, ServerProcess] = {}
    clients: dict[str, Any] = {}
    workers: list[ServerProcess] = []
    cluster: bench_dataflow.Cluster | None = None
    proto_server: ServerProcess | None = None
    proto_client: bench_protocols.ProtocolClient | None = None
    local: bench_protocols.LocalBench | None = None
    samples: dict[tuple[str, str], list[Sample]] = {}
    notes: list[str] = []
    problems: list[str] = []
    try:
        for system in systems:
            t0 = time.perf_counter()
            servers[system.NAME] = system.start_server()
            clients[system.NAME] = system.connect(servers[system.NAME])
            _log(f"{system.NAME}: server up, client connected ({time.perf_counter() - t0:.1f}s)")
        if bench_netobj in systems:
            t0 = time.perf_counter()
            workers = bench_dataflow.start_workers()
            cluster = bench_dataflow.Cluster(workers)
            _log(
                f"{bench_dataflow.NAME}: {len(workers)} workers up, coordinator connected "
                f"({time.perf_counter() - t0:.1f}s)"
            )
        if protocols:
            t0 = time.perf_counter()
            proto_server = bench_protocols.start_server()
            proto_client = bench_protocols.connect(proto_server)
            local = bench_protocols.LocalBench()
            _log(
                f"{bench_protocols.NAME}: server up, client connected, local sites up "
                f"({time.perf_counter() - t0:.1f}s)"
            )
        pyro = clients.get(bench_pyro.NAME)
        for system in systems:  # warm-up, not measured
            client = clients[system.NAME]
            for workload, n in (
                (SEQUENTIAL, sizes.warmup),
                (ASYNC_SEQUENTIAL, sizes.warmup),
                (PIPELINED, sizes.warmup),
                (ECHO, max(1, sizes.warmup // 10)),
                (MESSAGES, sizes.warmup * 4),
            ):
                if supports(system, workload):
                    run_workload(client, servers[system.NAME], workload, n, payload)
        if cluster is not None:
            cluster.rtt(sizes.warmup)
            cluster.bind_to_seen(min(sizes.binds, 20))
        if proto_client is not None and local is not None:
            proto_client.fresh()
            for protocol in bench_protocols.PROTOCOLS:
                proto_client.first(protocol)
            for method in bench_protocols.METHODS:
                for protocol in bench_protocols.PROTOCOLS:
                    proto_client.run(protocol, method, min(sizes.warmup, sizes.protocol_calls))
            for variant in bench_protocols.LOCAL_VARIANTS:
                local.run(variant, sizes.local_calls // 4)
        _log("warm-up done")
        started = time.perf_counter()
        longest_round = 0.0
        for rnd in range(1, sizes.rounds + 1):
            spent = time.perf_counter() - started
            if rnd > 1 and spent + longest_round > budget_s:
                notes.append(
                    f"time budget: stopped after {rnd - 1} of {sizes.rounds} rounds "
                    f"({spent:.0f}s spent, a round takes ~{longest_round:.0f}s, "
                    f"budget {budget_s:.0f}s)"
                )
                break
            round_start = time.perf_counter()
            for workload in (*WORKLOADS, MESSAGES):
                n = sizes.messages if workload == MESSAGES else sizes.calls(workload)
                unit = "msgs/s" if workload == MESSAGES else "calls/s"
                for system in (s for s in systems if supports(s, workload)):
                    name = system.NAME
                    sample = run_workload(clients[name], servers[name], workload, n, payload)
                    samples.setdefault((workload, system.NAME), []).append(sample)
                    _log(
                        f"round {rnd}/{sizes.rounds} {workload:<20} {system.NAME:<23}"
                        f"{sample.calls_per_s:>12,.0f} {unit}"
                    )
            if cluster is not None:
                for row, sample in run_latency(cluster, pyro, sizes.binds):
                    samples.setdefault((LATENCY, row), []).append(sample)
                    _log(
                        f"round {rnd}/{sizes.rounds} {row:<32} p50 "
                        f"{_fmt(sample.percentile_us(0.50), ',.1f')} µs, p99 "
                        f"{_fmt(sample.percentile_us(0.99), ',.1f')} µs"
                    )
            if proto_client is not None and proto_server is not None and local is not None:
                label = f"round {rnd}/{sizes.rounds}"
                for key, sample in run_protocols(proto_client, proto_server, local, sizes, label):
                    samples.setdefault(key, []).append(sample)
            longest_round = max(longest_round, time.perf_counter() - round_start)
        if cluster is not None:
            failures = cluster.ack_failures()
            if failures:
                problems.append(f"{bench_dataflow.NAME}: {failures} bind acks failed")
    finally:
        for name, client in clients.items():
            try:
                client.close()
            except Exception as exc:
                problems.append(f"{name}: client close failed: {exc!r}")
        if cluster is not None:
            try:
                cluster.close()
            except Exception as exc:
                problems.append(f"{bench_dataflow.NAME}: coordinator close failed: {exc!r}")
        for name, closer in (
            (bench_protocols.NAME, proto_client),
            (f"{bench_protocols.NAME} (local)", local),
        ):
            if closer is not None:
                try:
                    closer.close()
                except Exception as exc:
                    problems.append(f"{name}: client close failed: {exc!r}")
        if proto_server is not None:
            servers[bench_protocols.NAME] = proto_server
        for name, server in [*servers.items(), *((f"worker {w.popen.pid}", w) for w in workers)]:
            code = server.popen.poll()
            if code is not None:
                problems.append(
                    f"{name}: server exited early with code {code}: {server.stderr_tail()}"
                )
            server.stop()
    return samples, notes, problems

def install_signal_handlers(deadline_s: float) -> Callable[[], None]:
    """SIGTERM unwinds (so servers get stopped); SIGALRM enforces the overall deadline."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise Deadline(f"the run exceeded its {deadline_s:.0f}s deadline")

    previous: list[tuple[int, Any]] = []
    previous.append((signal.SIGTERM, signal.signal(signal.SIGTERM, on_term)))
    if hasattr(signal, "SIGALRM"):
        previous.append((signal.SIGALRM, signal.signal(signal.SIGALRM, on_alarm)))
        signal.setitimer(signal.ITIMER_REAL, deadline_s)

    def restore() -> None:
        if hasattr(signal, "SIGALRM"):
            signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in previous:
            signal.signal(signum, handler)

    return restore
