"""The acceptance ratios: netobj against Pyro5 and against the floors (bare uvloop echo,
grpc.aio bidi ping-pong), each with its target where there is one, from the same
interleaved run as the tables."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from benchmarks import (
    bench_grpc_bidi,
    bench_netobj,
    bench_netobj_tcp,
    bench_protocols,
    bench_pyro,
    bench_uvecho,
)
from benchmarks.samples import (
    ASYNC_SEQUENTIAL,
    ECHO,
    LOCAL,
    MESSAGES,
    PIPELINED,
    SEQUENTIAL,
    TIMES,
    Sample,
    local_key,
)

NET, TCP = bench_netobj.NAME, bench_netobj_tcp.NAME
PYRO, BARE, BIDI = bench_pyro.NAME, bench_uvecho.NAME, bench_grpc_bidi.NAME


@dataclass(frozen=True)
class Ratio:
    label: str
    top: tuple[str, str]  # (workload, system) keys of ``samples``
    bottom: tuple[str, str]
    target: float | None = None


RATIOS: tuple[Ratio, ...] = (
    Ratio("netobj (tcp) sequential def / Pyro5 sequential", (SEQUENTIAL, TCP), (SEQUENTIAL, PYRO),
          1.0),
    Ratio(
        "netobj (tcp) sequential def / bare uvloop echo (16 B)",
        (SEQUENTIAL, TCP),
        (SEQUENTIAL, BARE),
        0.6,
    ),
    Ratio(
        "netobj (tcp) sequential async def / bare uvloop echo (16 B)",
        (ASYNC_SEQUENTIAL, TCP),
        (SEQUENTIAL, BARE),
    ),
    Ratio(
        "netobj (grpc) sequential async def / grpc.aio bidi ping-pong",
        (ASYNC_SEQUENTIAL, NET),
        (SEQUENTIAL, BIDI),
    ),
    Ratio(
        "netobj (grpc) sequential def / grpc.aio bidi ping-pong",
        (SEQUENTIAL, NET),
        (SEQUENTIAL, BIDI),
        0.8,
    ),
    Ratio("netobj (tcp) echo 64 KiB MB/s / Pyro5", (ECHO, TCP), (ECHO, PYRO), 1.0),
    Ratio("netobj (grpc) echo 64 KiB MB/s / Pyro5", (ECHO, NET), (ECHO, PYRO)),
    Ratio(
        "netobj (tcp) echo 64 KiB MB/s / bare uvloop 64 KiB echo", (ECHO, TCP), (ECHO, BARE), 0.6
    ),
    Ratio("netobj (grpc) echo 64 KiB MB/s / bare uvloop 64 KiB echo", (ECHO, NET), (ECHO, BARE)),
    Ratio("netobj (grpc) pipelined / Pyro5 BatchProxy", (PIPELINED, NET), (PIPELINED, PYRO), 2.0),
    Ratio("netobj (tcp) pipelined / Pyro5 BatchProxy", (PIPELINED, TCP), (PIPELINED, PYRO), 2.0),
    Ratio("netobj (grpc) one-way Port / Pyro5 @oneway", (MESSAGES, NET), (MESSAGES, PYRO), 5.0),
    Ratio("netobj (tcp) one-way Port / Pyro5 @oneway", (MESSAGES, TCP), (MESSAGES, PYRO), 5.0),
    Ratio(
        f"local call, cached (state moved here), `{bench_protocols.CALL}` / plain call",
        (LOCAL, local_key((bench_protocols.MOVED, bench_protocols.CALL))),
        (LOCAL, local_key((bench_protocols.PLAIN, bench_protocols.CALL))),
        0.3,
    ),
    Ratio(
        f"local call, cached (state moved here), `{bench_protocols.AWAIT}` / plain call",
        (LOCAL, local_key((bench_protocols.MOVED, bench_protocols.AWAIT))),
        (LOCAL, local_key((bench_protocols.PLAIN, bench_protocols.CALL))),
    ),
)


def _rate(sample: Sample) -> float:
    return sample.calls_per_s


def _best(runs: list[Sample]) -> float:
    return max(_rate(s) for s in runs)


def acceptance_lines(samples: dict[tuple[str, str], list[Sample]]) -> list[str]:
    """One line per ratio whose two sides were both measured: best round ÷ best round and
    median ÷ median of the rounds' calls/s (speed ratios; > 1: netobj faster), the target
    and whether the best-round ratio meets it."""
    lines: list[str] = []
    for r in RATIOS:
        top, bottom = samples.get(r.top), samples.get(r.bottom)
        if not top or not bottom:
            continue
        ratio_best = _best(top) / _best(bottom)
        ratio_median = statistics.median(_rate(s) for s in top) / statistics.median(
            _rate(s) for s in bottom
        )
        target = ""
        if r.target is not None:
            met = "met" if ratio_best >= r.target else "NOT met"
            target = f"; target {r.target:g}{TIMES}: {met}"
        lines.append(
            f"acceptance: {r.label} = {ratio_best:.2f}{TIMES} (best rounds), "
            f"{ratio_median:.2f}{TIMES} (medians){target}"
        )
    if lines:
        lines.insert(
            0,
            "Acceptance ratios (speed of the first ÷ speed of the second, calls/s or MB/s or "
            "msgs/s; local calls: plain ns/call ÷ cached ns/call):",
        )
    return lines
