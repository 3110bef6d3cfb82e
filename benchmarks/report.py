"""The report: per (workload, system) the best round and the median of the rounds, ratios
against netobj, and the markdown tables (the same tables the README quotes)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from types import ModuleType

from benchmarks import bench_dataflow, bench_netobj, bench_protocols, bench_pyro
from benchmarks._common import ECHO_SIZE
from benchmarks.acceptance import acceptance_lines
from benchmarks.machine import load_average
from benchmarks.samples import (
    BIND_ROW,
    FIRST_CALL,
    LATENCY,
    LOCAL,
    MESSAGES,
    ONEWAY_HOW,
    PROTO_WORKLOADS,
    PYRO_RTT_ROW,
    RTT_ROW,
    TIMES,
    WORKLOADS,
    Sample,
    Sizes,
    local_key,
)


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
    lines.append(f"- total run time {elapsed_s:.1f}s; load average at end: {load_average()}")
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
    lines.extend(acceptance_lines(samples))
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
        f"process, called sequentially from this process (TCP carrier); a fresh object per "
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
