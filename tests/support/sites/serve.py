"""A site process for the tests: offers objects and prints their tickets, one per line.

    python tests/support/sites/serve.py [--port N] [--expose NAME ...]

Prints ``TICKET <name> <ticket>`` for each object, then ``READY``, and serves until its
standard input closes (or it is killed).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))

import netobj
from netobj.link import LinkConfig
from tests.support.sites import objects


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--expose", nargs="*", default=["calc", "coder", "ordered"])
    parser.add_argument("--temp-timeout", type=float, default=4.0)
    parser.add_argument("--carrier", choices=["grpc", "tcp"], default="tcp")
    parser.add_argument("--executor", choices=["threads", "inline"], default="threads")
    args = parser.parse_args()
    config = LinkConfig(heartbeat_interval_s=0.2, temp_timeout_s=args.temp_timeout)
    async with netobj.Site(host=args.host, port=args.port, link_config=config,
                           transport=args.carrier, executor=args.executor) as site:
        made: dict[str, Callable[[], object]] = {
            "calc": lambda: objects.Calc(),
            "coder": lambda: objects.Coder(100),
            "ordered": lambda: objects.Ordered(),
            "var": lambda: netobj.Var(),
            "moving": lambda: objects.MovingCounter(),
            "shared": lambda: objects.SharedCounter(),
            "odd_stationary": lambda: objects.OddStationary(),
            "odd_active": lambda: objects.OddActive(),
            "odd_cached": lambda: objects.OddCached(),
            "odd_replicated": lambda: objects.OddReplicated(),
        }
        for name in args.expose:
            print("TICKET", name, site.offer(made[name]()), flush=True)
        print("READY", site.address, site.id, flush=True)
        loop = asyncio.get_running_loop()
        stdin_closed = asyncio.Event()
        loop.add_reader(sys.stdin.fileno(), lambda: (
            stdin_closed.set() if not os.read(sys.stdin.fileno(), 4096) else None))
        await stdin_closed.wait()


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("NETOBJ_LOG", "WARNING"),
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    from netobj.site import new_event_loop

    loop = new_event_loop()
    loop.run_until_complete(main())
