"""A worker site process for the dataflow-variable tests.

    var_worker.py wait TICKET                 take a Var, print WAITING, then its outcome
    var_worker.py race COORD_TICKET NAME V R  R rounds of racing to bind the round's Var to V
    var_worker.py send PORT_TICKET COORD_TICKET TAG N   send (TAG, i) for i < N, then report
"""

from __future__ import annotations

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))

import netobj
from netobj.link import LinkConfig

CONFIG = LinkConfig(heartbeat_interval_s=0.2, temp_timeout_s=1.0, redial_max_s=0.2)


async def wait(ticket: str) -> None:
    async with netobj.Site(link_config=CONFIG) as site:
        var = await asyncio.wait_for(site.take(ticket), 30)
        print("WAITING", flush=True)
        try:
            value = await asyncio.wait_for(var, 60)
        except netobj.PermFailure as exc:
            print("PERMFAILURE", exc, flush=True)
        except Exception as exc:
            print("OTHER", type(exc).__name__, exc, flush=True)
        else:
            print("VALUE", value, flush=True)


async def race(coord_ticket: str, name: str, value: int, rounds: int) -> None:
    async with netobj.Site(link_config=CONFIG) as site:
        coord = await asyncio.wait_for(site.take(coord_ticket), 30)
        for r in range(rounds):
            var, go = await asyncio.wait_for(coord.round(r), 30)
            await asyncio.wait_for(go, 30)
            try:
                ack = var.bind(value)
                if ack is not None:
                    await asyncio.wait_for(ack, 30)
                outcome = "won"
            except netobj.UnificationError:
                outcome = "lost"
            final = await asyncio.wait_for(var, 30)
            await asyncio.wait_for(coord.report(r, name, outcome, final), 30)
        print("DONE", flush=True)


async def send(port_ticket: str, coord_ticket: str, tag: str, n: int) -> None:
    async with netobj.Site(link_config=CONFIG) as site:
        port = await asyncio.wait_for(site.take(port_ticket), 30)
        coord = await asyncio.wait_for(site.take(coord_ticket), 30)
        for i in range(n):
            port.send((tag, i))
            if i % 1000 == 999:
                await asyncio.sleep(0)  # let the writer run while we produce
        # FIFO per link: this call reaches the owner after every message above
        await asyncio.wait_for(coord.sent(tag, n), 60)
        print("DONE", flush=True)


async def send_and_close(port_ticket: str, n: int) -> None:
    """Send n messages and close the site at once: a clean close delivers them all."""
    async with netobj.Site(link_config=CONFIG) as site:
        port = await asyncio.wait_for(site.take(port_ticket), 30)
        for i in range(n):
            port.send(i)
    print("CLOSED", flush=True)


def main() -> None:
    mode, *args = sys.argv[1:]
    if mode == "wait":
        coro = wait(args[0])
    elif mode == "race":
        coro = race(args[0], args[1], int(args[2]), int(args[3]))
    elif mode == "sendclose":
        coro = send_and_close(args[0], int(args[1]))
    elif mode == "send":
        coro = send(args[0], args[1], args[2], int(args[3]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    from netobj.site import new_event_loop

    new_event_loop().run_until_complete(coro)


if __name__ == "__main__":
    main()
