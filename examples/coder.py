"""The Coder example (DESIGN.md section 1) as two processes.

    python examples/coder.py serve [--ticket-file F]   # offers a Coder, prints its ticket
    python examples/coder.py take TICKET               # calls get() three times
    python examples/coder.py --demo                    # runs both as two processes

The class is importable on both sites; only the ticket crosses between them.
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


@netobj.stationary
class Coder:
    def __init__(self, seed: int) -> None:
        self.seed = seed

    def get(self) -> int:
        x = self.seed
        self.seed = (self.seed * 23 + 49) % 1001
        return x


async def serve(ticket_file: str | None) -> None:
    async with netobj.Site(host="127.0.0.1", port=0) as site:
        ticket = site.offer(Coder(100))
        if ticket_file:
            tmp = ticket_file + ".tmp"
            Path(tmp).write_text(ticket + "\n")
            os.replace(tmp, ticket_file)  # appears whole, never half-written
        print(ticket, flush=True)
        # serve until stdin closes (the demo) or the process is interrupted
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


async def take(ticket: str) -> list[int]:
    async with netobj.Site() as site:
        c = await site.take(ticket)
        results = [await c.get() for _ in range(3)]
        for x in results:
            print(x)
        return results


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
            print(f"site 1 (pid {server.pid}) offers a Coder: {ticket}")
            client = subprocess.run(
                [sys.executable, __file__, "take", ticket],
                capture_output=True, text=True, timeout=60,
            )
            print(f"site 2 took it and called get() three times:\n{client.stdout}", end="")
            if client.returncode != 0:
                print(client.stderr, file=sys.stderr)
                return client.returncode
            got = [int(line) for line in client.stdout.split()]
            if got != [100, 347, 22]:
                print(f"unexpected results {got}", file=sys.stderr)
                return 1
            print("ok: 100, 347, 22 as on one site")
            return 0
        finally:
            assert server.stdin is not None
            server.stdin.close()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="run both sites as two processes")
    sub = parser.add_subparsers(dest="cmd")
    s = sub.add_parser("serve")
    s.add_argument("--ticket-file")
    t = sub.add_parser("take")
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
