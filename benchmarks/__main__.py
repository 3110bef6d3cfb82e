"""``python -m benchmarks [--quick]``: netobj vs Pyro5, RPyC and raw grpc.aio, interleaved.

Every server runs in its own OS process (127.0.0.1, ephemeral port); every client runs in
this process. All servers are started and all clients connected first; then each round runs
each workload once per system, in turn (netobj, Pyro5, RPyC, grpc.aio, netobj, ...), so
that machine noise falls on all of them alike. Per (workload, system) the table shows the
best round by calls/s (with that round's latency percentiles and CPU) and the median round.
Best, not median, because noise on a shared machine only ever slows a round down.

Workloads: sequential add, pipelined add, 64 KiB echo (one table); one-way messages (netobj
Port sends vs Pyro5 @oneway, RPyC async_ and a grpc.aio client stream; a second table); and,
for netobj only, bind-to-seen latency of a dataflow variable held by 8 sites against one
stationary round trip (a third table; see ``benchmarks.bench_dataflow``); and, netobj only,
the four object protocols (stationary, active, cached, replicated) on one Coder across two
processes, and local calls on a cached object against a plain method call (two more
tables; see ``benchmarks.bench_protocols``; ``--systems protocols`` runs only those).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from benchmarks import (
    bench_dataflow,
    bench_grpc,
    bench_netobj,
    bench_netobj_tcp,
    bench_protocols,
    bench_pyro,
    bench_rpyc,
)
from benchmarks._common import ECHO_SIZE, REPO_ROOT, Client, ServerProcess

SYSTEMS: tuple[ModuleType, ...] = (
    bench_netobj, bench_netobj_tcp, bench_pyro, bench_rpyc, bench_grpc)
WORKLOADS: tuple[str, ...] = ("sequential", "pipelined", "echo 64 KiB")
MESSAGES = "one-way messages"
LATENCY = "bind-to-seen"
BIND_ROW = f"netobj bind-to-seen ({bench_dataflow.SITES} sites)"
RTT_ROW = "netobj stationary RTT"
PYRO_RTT_ROW = "Pyro5 RTT (reference)"
ONEWAY_HOW = {
    bench_netobj.NAME: "port.send(i) on a proxy Port",
    bench_netobj_tcp.NAME: "port.send(i) on a proxy Port, TCP carrier",
    bench_pyro.NAME: "@oneway method call",
    bench_rpyc.NAME: "rpyc.async_ call, result ignored",
    bench_grpc.NAME: "client-streaming call, one write per message",
}
#: The protocol tables (benchmarks.bench_protocols): workload names, keyed in ``samples``
#: as (workload, protocol) and (LOCAL, object + " | " + loop body).
PROTOCOLS_OPTION = "protocols"
FIRST_CALL = "first peek(), fresh object"
PROTO_WORKLOADS = {method: f"sequential {method}()" for method in bench_protocols.METHODS}
LOCAL = "local call"
TIMES = "\u00d7"  # the multiplication sign, spelt so for ruff's RUF001
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Sizes:
    sequential: int
    pipelined: int
    echo: int
    rounds: int
    warmup: int
    messages: int
    binds: int
    protocol_calls: int  # sequential get() and peek() calls per protocol per round
    local_calls: int  # calls per timed local run
    local_runs: int  # timed local runs per variant per round

    def calls(self, workload: str) -> int:
        return {"sequential": self.sequential, "pipelined": self.pipelined}.get(workload, self.echo)


FULL = Sizes(
    sequential=20_000,
    pipelined=20_000,
    echo=1_000,
    rounds=3,
    warmup=500,
    messages=50_000,
    binds=200,
    protocol_calls=3_000,
    local_calls=200_000,
    local_runs=5,
)
QUICK = Sizes(
    sequential=2_000,
    pipelined=2_000,
    echo=200,
    rounds=1,
    warmup=100,
    messages=5_000,
    binds=30,
    protocol_calls=300,
    local_calls=20_000,
    local_runs=2,
)


@dataclass(frozen=True)
class Sample:
    calls: int
    elapsed_s: float
    latencies_ns: tuple[int, ...] = ()
    client_cpu_s: float | None = None
    server_cpu_s: float | None = None
    # bind-to-seen only: per bind, t_seen - t_bind of each site (index = site), ns
    per_site_ns: tuple[tuple[int, ...], ...] = ()

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.elapsed_s if self.elapsed_s > 0 else float("inf")

    def percentile_us(self, q: float) -> float | None:
        if not self.latencies_ns:
            return None
        ordered = sorted(self.latencies_ns)
        index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
        return ordered[index] / 1000.0

    def cpu_us_per_call(self, which: str) -> float | None:
        cpu = self.client_cpu_s if which == "client" else self.server_cpu_s
        return None if cpu is None else cpu / self.calls * 1e6


class Deadline(Exception):
    """The whole run took longer than --deadline seconds."""


# -- machine and environment ----------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return ""


def _git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "netobj"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + (" (netobj/ has uncommitted changes)" if dirty else "")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def machine_lines() -> list[str]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    uname = platform.uname()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}",
        f"- machine: {uname.machine} ({platform.processor() or 'processor n/a'}); "
        f"CPU: {_cpu_model() or 'unknown'}",
        f"- nproc: {usable} usable of {os.cpu_count()}; "
        f"OS: {uname.system} {uname.release}; load average at start: {load}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}); "
        f"grpcio {_version('grpcio')}, Pyro5 {_version('Pyro5')}, rpyc {_version('rpyc')}, "
        f"uvloop {_version('uvloop')}, cbor2 {_version('cbor2')}",
        f"- netobj {_version('netobj')} at git {_git_revision()}",
    ]


# -- running --------------------------------------------------------------------------------


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_workload(
    client: Client, server: ServerProcess, workload: str, n: int, payload: bytes
) -> Sample:
    """One measured run, with the CPU time both processes spent on it."""
    client_cpu0, server_cpu0 = time.process_time(), server.cpu_seconds()
    lat: list[int] = []
    if workload == "sequential":
        elapsed, lat = client.sequential(n)
    elif workload == "pipelined":
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


def local_key(variant: tuple[str, str]) -> str:
    return " | ".join(variant)


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
    clients: dict[str, Client] = {}
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
            client.sequential(sizes.warmup)
            client.pipelined(sizes.warmup)
            client.echo(max(1, sizes.warmup // 10), payload)
            client.messages(sizes.warmup * 4)
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
                for system in systems:
                    name = system.NAME
                    sample = run_workload(clients[name], servers[name], workload, n, payload)
                    samples.setdefault((workload, system.NAME), []).append(sample)
                    _log(
                        f"round {rnd}/{sizes.rounds} {workload:<16} {system.NAME:<9}"
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


# -- reporting ------------------------------------------------------------------------------


def _fmt(x: float | None, spec: str = ",.0f") -> str:
    return "-" if x is None else format(x, spec)


def best_sample(runs: list[Sample]) -> Sample:
    """The round with the most calls/s."""
    return max(runs, key=lambda s: s.calls_per_s)


def report(
    systems: Sequence[ModuleType],
    samples: dict[tuple[str, str], list[Sample]],
    sizes: Sizes,
    run_notes: Sequence[str],
    elapsed_s: float,
) -> str:
    """Everything after the title and machine lines: method, table, notes, the summary line."""
    names = [s.NAME for s in systems]
    rounds = min((len(runs) for runs in samples.values()), default=0)
    lines: list[str] = []
    bests: dict[tuple[str, str], Sample] = {key: best_sample(runs) for key, runs in samples.items()}
    if names:
        lines.append(
            f"Counts: sequential {sizes.sequential:,}, pipelined {sizes.pipelined:,}, "
            f"echo {sizes.echo:,} {TIMES} {ECHO_SIZE:,} B; {rounds} interleaved round(s) "
            f"(order per workload: {', '.join(names)}); warm-up {sizes.warmup} calls per system. "
            f"One-way messages {sizes.messages:,} per run (warm-up {sizes.warmup * 4:,}); "
            f"bind-to-seen {sizes.binds:,} binds and {sizes.binds:,} RTT calls per run "
            f"(warm-up {min(sizes.binds, 20)} binds, {sizes.warmup} calls)."
        )
        lines.append(
            "Shown: the **best round** by calls/s (p50/p99 and CPU from that same round) and the "
            "median of the rounds' calls/s. "
            "MB/s = echoed payload per second (one direction, 10^6 B). "
            "CPU µs/call = user+system CPU time of the client process (all threads) and of the "
            "server process, divided by the calls (10 ms /proc resolution for the server). "
            "netobj/X = netobj best calls/s ÷ X best calls/s (> 1: netobj faster)."
        )
        lines.append("")
        lines.append(
            "| workload | system | calls/s (best) | calls/s (median) | p50 µs | p99 µs | MB/s "
            "| client CPU µs/call | server CPU µs/call | netobj/X |"
        )
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for workload in WORKLOADS:
            base = bests.get((workload, bench_netobj.NAME))
            for name in names:
                runs = samples.get((workload, name))
                if not runs:
                    continue
                best = bests[(workload, name)]
                median = statistics.median(s.calls_per_s for s in runs)
                mbps = best.calls_per_s * ECHO_SIZE / 1e6 if workload.startswith("echo") else None
                ratio = base.calls_per_s / best.calls_per_s if base is not None else None
                lines.append(
                    f"| {workload} | {name} | {_fmt(best.calls_per_s)} | {_fmt(median)} "
                    f"| {_fmt(best.percentile_us(0.50), ',.1f')} "
                    f"| {_fmt(best.percentile_us(0.99), ',.1f')} | {_fmt(mbps, ',.1f')} "
                    f"| {_fmt(best.cpu_us_per_call('client'), ',.1f')} "
                    f"| {_fmt(best.cpu_us_per_call('server'), ',.1f')} "
                    f"| {'-' if ratio is None else f'{ratio:.2f}{TIMES}'} |"
                )
    lines.extend(_messages_table(names, samples))
    latency_lines, latency_notes, latency_summary = _latency_table(samples)
    lines.extend(latency_lines)
    proto_lines, proto_summary = _protocols_tables(samples, sizes)
    lines.extend(proto_lines)
    lines.append("")
    lines.append("Notes:")
    for system in systems:
        lines.extend(f"- {note}" for note in system.notes())
    if latency_lines:
        lines.extend(f"- {note}" for note in bench_dataflow.notes())
    if proto_lines:
        lines.extend(f"- {note}" for note in bench_protocols.notes())
    lines.extend(f"- {note}" for note in latency_notes)
    lines.extend(f"- {note}" for note in run_notes)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    lines.append(f"- total run time {elapsed_s:.1f}s; load average at end: {load}")
    lines.append("")
    net = bests.get(("pipelined", bench_netobj.NAME))
    pyro = bests.get(("pipelined", bench_pyro.NAME))
    if net is not None and pyro is not None:
        ratio = net.calls_per_s / pyro.calls_per_s
        lines.append(f"pipelined: netobj / Pyro5 BatchProxy = {ratio:.2f}{TIMES} (best rounds)")
    net = bests.get((MESSAGES, bench_netobj.NAME))
    pyro = bests.get((MESSAGES, bench_pyro.NAME))
    if net is not None and pyro is not None:
        ratio = net.calls_per_s / pyro.calls_per_s
        lines.append(
            f"one-way messages: netobj Port / Pyro5 @oneway = {ratio:.2f}{TIMES} (best rounds; "
            f"{net.calls_per_s:,.0f} vs {pyro.calls_per_s:,.0f} msgs/s)"
        )
    lines.extend(latency_summary)
    lines.extend(proto_summary)
    return "\n".join(lines) + "\n"


def _protocols_tables(
    samples: dict[tuple[str, str], list[Sample]], sizes: Sizes
) -> tuple[list[str], list[str]]:
    """(table lines, summary lines) for the protocol tables; empty if they were not run."""
    protocols = bench_protocols.PROTOCOLS
    if not any((FIRST_CALL, p) in samples for p in protocols):
        return [], []
    rounds = min(len(samples[(FIRST_CALL, p)]) for p in protocols)
    div = chr(0xF7)
    lines = [
        "",
        f"netobj object protocols: one Coder class offered as each protocol by a server "
        f"process, called sequentially from this process (gRPC carrier); a fresh object per "
        f"protocol per round; {sizes.protocol_calls:,} peek() then {sizes.protocol_calls:,} "
        f"get() calls per protocol per round, {rounds} round(s), interleaved (workload outer, "
        f"protocol inner). Best round by calls/s (its CPU), median of rounds beside it; the "
        f"first peek() on a fresh object is one call per round. ratio = stationary µs/call "
        f"{div} row µs/call (> 1: faster than stationary; best rounds).",
        "",
        "| workload | protocol | µs/call (best) | µs/call (median) | calls/s (best) "
        "| vs stationary | client CPU µs/call | server CPU µs/call |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    summary: list[str] = []
    for workload in (*PROTO_WORKLOADS.values(), FIRST_CALL):
        base_runs = samples.get((workload, "stationary"))
        base = best_sample(base_runs) if base_runs else None
        parts: list[str] = []
        for protocol in protocols:
            runs = samples.get((workload, protocol))
            if not runs:
                continue
            best = best_sample(runs)
            us = best.elapsed_s / best.calls * 1e6
            median = statistics.median(r.elapsed_s / r.calls * 1e6 for r in runs)
            ratio = best.calls_per_s / base.calls_per_s if base is not None else None
            one = workload == FIRST_CALL
            lines.append(
                f"| {workload} | {protocol} | {us:,.2f} | {median:,.2f} "
                f"| {'-' if one else _fmt(best.calls_per_s)} "
                f"| {'-' if ratio is None else f'{ratio:,.2f}{TIMES}'} "
                f"| {'-' if one else _fmt(best.cpu_us_per_call('client'), ',.2f')} "
                f"| {'-' if one else _fmt(best.cpu_us_per_call('server'), ',.1f')} |"
            )
            if ratio is not None and protocol != "stationary":
                parts.append(f"{protocol} {ratio:,.2f}{TIMES}")
        if parts:
            summary.append(
                f"protocols, {workload}: speed vs stationary (best rounds): {', '.join(parts)}"
            )
    local_rows = [
        (variant, samples[(LOCAL, local_key(variant))])
        for variant in bench_protocols.LOCAL_VARIANTS
        if (LOCAL, local_key(variant)) in samples
    ]
    if not local_rows:
        return lines, summary
    runs_per = min(len(runs) for _, runs in local_rows)
    lines += [
        "",
        f"Local calls, this process: a cached Coder whose state is on the calling site, "
        f"against the same class undecorated; {sizes.local_calls:,} calls per run, "
        f"{runs_per} runs per row ({sizes.local_runs} per round, variants interleaved). "
        f"ns/call best and median of the runs; vs plain = plain ns/call {div} row ns/call "
        f"(speed relative to a plain call; best {div} best, and median {div} median).",
        "",
        "| object | loop body | ns/call (best) | ns/call (median) | calls/s (best) "
        "| vs plain (best) | vs plain (median) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]

    def ns(sample: Sample) -> float:
        return sample.elapsed_s / sample.calls * 1e9

    plain_runs = samples.get((LOCAL, local_key(bench_protocols.LOCAL_VARIANTS[0])), [])
    plain_best = min((ns(r) for r in plain_runs), default=None)
    plain_median = statistics.median(ns(r) for r in plain_runs) if plain_runs else None
    for (obj, how), runs in local_rows:
        best_ns = min(ns(r) for r in runs)
        median_ns = statistics.median(ns(r) for r in runs)
        vs_best = None if plain_best is None else plain_best / best_ns
        vs_median = None if plain_median is None else plain_median / median_ns
        lines.append(
            f"| {obj} | `{how}` | {best_ns:,.0f} | {median_ns:,.0f} | {1e9 / best_ns:,.0f} "
            f"| {_fmt(vs_best, '.3f')} | {_fmt(vs_median, '.3f')} |"
        )
        if obj != bench_protocols.PLAIN and vs_best is not None and vs_median is not None:
            summary.append(
                f"local call, {obj}, `{how}`: {best_ns:,.0f} ns/call against {plain_best:,.0f} "
                f"for a plain call = {vs_best:.3f} (best runs), {vs_median:.3f} (medians) "
                f"the speed of a plain call"
            )
    return lines, summary


def _messages_table(
    names: Sequence[str], samples: dict[tuple[str, str], list[Sample]]
) -> list[str]:
    rows = [(name, samples[(MESSAGES, name)]) for name in names if (MESSAGES, name) in samples]
    if not rows:
        return []
    base_runs = samples.get((MESSAGES, bench_netobj.NAME))
    base = best_sample(base_runs) if base_runs else None
    lines = [
        "",
        f"One-way messages: n messages from this process to the server process, timed until "
        f"the server has received all n (its answer to a final call included). Best round by "
        f"msgs/s; netobj/X = netobj best msgs/s {chr(0xF7)} X best msgs/s.",
        "",
        "| workload | system | how | msgs/s (best) | msgs/s (median) | client CPU µs/msg "
        "| server CPU µs/msg | netobj/X |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, runs in rows:
        best = best_sample(runs)
        median = statistics.median(r.calls_per_s for r in runs)
        ratio = base.calls_per_s / best.calls_per_s if base is not None else None
        lines.append(
            f"| {MESSAGES} | {name} | {ONEWAY_HOW.get(name, '')} | {_fmt(best.calls_per_s)} "
            f"| {_fmt(median)} | {_fmt(best.cpu_us_per_call('client'), ',.1f')} "
            f"| {_fmt(best.cpu_us_per_call('server'), ',.1f')} "
            f"| {'-' if ratio is None else f'{ratio:.2f}{TIMES}'} |"
        )
    return lines


def _best_latency(runs: list[Sample]) -> Sample:
    """The round with the lowest p50."""
    return min(runs, key=lambda s: s.percentile_us(0.50) or float("inf"))


def _latency_table(
    samples: dict[tuple[str, str], list[Sample]],
) -> tuple[list[str], list[str], list[str]]:
    """(table lines, notes, summary lines) for the bind-to-seen block; empty if not run."""
    order = (BIND_ROW, RTT_ROW, PYRO_RTT_ROW)
    rows = [(row, samples[(LATENCY, row)]) for row in order if (LATENCY, row) in samples]
    if not rows:
        return [], [], []
    bests = {row: _best_latency(runs) for row, runs in rows}
    rtt = bests.get(RTT_ROW)
    div = chr(0xF7)
    lines = [
        "",
        f"Bind-to-seen latency on {bench_dataflow.SITES} netobj sites, against one stationary "
        "round trip (see the notes for the exact measurement). Best round by p50 (p99 and "
        f"CPU from that same round); ratio = row {div} netobj stationary RTT.",
        "",
        "| workload | measure | ops per round | p50 µs (best) | p99 µs | p50 µs (median of "
        f"rounds) | p50 {div} RTT p50 | p99 {div} RTT p99 | p50 {div} RTT p50, same round "
        "(median of rounds) | client CPU µs/op | far side CPU µs/op |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rtt_runs = samples.get((LATENCY, RTT_ROW), [])

    def per_round(runs: list[Sample]) -> list[float]:
        """p50 ÷ RTT p50 of the same round, for each round."""
        out = []
        for a, b in zip(runs, rtt_runs, strict=False):
            pa, pb = a.percentile_us(0.50), b.percentile_us(0.50)
            if pa is not None and pb:
                out.append(pa / pb)
        return out

    def ratio(sample: Sample, q: float) -> str:
        if rtt is None:
            return "-"
        a, b = sample.percentile_us(q), rtt.percentile_us(q)
        return "-" if a is None or not b else f"{a / b:.2f}{TIMES}"

    for row, runs in rows:
        best = bests[row]
        median = statistics.median(r.percentile_us(0.50) or 0.0 for r in runs)
        ratios = per_round(runs)
        same_round = f"{statistics.median(ratios):.2f}{TIMES}" if ratios else "-"
        lines.append(
            f"| {LATENCY} | {row} | {best.calls:,} | {_fmt(best.percentile_us(0.50), ',.1f')} "
            f"| {_fmt(best.percentile_us(0.99), ',.1f')} | {_fmt(median, ',.1f')} "
            f"| {ratio(best, 0.50)} | {ratio(best, 0.99)} "
            f"| {same_round} "
            f"| {_fmt(best.cpu_us_per_call('client'), ',.1f')} "
            f"| {_fmt(best.cpu_us_per_call('server'), ',.1f')} |"
        )
    notes: list[str] = []
    summary: list[str] = []
    bind = bests.get(BIND_ROW)
    if bind is not None and bind.per_site_ns:
        sites = len(bind.per_site_ns[0])
        p50 = [statistics.median(d[k] for d in bind.per_site_ns) / 1000.0 for k in range(sites)]
        first = statistics.median(min(d) for d in bind.per_site_ns) / 1000.0
        others = ", ".join(f"{x:,.0f}" for x in sorted(p50[2:]))
        notes.append(
            "bind-to-seen per site, best round, p50 of t_seen - t_bind in µs: "
            f"site 0 (owner) {p50[0]:,.0f}, site 1 (binder) {p50[1]:,.0f}, "
            f"sites 2-{sites - 1} (sorted) {others}; first site to see it {first:,.0f}, "
            f"last {bind.percentile_us(0.50) or 0:,.0f}."
        )
    if bind is not None and rtt is not None:
        same = ", ".join(f"{r:.2f}{TIMES}" for r in per_round(samples[(LATENCY, BIND_ROW)]))
        summary.append(
            f"bind-to-seen on {bench_dataflow.SITES} sites: p50 "
            f"{_fmt(bind.percentile_us(0.50), ',.0f')} µs / p99 "
            f"{_fmt(bind.percentile_us(0.99), ',.0f')} µs = {ratio(bind, 0.50)} / "
            f"{ratio(bind, 0.99)} one stationary RTT (p50 "
            f"{_fmt(rtt.percentile_us(0.50), ',.0f')} µs / p99 "
            f"{_fmt(rtt.percentile_us(0.99), ',.0f')} µs) (best rounds); same-round p50 "
            f"ratios: {same}"
        )
    return lines, notes, summary


# -- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Sizes]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small bounded run: 2,000 / 2,000 / 200 calls, 5,000 messages, 30 binds, "
        "300 calls per protocol, 2 local runs of 20,000 calls, 1 round",
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3, quick 1)")
    parser.add_argument("--sequential", type=int, metavar="N", help="sequential add calls")
    parser.add_argument("--pipelined", type=int, metavar="N", help="pipelined add calls")
    parser.add_argument("--echo", type=int, metavar="N", help="64 KiB echo calls")
    parser.add_argument(
        "--messages", type=int, metavar="N", help="one-way messages per run (default 50,000)"
    )
    parser.add_argument(
        "--binds", type=int, metavar="N", help="bind-to-seen binds (and RTT calls) per run"
    )
    parser.add_argument(
        "--protocol-calls",
        type=int,
        metavar="N",
        help="sequential peek() and get() calls per netobj protocol per round (default 3,000)",
    )
    parser.add_argument(
        "--local-calls",
        type=int,
        metavar="N",
        help="calls per timed run of the local cached-object calls (default 200,000)",
    )
    parser.add_argument(
        "--systems",
        default=",".join([*(s.NAME for s in SYSTEMS), PROTOCOLS_OPTION]),
        help="comma-separated subset of: "
        + ", ".join(s.NAME for s in SYSTEMS)
        + f" (or netobj, pyro, rpyc, grpc), and {PROTOCOLS_OPTION} (the netobj protocol "
        "tables)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the markdown report (default: results/latest.md, the checked-in "
        "full run; results/quick.md with --quick, which is not checked in)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        help="start another round only if it should end within this many seconds of the "
        "warm-up's end (default 300, quick 20); the rounds done are reported",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        help="abort the whole run after this many seconds (default 600, quick 120)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = RESULTS_DIR / ("quick.md" if args.quick else "latest.md")
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        sequential=args.sequential or base.sequential,
        pipelined=args.pipelined or base.pipelined,
        echo=args.echo or base.echo,
        rounds=args.rounds or base.rounds,
        warmup=base.warmup,
        messages=args.messages or base.messages,
        binds=args.binds or base.binds,
        protocol_calls=args.protocol_calls or base.protocol_calls,
        local_calls=args.local_calls or base.local_calls,
        local_runs=base.local_runs,
    )
    counts = (sizes.sequential, sizes.pipelined, sizes.echo, sizes.rounds, sizes.messages)
    if min(*counts, sizes.binds, sizes.protocol_calls, sizes.local_calls) < 1:
        parser.error("counts and rounds must be positive")
    if args.budget is None:
        args.budget = 20.0 if args.quick else 300.0
    if args.deadline is None:
        args.deadline = 120.0 if args.quick else 600.0
    return args, sizes


def _install_signal_handlers(deadline_s: float) -> Callable[[], None]:
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


def main(argv: Sequence[str] | None = None) -> int:
    args, sizes = parse_args(argv)
    wanted = {name.strip().lower() for name in args.systems.split(",") if name.strip()}
    aliases = {s: {s.NAME.lower(), s.__name__.rsplit("_", 1)[-1]} for s in SYSTEMS}
    systems = [s for s in SYSTEMS if aliases[s] & wanted]
    protocols = PROTOCOLS_OPTION in wanted
    unknown = wanted - set().union(*aliases.values(), {PROTOCOLS_OPTION})
    if unknown or not (systems or protocols):
        print(f"unknown systems: {', '.join(sorted(unknown)) or '(none given)'}", file=sys.stderr)
        return 2
    head = "\n".join(["# netobj benchmarks", "", *machine_lines(), "", ""])
    print(head, end="", flush=True)
    restore = _install_signal_handlers(args.deadline)
    t0 = time.perf_counter()
    try:
        samples, notes, problems = run_all(systems, sizes, args.budget, protocols)
    except Exception:  # Deadline included; KeyboardInterrupt/SystemExit propagate
        traceback.print_exc()
        print("benchmark run failed; servers were stopped", file=sys.stderr)
        return 1
    finally:
        restore()
    notes += [f"problem: {p}" for p in problems]
    body = report(systems, samples, sizes, notes, time.perf_counter() - t0)
    print(body, end="", flush=True)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(head + body)
    print(f"\n(written to {args.out})", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
