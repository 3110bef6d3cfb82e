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

Two floors run in the same rounds, on the workloads they have: a bare uvloop TCP echo of
length-prefixed frames (sequential with a 16-byte body, and 64 KiB echo;
``benchmarks.bench_uvecho``) and raw grpc.aio bidi-stream ping-pong (sequential;
``benchmarks.bench_grpc_bidi``). netobj also runs "sequential async def" (the same call on
an ``async def`` method). The last lines of the report are the acceptance ratios
(``benchmarks.acceptance``). The many-clients benchmark is ``python -m benchmarks.scale``.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from benchmarks.machine import machine_lines
from benchmarks.report import report
from benchmarks.runner import install_signal_handlers, run_all
from benchmarks.samples import FULL, PROTOCOLS_OPTION, QUICK, RESULTS_DIR, SYSTEMS, Sizes


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
        + f" (or netobj, tcp, pyro, rpyc, grpc, uvecho, bidi), and {PROTOCOLS_OPTION} (the "
        "netobj protocol "
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
    restore = install_signal_handlers(args.deadline)
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
