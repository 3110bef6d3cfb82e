"""One client program against the Coder offered four ways, as two processes.

    python examples/protocols.py serve [--ticket-file F]   # offers Coder(100) four times
    python examples/protocols.py take TICKET_FILE [-n N]   # runs the program against each
    python examples/protocols.py --demo [-n N]             # runs both as two processes

Site 1 offers a fresh ``Coder(100)`` as ``@netobj.stationary``, ``@netobj.active``,
``@netobj.cached`` and ``@netobj.replicated`` (four classes with one body), and a stationary
``Stats`` object that reports the messages site 1 has sent. Site 2 runs the same program
against each of the four:

1. ``get()`` N times, waiting for each (``get`` returns the seed and advances it: a write);
2. ``peek()`` N times, waiting for each (``peek`` returns the seed: a ``@netobj.reads``);
3. N ``get()`` calls issued at once (N Vars), then awaited.

and prints, per protocol, the messages both sites sent (site 2's ``site.messages_sent`` plus
site 1's, read through ``Stats``; the Stats calls themselves are not counted) and the time
per call. Same program, same results, different network behaviour: a stationary or active
object costs a call and a reply per sequential call; a cached one moves here on the first
call and then costs nothing; a replicated one sends writes home and, once a copy is here,
reads it with no message - until a write invalidates it.

Each Coder starts at 100 once: run ``take`` once per ``serve``.

Options: ``-n`` calls per step (default 500), ``--transport grpc`` for the gRPC carrier (TCP is
the default).

The last line is ``ok: ...`` when ``get()`` returned the same values under all four protocols
(those of one local Coder(100)) and every ``peek()`` saw the value the next ``get()`` returned.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import netobj

TIMEOUT = 60.0  # seconds for taking the tickets, and per 1,000 calls of a protocol's program
SEED = 100
PROTOCOLS = ("stationary", "active", "cached", "replicated")


class CoderBase:
    """The Coder of examples/coder.py, plus a read-only ``peek``."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def get(self) -> int:
        x = self.seed
        self.seed = (self.seed * 23 + 49) % 1001
        return x

    @netobj.reads  # only @netobj.replicated makes use of it: a read runs on the local copy
    def peek(self) -> int:
        return self.seed


# One body, four protocols. Defined at module level: a cached or replicated object names its
# class by qualified name (here __main__.CachedCoder on both sites, as both run this file).
@netobj.stationary
class StationaryCoder(CoderBase):
    pass


@netobj.active
class ActiveCoder(CoderBase):
    pass


@netobj.cached
class CachedCoder(CoderBase):
    pass


@netobj.replicated
class ReplicatedCoder(CoderBase):
    pass


CLASSES: dict[str, type[CoderBase]] = {
    "stationary": StationaryCoder, "active": ActiveCoder,
    "cached": CachedCoder, "replicated": ReplicatedCoder,
}


@netobj.stationary
class Stats:
    """Site 1's message counts. ``async def``: it runs on the site's loop, where they change."""

    def __init__(self, site: netobj.Site) -> None:
        self._site = site

    async def messages_sent(self) -> dict[str, int]:
        return dict(self._site.messages_sent)


# -- the client program: the same code for every protocol ------------------------------------


Step = Callable[[str, int], contextlib.AbstractAsyncContextManager[None]]


async def program(c: Any, n: int, step: Step) -> tuple[list[int], list[int]]:
    """Run against the proxy ``c`` of a Coder(100); ``step(name, calls)`` measures a block.

    Returns the values of every get() and of every peek()."""
    got: list[int] = []
    peeked: list[int] = []
    async with step("get", 1):  # the first call: a cached object moves here
        got.append(await c.get())
    async with step("get", n - 1):
        for _ in range(n - 1):
            got.append(await c.get())
    async with step("peek", 1):  # the first read: a replica subscribes
        peeked.append(await c.peek())
    async with step("peek", n - 1):
        for _ in range(n - 1):
            peeked.append(await c.peek())
    async with step("burst", n):  # n get()s issued at once: n Vars, then awaited in order
        vars_ = [c.get() for _ in range(n)]
        for v in vars_:
            got.append(await v)
    return got, peeked


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Measured:
    name: str
    calls: int
    messages: Counter[str]  # client + server, by kind
    seconds: float

    def total(self) -> int:
        return sum(self.messages.values())


