"""A worker site process for the fault tests.

    fault_worker.py watch TICKET     take the Calc, start a long call, print READY, then print
                                     each fault state (STATE <s>) and, at the end, the
                                     outcome of the long call (PENDING <outcome>)
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))

import netobj
from netobj.link import LinkConfig

CONFIG = LinkConfig(heartbeat_interval_s=0.2, temp_timeout_s=2.0, redial_max_s=0.2,
                    probe_interval_s=0.2)


async def watch(ticket: str) -> None:
    async with netobj.Site(link_config=CONFIG) as site:
        calc = await asyncio.wait_for(site.take(ticket), 30)
        assert await asyncio.wait_for(calc.add(1, 1), 30) == 2
        pending = calc.asleep(600)
        stream = netobj.fault_stream(calc)
        print("READY", flush=True)
        async for state in stream:
            print("STATE", state, f"{time.monotonic():.3f}", flush=True)
        try:
            await asyncio.wait_for(pending, 30)
        except netobj.PermFailure as exc:
            print("PENDING PermFailure", exc, flush=True)
        except Exception as exc:
            print("PENDING", type(exc).__name__, exc, flush=True)
        else:
            print("PENDING completed", flush=True)


async def calls(ticket: str, n: int, tag: int) -> None:
    """n record() calls, 25 at a time, paced over several seconds (faults happen meanwhile);
    then check every result and the home's log, and print RESULT."""
    async with netobj.Site(host=os.environ.get("NETOBJ_HOST", "127.0.0.1"),
                           link_config=CONFIG) as site:
        calc = await asyncio.wait_for(site.take(ticket), 30)
        print("STARTED", flush=True)
        results: list[object] = []
        for start in range(0, n, 25):
            batch = [calc.record(tag + i) for i in range(start, min(n, start + 25))]
            results.extend(await asyncio.wait_for(asyncio.gather(*batch), 120))
            await asyncio.sleep(0.03)
        ok = results == [2 * (tag + i) for i in range(n)]
        log = await asyncio.wait_for(calc.get_log(), 60)
        mine = [x for x in log if isinstance(x, int) and tag <= x < tag + n]
        stats = site.statistics()["links"]
        reconnects = sum(link["reconnects"] for link in stats.values())
        print("RESULT", "ok" if ok and mine == [tag + i for i in range(n)] else "bad",
              len(mine), len(set(mine)), reconnects, flush=True)


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "watch":
        asyncio.run(watch(rest[0]))
    elif command == "calls":
        asyncio.run(calls(rest[0], int(rest[1]), int(rest[2])))
    else:
        raise SystemExit(f"unknown command {command}")
