"""The Coder as an asynchronous (active) object, as two processes.

    python examples/async_coder.py serve [--ticket-file F]   # offers an active Coder(100)
    python examples/async_coder.py take TICKET               # three get()s, then their sum
    python examples/async_coder.py --demo                    # runs both as two processes

``@netobj.active`` runs one call at a time, to completion, in arrival order. The client
issues three ``get()`` calls without waiting: each returns a ``netobj.Var`` at once and the
three calls travel together. Awaiting the Vars afterwards gives 100, 347 and 22 - the same
sequence as three sequential calls - and ``await x1 + await x2 + await x3`` gives 469.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import netobj

TIMEOUT = 30.0  # seconds for any single wait on the network


@netobj.active
class Coder:
    def __init__(self, seed: int) -> None:
        self.seed = seed

    def get(self) -> int:
        x = self.seed
        self.seed = (self.seed * 23 + 49) % 1001
        return x


def write_ticket(ticket_file: str, ticket: str) -> None:
    tmp = ticket_file + ".tmp"
    Path(tmp).write_text(ticket + "\n")
    os.replace(tmp, ticket_file)  # appears whole, never half-written


async def serve(ticket_file: str | None) -> None:
    async with netobj.Site(host="127.0.0.1", port=0) as site:
        ticket = site.offer(Coder(100))
        if ticket_file:
            write_ticket(ticket_file, ticket)
        print(ticket, flush=True)
        # serve until stdin closes (the demo) or the process is interrupted
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


async def take(ticket: str) -> tuple[list[int], int]:
    async with netobj.Site() as site:
        c = await asyncio.wait_for(site.take(ticket), TIMEOUT)
        x1, x2, x3 = c.get(), c.get(), c.get()  # three Vars; nothing awaited yet

        async def total() -> int:
            s: int = await x1 + await x2 + await x3
            return s

        s = await asyncio.wait_for(total(), TIMEOUT)
        values = [x1.result(), x2.result(), x3.result()]
        for x in values:
            print(x)
        print(f"sum {s}")
        return values, s


def demo() -> int:
    """Start the server process, hand its ticket to a client process, check the answers."""
    with tempfile.TemporaryDirectory() as tmp:
        ticket_file = os.path.join(tmp, "coder.ticket")
        server = subprocess.Popen(
            [sys.executable, __file__, "serve", "--ticket-file", ticket_file],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(ticket_file):
                if server.poll() is not None or time.monotonic() > deadline:
                    print("the server process did not start", file=sys.stderr)
                    return 1
                time.sleep(0.05)
            ticket = Path(ticket_file).read_text().strip()
            print(f"site 1 (pid {server.pid}) offers an active Coder: {ticket}")
            try:
                client = subprocess.run(
                    [sys.executable, __file__, "take", ticket],
                    capture_output=True, text=True, timeout=60,
                )
            except subprocess.TimeoutExpired:
                print("the client process did not finish in 60 s", file=sys.stderr)
                return 1
            print("site 2 called get() three times without waiting, then summed the Vars:\n"
                  f"{client.stdout}", end="")
            if client.returncode != 0:
                print(client.stderr, file=sys.stderr)
                return client.returncode or 1
            lines = client.stdout.split("\n")
            try:
                got = [int(line) for line in lines[:3]]
                total = int(lines[3].removeprefix("sum "))
            except (ValueError, IndexError):
                print(f"unexpected output {client.stdout!r}", file=sys.stderr)
                return 1
            if got != [100, 347, 22] or total != 469:
                print(f"unexpected results {got}, sum {total}", file=sys.stderr)
                return 1
            print("ok: 100 + 347 + 22 = 469, in call order")
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
    sub = parser.add_subparsers(dest="cmd")
    s = sub.add_parser("serve", help="offer an active Coder(100) and print its ticket")
    s.add_argument("--ticket-file", help="also write the ticket to this file")
    t = sub.add_parser("take", help="take the Coder and call get() three times")
    t.add_argument("ticket")
    args = parser.parse_args()
    if args.demo:
        return demo()
    if args.cmd == "serve":
        asyncio.run(serve(args.ticket_file))
        return 0
    if args.cmd == "take":
        asyncio.run(take(args.ticket))
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