@dataclass
class Run:
    protocol: str
    steps: list[Measured] = field(default_factory=list)
    got: list[int] = field(default_factory=list)
    peeked: list[int] = field(default_factory=list)

    def _steps(self, name: str) -> list[Measured]:
        return [s for s in self.steps if s.name == name]

    def first(self, name: str) -> int:
        """Messages of the first call of a step."""
        return self._steps(name)[0].total()

    def rest(self, name: str) -> Measured:
        """The calls after the first (the whole step for the burst)."""
        return self._steps(name)[-1]

    def total(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for s in self.steps:
            out.update(s.messages)
        return out


class Meter:
    """Counts the messages both sites send during a block, and times the block.

    Around each block the client reads site 1's counts through Stats. Site 1 takes its count
    while it runs that call, so the count after a block includes the reply to the call that
    read the count before it: that one reply is subtracted. Site 2's counts are read between
    the two Stats calls, so they exclude them."""

    def __init__(self, site: netobj.Site, stats: Any, run: Run) -> None:
        self.site = site
        self.stats = stats
        self.run = run

    @contextlib.asynccontextmanager
    async def step(self, name: str, calls: int) -> AsyncIterator[None]:
        server0 = Counter(await self.stats.messages_sent())
        client0 = Counter(self.site.messages_sent)
        t0 = time.perf_counter()
        yield
        t1 = time.perf_counter()
        client1 = Counter(self.site.messages_sent)
        server1 = Counter(await self.stats.messages_sent())
        server1["reply"] -= 1  # the reply to the first Stats call (see the class doc)
        messages = (client1 - client0) + (server1 - server0)
        self.run.steps.append(Measured(name, calls, messages, t1 - t0))


def table(runs: list[Run], n: int) -> str:
    def us(m: Measured) -> str:
        return f"{m.seconds / m.calls * 1e6:.1f}"

    def per(m: Measured) -> str:
        return f"{m.total() / m.calls:.2f}"

    lines = [
        f"{'':12} {' get() ':-^32} {' peek() ':-^32} {f' {n} get()s at once ':-^23}",
        f"{'protocol':12}{'1st msgs':>11}{'msgs/call':>11}{'µs/call':>11}"
        f"{'1st msgs':>11}{'msgs/call':>11}{'µs/call':>11}{'msgs':>12}{'µs/call':>12}",
    ]
    for r in runs:
        g, p, b = r.rest("get"), r.rest("peek"), r.rest("burst")
        lines.append(
            f"{r.protocol:12}{r.first('get'):>11}{per(g):>11}{us(g):>11}"
            f"{r.first('peek'):>11}{per(p):>11}{us(p):>11}"
            f"{b.total():>12}{us(b):>12}")
    return "\n".join(lines)


def expected(n: int) -> list[int]:
    """What 2n get()s return on one site."""
    c = CoderBase(SEED)
    return [c.get() for _ in range(2 * n)]


# -- the two sites --------------------------------------------------------------------------


def write_tickets(ticket_file: str, text: str) -> None:
    tmp = ticket_file + ".tmp"
    Path(tmp).write_text(text)
    os.replace(tmp, ticket_file)  # appears whole, never half-written


async def serve(ticket_file: str | None, transport: str) -> None:
    async with netobj.Site(host="127.0.0.1", port=0, transport=transport) as site:
        lines = [f"stats {site.offer(Stats(site))}"]
        lines += [f"{p} {site.offer(CLASSES[p](SEED))}" for p in PROTOCOLS]
        text = "\n".join(lines) + "\n"
        if ticket_file:
            write_tickets(ticket_file, text)
        print(text, end="", flush=True)
        # serve until stdin closes (the demo) or the process is interrupted
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


def read_tickets(ticket_file: str) -> dict[str, str]:
    tickets = dict(line.split(None, 1) for line in Path(ticket_file).read_text().splitlines()
                   if line.strip())
    missing = [name for name in ("stats", *PROTOCOLS) if name not in tickets]
    if missing:
        raise SystemExit(f"{ticket_file}: no ticket for {', '.join(missing)}")
    return tickets


async def take(ticket_file: str, n: int, transport: str) -> int:
    tickets = read_tickets(ticket_file)
    async with netobj.Site(transport=transport) as site:
        stats = await asyncio.wait_for(site.take(tickets["stats"]), TIMEOUT)
        coders = {p: await asyncio.wait_for(site.take(tickets[p]), TIMEOUT) for p in PROTOCOLS}
        runs: list[Run] = []
        for p in PROTOCOLS:
            run = Run(p)
            got, peeked = await asyncio.wait_for(
                program(coders[p], n, Meter(site, stats, run).step),
                TIMEOUT * (1 + n / 1000))
            run.got, run.peeked = got, peeked
            runs.append(run)
    print(f"site 2 ran the same program against each: {n} get()s, {n} peek()s, then "
          f"{n} get()s at once")
    print("messages: sent by both sites (the Stats calls that count them excluded); "
          "1st msgs: the first call;")
    print("msgs/call and µs/call: the calls after the first (for the burst: all of them)")
    print()
    print(table(runs, n))
    print()
    print("messages by kind, whole program:")
    for r in runs:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r.total().items()) if v)
        print(f"  {r.protocol + ':':12} {kinds}")
    print()
    want = expected(n)
    bad = [r.protocol for r in runs if r.got != want or r.peeked != [want[n]] * n]
    if bad:
        for r in runs:
            if r.protocol in bad:
                print(f"{r.protocol}: got {r.got[:8]}..., peeked {sorted(set(r.peeked))}",
                      file=sys.stderr)
        print(f"FAILED: different results under {', '.join(bad)}")
        return 1
    print(f"ok: get() returned the same {2 * n} values under all four protocols "
          f"({', '.join(map(str, want[:3]))}, ... as one local Coder({SEED})), "
          f"and every peek() saw {want[n]}")
    return 0


