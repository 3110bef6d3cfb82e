"""Producer -> filter -> consumer over ports, with a shared dataflow Var, as three processes.

    python examples/pipeline.py consumer [--ticket-file F]
        makes a Port and an unbound Var "total", offers both and prints their two tickets
        (port first); prints every message that arrives ("got 3", ...); on the sentinel
        Record("done") binds total to the sum of what it got and prints "total S"
    python examples/pipeline.py filter CONSUMER_PORT_TICKET [--divisor 3] [--ticket-file F]
        makes its own Port, offers it and prints its ticket; forwards every message of its
        stream that is a multiple of DIVISOR (and the sentinel) to the consumer's port
    python examples/pipeline.py producer FILTER_PORT_TICKET TOTAL_TICKET [-n 30]
        sends 1..N and Record("done") to the filter's port, then waits for the Var "total"
        (owned by the consumer) and prints "producer sees total S"
    python examples/pipeline.py --demo [-n 30]
        runs the three as three processes, wired by ticket files, and checks the results

The consumer and the filter serve until their stdin closes (the demo closes it) or they are
interrupted. Messages from one site to one port arrive in the order sent, so the consumer
gets exactly the multiples of the divisor, in order. The producer never talks to the
consumer's port: it learns the sum only through the Var, which is the same variable on both
sites - bound once by the consumer, seen by the producer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import netobj

TIMEOUT = 60.0  # seconds: the longest any process waits for a message or a value
DONE = netobj.Record("done")


def is_done(msg: Any) -> bool:
    return isinstance(msg, netobj.Record) and msg.label == "done"


def write_tickets(ticket_file: str, tickets: list[str]) -> None:
    tmp = ticket_file + ".tmp"
    Path(tmp).write_text("".join(t + "\n" for t in tickets))
    os.replace(tmp, ticket_file)  # appears whole, never half-written


async def serve_until_stdin_closes() -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


async def consumer(ticket_file: str | None, timeout: float) -> None:
    async with netobj.Site(host="127.0.0.1", port=0) as site:
        port = netobj.Port()             # created here: this site reads its stream
        total: netobj.Var[int] = netobj.Var()
        tickets = [site.offer(port), site.offer(total)]
        if ticket_file:
            write_tickets(ticket_file, tickets)
        for t in tickets:
            print(t, flush=True)

        async def consume() -> int:
            s = 0
            async for msg in port.stream:
                if is_done(msg):
                    return s
                print(f"got {msg}", flush=True)
                s += msg
            raise RuntimeError("the stream ended without the sentinel")

        s = await asyncio.wait_for(consume(), timeout)
        total.bind(s)                    # owned here: decided at once, seen by every site
        port.close()
        print(f"total {s}", flush=True)
        await serve_until_stdin_closes()  # the producer's site may still be fetching total


async def filter_(consumer_ticket: str, divisor: int, ticket_file: str | None,
                  timeout: float) -> None:
    async with netobj.Site(host="127.0.0.1", port=0) as site:
        out = await asyncio.wait_for(site.take(consumer_ticket), timeout)  # a Port proxy
        port = netobj.Port()
        ticket = site.offer(port)
        if ticket_file:
            write_tickets(ticket_file, [ticket])
        print(ticket, flush=True)

        async def forward() -> tuple[int, int]:
            seen = passed = 0
            async for msg in port.stream:
                if is_done(msg):
                    out.send(msg)
                    return seen, passed
                seen += 1
                if msg % divisor == 0:
                    passed += 1
                    out.send(msg)
            raise RuntimeError("the stream ended without the sentinel")

        seen, passed = await asyncio.wait_for(forward(), timeout)
        port.close()
        print(f"filter passed {passed} of {seen}", flush=True)
        await serve_until_stdin_closes()  # stay up until our messages are surely delivered


async def producer(filter_ticket: str, total_ticket: str, n: int, timeout: float) -> int:
    async with netobj.Site() as site:
        out = await asyncio.wait_for(site.take(filter_ticket), timeout)   # a Port proxy
        total = await asyncio.wait_for(site.take(total_ticket), timeout)  # the consumer's Var
        for i in range(1, n + 1):
            out.send(i)
        out.send(DONE)
        print(f"producer sent 1..{n} and the sentinel", flush=True)
        s: int = await asyncio.wait_for(total, timeout)  # bound by the consumer, not by us
        print(f"producer sees total {s}", flush=True)
        return s


# -- the demo ------------------------------------------------------------------------------

class Proc:
    """A site process whose stdout and stderr go to files (a pipe could fill and stall it)."""

    def __init__(self, tmp: str, name: str, *args: str) -> None:
        self.name = name
        self.out_path = os.path.join(tmp, name + ".out")
        self.err_path = os.path.join(tmp, name + ".err")
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.popen = subprocess.Popen(
                [sys.executable, __file__, name, *args, "--timeout", str(TIMEOUT)],
                stdin=subprocess.PIPE, stdout=out, stderr=err, text=True,
            )

    def stop(self, timeout: float = 10) -> int:
        """Close stdin (a server then exits), wait, kill if it does not; the exit code."""
        if self.popen.stdin is not None and not self.popen.stdin.closed:
            self.popen.stdin.close()
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            return -9

    def output(self) -> list[str]:
        return Path(self.out_path).read_text().splitlines()

    def errors(self) -> str:
        return Path(self.err_path).read_text()

    def tickets(self, lines: int, timeout: float = 30) -> list[str] | None:
        """Wait until the process has printed its tickets (its first ``lines`` lines)."""
        deadline = time.monotonic() + timeout
        while True:
            text = Path(self.out_path).read_text()
            out = text.split("\n")[:-1]  # whole lines only: the last one may be half-written
            tickets = ("netobj://", "netobj+tcp://")
            if len(out) >= lines and all(line.startswith(tickets) for line in out[:lines]):
                return out[:lines]
            if self.popen.poll() is not None or time.monotonic() > deadline:
                print(f"the {self.name} process did not start:\n{self.errors()}",
                      file=sys.stderr)
                return None
            time.sleep(0.05)


def demo(n: int, divisor: int = 3) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        procs: list[Proc] = []
        try:
            cons = Proc(tmp, "consumer")
            procs.append(cons)
            got = cons.tickets(2)
            if got is None:
                return 1
            port_ticket, total_ticket = got
            print(f"consumer (pid {cons.popen.pid}) offers its port: {port_ticket}")
            print(f"    and the unbound Var total: {total_ticket}")

            filt = Proc(tmp, "filter", port_ticket, "--divisor", str(divisor))
            procs.append(filt)
            got = filt.tickets(1)
            if got is None:
                return 1
            print(f"filter (pid {filt.popen.pid}) offers its port: {got[0]}")

            prod = Proc(tmp, "producer", got[0], total_ticket, "-n", str(n))
            procs.append(prod)
            try:
                prod.popen.wait(TIMEOUT + 30)
            except subprocess.TimeoutExpired:
                print("the producer did not finish in time", file=sys.stderr)
                return 1
            print(f"producer (pid {prod.popen.pid}):", *prod.output(), sep="\n  ")
            if prod.popen.returncode != 0:
                print(prod.errors(), file=sys.stderr)
                return prod.popen.returncode or 1

            # the consumer has bound total (the producer saw it): stop the two servers
            for p in (filt, cons):
                code = p.stop()
                print(f"{p.name}:", *p.output()[1 if p is filt else 2:], sep="\n  ")
                if code != 0:
                    print(f"the {p.name} failed:\n{p.errors()}", file=sys.stderr)
                    return code or 1

            expected = [i for i in range(1, n + 1) if i % divisor == 0]
            want = sum(expected)
            received = [int(line.removeprefix("got ")) for line in cons.output()
                        if line.startswith("got ")]
            if received != expected:
                print(f"the consumer received {received}, expected {expected}",
                      file=sys.stderr)
                return 1
            if f"total {want}" not in cons.output():
                print(f"the consumer did not print 'total {want}'", file=sys.stderr)
                return 1
            if f"producer sees total {want}" not in prod.output():
                print(f"the producer did not see total {want}", file=sys.stderr)
                return 1
            print(f"ok: the consumer got the {len(expected)} multiples of {divisor} up to {n} "
                  f"in order; producer and consumer both see total {want}")
            return 0
        finally:
            for p in procs:
                if p.popen.poll() is None:
                    p.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="run the three sites as processes")
    parser.add_argument("-n", type=int, default=30, help="with --demo: numbers to send")
    sub = parser.add_subparsers(dest="cmd")
    c = sub.add_parser("consumer", help="offer a port and a Var total; print what arrives")
    c.add_argument("--ticket-file", help="also write the two tickets to this file")
    f = sub.add_parser("filter", help="forward multiples of DIVISOR to the consumer's port")
    f.add_argument("consumer_ticket")
    f.add_argument("--divisor", type=int, default=3)
    f.add_argument("--ticket-file", help="also write the ticket to this file")
    p = sub.add_parser("producer", help="send 1..N and the sentinel; print the total")
    p.add_argument("filter_ticket")
    p.add_argument("total_ticket")
    p.add_argument("-n", type=int, default=30)
    for s in (c, f, p):
        s.add_argument("--timeout", type=float, default=TIMEOUT,
                       help="seconds to wait for messages or values (default %(default)s)")
    args = parser.parse_args()
    if args.demo:
        return demo(args.n)
    if args.cmd == "consumer":
        asyncio.run(consumer(args.ticket_file, args.timeout))
        return 0
    if args.cmd == "filter":
        asyncio.run(filter_(args.consumer_ticket, args.divisor, args.ticket_file, args.timeout))
        return 0
    if args.cmd == "producer":
        asyncio.run(producer(args.filter_ticket, args.total_ticket, args.n, args.timeout))
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
