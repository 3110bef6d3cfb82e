"""``python -m benchmarks.scale [--quick]``: one netobj home, many client processes.

One home process (a netobj Site on the TCP carrier) offers one @stationary object; for each
client count (default 1, 4, 16, 32) that many client processes, each with its own Site and
so its own link to the home, make sequential small calls (``await calc.add(i, 1)``) for a
fixed time. A fresh home per (round, client count). All clients start together: each
connects, makes one call and reports; only when every client has reported does this
process send them all the go signal. Per client count the table shows aggregate calls/s,
the slowest and fastest client, fairness (fastest ÷ slowest), the growth of the home's
resident memory per link (VmRSS after all clients connected minus before any did, ÷ the
clients) and the home's CPU time per call while the clients ran. Counts are interleaved
within each round; medians of the rounds, and the best round.

``python -m benchmarks.scale serve`` and ``... client TICKET SECONDS`` are the two kinds of
child process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks import _common
from benchmarks._common import CALL_TIMEOUT_S, HOST, REPO_ROOT, ServerProcess, exit_with_parent
from benchmarks.machine import load_average, machine_lines

MODULE = "benchmarks.scale"  # not __name__, which is "__main__" under python -m
CARRIER = "tcp"  # as benchmarks.bench_netobj_tcp: netobj.Site(transport="tcp")
COUNTS = (1, 4, 16, 32)
FULL_DURATION_S, QUICK_DURATION_S = 3.0, 1.0
FULL_ROUNDS, QUICK_ROUNDS = 3, 1
TIMES = "\u00d7"
RESULTS = Path(__file__).resolve().parent / "results" / "scale.md"
HEADER = (
    "| clients | rounds | aggregate calls/s (median) | aggregate calls/s (best) "
    "| per-client calls/s min | per-client calls/s max | fairness max/min (median) "
    "| fairness (best) | home RSS before MiB | home RSS growth per link KiB (median) "
    "| home RSS after the calls MiB "
    "| home CPU µs/call (median) | home CPU µs/call (best) |"
)


# -- the child processes --------------------------------------------------------------------


def serve() -> None:
    """The home: offer one stationary Calc on the TCP carrier, print READY <ticket>."""
    import netobj
    import netobj.site
    from benchmarks.bench_netobj import Calc

    async def main() -> None:
        async with netobj.Site(host=HOST, port=0, transport=CARRIER) as site:
            print("READY", site.offer(Calc()), flush=True)
            await asyncio.Event().wait()  # until killed

    loop = netobj.site.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main())


def client(ticket: str, duration_s: float) -> None:
    """One client: connect, one call, CONNECTED; wait for GO; calls for ``duration_s``;
    DONE <calls> <elapsed s> <cpu s>; then wait for stdin to close."""
    import netobj
    import netobj.site

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with netobj.Site(transport=CARRIER) as site:
            calc = await asyncio.wait_for(site.take(ticket), CALL_TIMEOUT_S)
            _common.check(await calc.add(0, 1) == 1, "scale: first call")
            print("CONNECTED", flush=True)
            go = await loop.run_in_executor(None, sys.stdin.readline)
            if go.strip() != "GO":
                return
            cpu0, t0 = time.process_time(), time.perf_counter()
            end, i = t0 + duration_s, 0
            now = t0
            while now < end:
                _common.check(await calc.add(i, 1) == i + 1, "scale: add")
                i += 1
                now = time.perf_counter()
            print("DONE", i, now - t0, time.process_time() - cpu0, flush=True)
            await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes it

    loop = netobj.site.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main())


# -- this process ---------------------------------------------------------------------------


def rss_kib(pid: int) -> int | None:
    """VmRSS of a process in KiB (Linux /proc only)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