def demo(n: int, transport: str) -> int:
    """Start the server process, hand its tickets to a client process, relay its table."""
    with tempfile.TemporaryDirectory() as tmp:
        ticket_file = os.path.join(tmp, "coders.tickets")
        server = subprocess.Popen(
            [sys.executable, __file__, "serve", "--ticket-file", ticket_file,
             "--transport", transport],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(ticket_file):
                if server.poll() is not None or time.monotonic() > deadline:
                    print("the server process did not start", file=sys.stderr)
                    return 1
                time.sleep(0.05)
            print(f"site 1 (pid {server.pid}, {transport}) offers Coder({SEED}) as "
                  f"{', '.join(PROTOCOLS[:-1])} and {PROTOCOLS[-1]}, and a Stats object")
            limit = 60 + 4 * TIMEOUT * (1 + n / 1000)
            try:
                client = subprocess.run(
                    [sys.executable, __file__, "take", ticket_file, "-n", str(n),
                     "--transport", transport],
                    capture_output=True, text=True, timeout=limit,
                )
            except subprocess.TimeoutExpired:
                print(f"the client process did not finish in {limit:.0f} s", file=sys.stderr)
                return 1
            print(client.stdout, end="")
            if client.returncode != 0:
                print(client.stderr, file=sys.stderr)
                return client.returncode or 1
            return 0
        finally:
            assert server.stdin is not None
            server.stdin.close()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="run both sites as two processes")
    parser.add_argument("-n", type=int, default=500, help="with --demo: calls per step")
    parser.add_argument("--transport", choices=("grpc", "tcp"), default="tcp",
                        help="with --demo: the carrier of both sites")
    sub = parser.add_subparsers(dest="cmd")
    s = sub.add_parser("serve", help="offer Coder(100) four ways and Stats; print the tickets")
    s.add_argument("--ticket-file", help="also write the tickets to this file")
    s.add_argument("--transport", choices=("grpc", "tcp"), default="tcp")
    t = sub.add_parser("take", help="run the program against each Coder; print the table")
    t.add_argument("ticket_file", help="the lines 'NAME TICKET' that serve printed")
    t.add_argument("-n", type=int, default=500, help="calls per step (at least 2)")
    t.add_argument("--transport", choices=("grpc", "tcp"), default="tcp")
    args = parser.parse_args()
    if (args.demo or args.cmd == "take") and args.n < 2:
        parser.error("-n must be at least 2")
    if args.demo:
        return demo(args.n, args.transport)
    if args.cmd == "serve":
        asyncio.run(serve(args.ticket_file, args.transport))
        return 0
    if args.cmd == "take":
        return asyncio.run(take(args.ticket_file, args.n, args.transport))
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
