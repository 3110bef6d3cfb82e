"""A worker site process for the cached/replicated tests.

    mobile_worker.py count TICKET N MODE      N operations on the object, printing one JSON line
                                              with the history: MODE "inc" (all increments)
                                              or "mixed" (increments and reads)
    mobile_worker.py hold TICKET SECONDS      take the state (inc), print HOLDING, then keep
                                              it with slow_inc(SECONDS)
    mobile_worker.py wait TICKET              print WAITING, then the outcome of one inc()
    mobile_worker.py take TICKET              print the outcome of taking the ticket

Times are time.monotonic(): one clock for every process of the machine, so that histories
from several processes can be checked against real time.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))

import netobj
from netobj.link import LinkConfig

CONFIG = LinkConfig(heartbeat_interval_s=0.2, temp_timeout_s=1.0, redial_max_s=0.2,
                    probe_interval_s=0.2)


async def count(ticket: str, n: int, mode: str) -> None:
    rng = random.Random(os.getpid())
    async with netobj.Site(link_config=CONFIG) as site:
        p = await asyncio.wait_for(site.take(ticket), 30)
        history = []
        for _ in range(n):
            # let the loop run between calls: requests from other sites get their turn
            await asyncio.sleep(0 if rng.random() < 0.9 else 0.001)
            name = "inc" if mode == "inc" or rng.random() < 0.5 else "get"
            t0 = time.monotonic()
            result = await asyncio.wait_for(p.inc(1) if name == "inc" else p.get(), 60)
            history.append([name, t0, time.monotonic(), result])
        entity = object.__getattribute__(p, "_netobj_m")
        moves = getattr(entity, "moves_in", 0) or getattr(entity, "commits", 0)
        print(json.dumps({"pid": os.getpid(), "history": history, "moves": moves}), flush=True)
        # stay until told: the others may still need what this site holds
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def hold(ticket: str, seconds: float) -> None:
    async with netobj.Site(link_config=CONFIG) as site:
        p = await asyncio.wait_for(site.take(ticket), 30)
        await asyncio.wait_for(p.inc(), 30)
        busy = p.slow_inc(seconds)
        print("HOLDING", flush=True)
        await busy


async def wait(ticket: str) -> None:
    async with netobj.Site(link_config=CONFIG) as site:
        p = await asyncio.wait_for(site.take(ticket), 30)
        var = p.inc()
        print("WAITING", flush=True)
        try:
            value = await asyncio.wait_for(var, 120)
        except netobj.PermFailure as exc:
            print("PERMFAILURE", exc, flush=True)
        except Exception as exc:
            print("OTHER", type(exc).__name__, exc, flush=True)
        else:
            print("VALUE", value, flush=True)


async def take(ticket: str) -> None:
    async with netobj.Site(link_config=CONFIG) as site:
        try:
            p = await asyncio.wait_for(site.take(ticket), 30)
        except netobj.NetobjError as exc:
            print("ERROR", type(exc).__name__, exc, flush=True)
        else:
            print("TOOK", type(p).__name__, flush=True)


if __name__ == "__main__":
    if sys.argv[-1] == "--bare-class":
        # This process defines the class without the decorator (same qualified name).
        from tests.support.sites import objects

        objects.MovingCounter = objects.NotDecorated  # type: ignore[misc,assignment]
        objects.NotDecorated.__qualname__ = "MovingCounter"
        import netobj.classes

        netobj.classes._registry.pop("tests.support.sites.objects.MovingCounter", None)
        sys.argv.pop()
    elif sys.argv[-1] == "--no-class":
        sys.argv.pop()
    else:
        from tests.support.sites import objects
    command, *rest = sys.argv[1:]
    if command == "count":
        asyncio.run(count(rest[0], int(rest[1]), rest[2]))
    elif command == "hold":
        asyncio.run(hold(rest[0], float(rest[1])))
    elif command == "wait":
        asyncio.run(wait(rest[0]))
    elif command == "take":
        asyncio.run(take(rest[0]))
    else:
        raise SystemExit(f"unknown command {command}")