class ClientProcess:
    """A client child; its stdout lines arrive on a queue (a reader thread)."""

    def __init__(self, ticket: str, duration_s: float, nice: int = 0) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        self.popen = subprocess.Popen(
            [sys.executable, "-m", MODULE, "client", ticket, repr(duration_s)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=(lambda: os.nice(nice) and None) if nice else None,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._err: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line)
        self.lines.put("")  # EOF

    def _read_err(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self._err.append(line)

    def expect(self, word: str, deadline: float) -> list[str]:
        """The words after ``word`` on the next line that starts with it (bounded)."""
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"scale client: no {word} line in time") from None
            words = line.split()
            if not line:
                tail = "".join(self._err)[-2000:]
                raise RuntimeError(f"scale client exited before {word}: {tail}")
            if words and words[0] == word:
                return words[1:]

    def send(self, text: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(text)
        self.popen.stdin.flush()

    def stop(self) -> None:
        p = self.popen
        with contextlib.suppress(OSError):
            if p.stdin is not None:
                p.stdin.close()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=5)


@dataclass(frozen=True)
class Run:
    """One client count in one round."""

    clients: int
    per_client: tuple[float, ...]  # calls/s of each client
    calls: int
    rss_before_kib: int
    rss_connected_kib: int
    rss_after_kib: int  # once every client reported DONE
    home_cpu_s: float

    @property
    def aggregate(self) -> float:
        return sum(self.per_client)

    @property
    def fairness(self) -> float:
        return max(self.per_client) / min(self.per_client)

    @property
    def rss_per_link_kib(self) -> float:
        return (self.rss_connected_kib - self.rss_before_kib) / self.clients

    @property
    def home_cpu_us_per_call(self) -> float:
        return self.home_cpu_s / self.calls * 1e6


def run_one(count: int, duration_s: float, client_nice: int = 0) -> Run:
    """A fresh home, ``count`` clients through the barrier, the timed calls, teardown."""
    home: ServerProcess = _common.start_server(MODULE)
    clients: list[ClientProcess] = []
    try:
        ticket = home.info[0]
        time.sleep(0.2)  # let the home settle before the first reading
        before = rss_kib(home.popen.pid)
        clients = [ClientProcess(ticket, duration_s, client_nice) for _ in range(count)]
        deadline = time.monotonic() + CALL_TIMEOUT_S + 2.0 * count
        for c in clients:
            c.expect("CONNECTED", deadline)
        connected = rss_kib(home.popen.pid)
        cpu0 = home.cpu_seconds()
        for c in clients:
            c.send("GO\n")
        deadline = time.monotonic() + duration_s + CALL_TIMEOUT_S
        done = [c.expect("DONE", deadline) for c in clients]
        cpu1 = home.cpu_seconds()
        after = rss_kib(home.popen.pid)
        if None in (before, connected, after, cpu0, cpu1):
            raise RuntimeError("scale: /proc readings of the home process are unavailable")
        calls = [int(words[0]) for words in done]
        rates = tuple(int(w[0]) / float(w[1]) for w in done)
        if min(calls) < 1:
            raise RuntimeError(f"scale: a client made no calls ({calls})")
        assert before and connected and after and cpu0 is not None and cpu1 is not None
        return Run(count, rates, sum(calls), before, connected, after, cpu1 - cpu0)
    finally:
        for c in clients:
            c.stop()
        code = home.popen.poll()
        home.stop()
        if code is not None:
            print(f"scale: the home exited early ({code}): {home.stderr_tail()}", file=sys.stderr)


def table(runs: Sequence[Run], counts: Sequence[int]) -> list[str]:
    """The markdown table (one row per client count) and the growth lines."""
    lines = [HEADER, "|---:" * 13 + "|"]
    rows: dict[int, list[Run]] = {n: [r for r in runs if r.clients == n] for n in counts}
    for n, rs in rows.items():
        if not rs:
            continue
        lines.append(
            f"| {n} | {len(rs)} | {statistics.median(r.aggregate for r in rs):,.0f} "
            f"| {max(r.aggregate for r in rs):,.0f} "
            f"| {statistics.median(min(r.per_client) for r in rs):,.0f} "
            f"| {statistics.median(max(r.per_client) for r in rs):,.0f} "
            f"| {statistics.median(r.fairness for r in rs):.2f} "
            f"| {min(r.fairness for r in rs):.2f} "
            f"| {statistics.median(r.rss_before_kib for r in rs) / 1024:,.1f} "
            f"| {statistics.median(r.rss_per_link_kib for r in rs):,.0f} "
            f"| {statistics.median(r.rss_after_kib for r in rs) / 1024:,.1f} "
            f"| {statistics.median(r.home_cpu_us_per_call for r in rs):,.1f} "
            f"| {min(r.home_cpu_us_per_call for r in rs):,.1f} |"
        )
    measured = [n for n in counts if rows[n]]
    if len(measured) >= 2:
        lo, hi = measured[0], measured[-1]

        def med(n: int, attr: str) -> float:
            return float(statistics.median(getattr(r, attr) for r in rows[n]))

        lines += [
            "",
            f"Growth from {lo} to {hi} clients ({hi / lo:g}{TIMES} the links), medians: "
            f"aggregate calls/s {TIMES}{med(hi, 'aggregate') / med(lo, 'aggregate'):.2f}; "
            f"fairness max/min {med(lo, 'fairness'):.2f} -> {med(hi, 'fairness'):.2f}; "
            f"home RSS per link {med(lo, 'rss_per_link_kib'):,.0f} -> "
            f"{med(hi, 'rss_per_link_kib'):,.0f} KiB (total growth "
            f"{med(lo, 'rss_per_link_kib') * lo:,.0f} -> "
            f"{med(hi, 'rss_per_link_kib') * hi:,.0f} KiB); home CPU µs/call "
            f"{med(lo, 'home_cpu_us_per_call'):,.1f} -> {med(hi, 'home_cpu_us_per_call'):,.1f} "
            f"({TIMES}{med(hi, 'home_cpu_us_per_call') / med(lo, 'home_cpu_us_per_call'):.2f}).",
        ]
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_DURATION_S:g} s per run, 1 round"
    )
    parser.add_argument(
        "--clients",
        default=",".join(map(str, COUNTS)),
        help="comma-separated client counts (default 1,4,16,32)",
    )
    parser.add_argument("--duration", type=float, help="seconds of calls per run (default 3)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3, quick 1)")
    parser.add_argument(
        "--client-nice",
        type=int,
        default=0,
        help="run the clients at this nice value (a diagnostic: how far the home goes when "
        "the clients do not compete with it for the CPUs; default 0)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=f"markdown report (default {RESULTS.relative_to(REPO_ROOT)}; none with --quick)",
    )
    args = parser.parse_args(argv)
    try:
        args.counts = [int(x) for x in args.clients.split(",") if x.strip()]
    except ValueError:
        parser.error("--clients: comma-separated integers")
    args.duration = args.duration or (QUICK_DURATION_S if args.quick else FULL_DURATION_S)
    args.rounds = args.rounds or (QUICK_ROUNDS if args.quick else FULL_ROUNDS)
    if not args.counts or min(args.counts) < 1 or args.rounds < 1 or args.duration <= 0:
        parser.error("client counts, rounds and duration must be positive")
    if args.out is None and not args.quick:
        args.out = RESULTS
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    head = ["# netobj scale benchmark", "", *machine_lines(), ""]
    if args.client_nice:
        head[-1:] = [f"- clients run at nice {args.client_nice} (a diagnostic run)", ""]
    print("\n".join(head), flush=True)
    runs: list[Run] = []
    t0 = time.perf_counter()
    try:
        for rnd in range(1, args.rounds + 1):
            for n in args.counts:
                run = run_one(n, args.duration, args.client_nice)
                runs.append(run)
                print(
                    f"round {rnd}/{args.rounds} {n:>3} clients: {run.aggregate:>10,.0f} calls/s, "
                    f"fairness {run.fairness:.2f}, {run.rss_per_link_kib:,.0f} KiB/link, "
                    f"home {run.home_cpu_us_per_call:,.1f} µs CPU/call",
                    file=sys.stderr,
                    flush=True,
                )
    except Exception as exc:
        print(f"scale benchmark failed: {exc!r}", file=sys.stderr)
        return 1
    body = [
        f"One home process (netobj Site, TCP carrier) serving one @stationary object; N client "
        f"processes (one Site and one link each) calling `await calc.add(i, 1)` sequentially "
        f"for {args.duration:g} s after a common go signal; a fresh home per run; "
        f"{args.rounds} round(s), client counts interleaved. Medians of the rounds, and the "
        f"best round (aggregate: highest; fairness and CPU: lowest). Per-client min/max: "
        f"medians of each round's slowest and fastest client. RSS growth per link = (home "
        f"VmRSS once all N clients connected and made one call - VmRSS before) / N (at 1 "
        f"client it includes one-off costs of the first link; VmRSS counts touched pages and "
        f"the allocator reuses memory it already holds, so small per-link costs may not "
        f"show). Home CPU = user+system time "
        f"of the home from the go signal until every client reported, ÷ all calls. Every "
        f"process shares this machine's {os.cpu_count()} CPUs.",
        "",
        *table(runs, args.counts),
        "",
        f"- total run time {time.perf_counter() - t0:.1f}s; load average at end: "
        f"{load_average()}",
    ]
    print("\n".join(body), flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join([*head, "", *body]) + "\n")
        print(f"\n(written to {args.out})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        exit_with_parent()
        serve()
    elif sys.argv[1:2] == ["client"] and len(sys.argv) == 4:
        client(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit(main())
