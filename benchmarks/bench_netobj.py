"""netobj: a stationary object for sequential and echo calls, an active one for pipelining."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import netobj
import netobj.site
from benchmarks import _common
from benchmarks._common import (
    CALL_TIMEOUT_S,
    HOST,
    LoopThread,
    ServerProcess,
    check,
    exit_with_parent,
)

NAME = "netobj"


@netobj.stationary
class Calc:
    def add(self, a: int, b: int) -> int:
        return a + b

    def echo(self, b: bytes) -> bytes:
        return b


@netobj.active
class ActiveCalc:
    def add(self, a: int, b: int) -> int:
        return a + b


async def _serve() -> None:
    async with netobj.Site(host=HOST, port=0) as site:
        print("READY", site.offer(Calc()), site.offer(ActiveCalc()), flush=True)
        await asyncio.Event().wait()  # until killed


def serve() -> None:
    loop = netobj.site.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(_serve())


def start_server() -> ServerProcess:
    return _common.start_server(__name__)


class NetobjClient:
    def __init__(self, server: ServerProcess) -> None:
        self._lt = LoopThread("bench-netobj")
        self._site: netobj.Site | None = None
        try:
            self._lt.run(self._connect(server.info[0], server.info[1]), CALL_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    async def _connect(self, stationary_ticket: str, active_ticket: str) -> None:
        self._site = await netobj.Site().start()
        self._calc: Any = await asyncio.wait_for(self._site.take(stationary_ticket), 30)
        self._acalc: Any = await asyncio.wait_for(self._site.take(active_ticket), 30)

    async def _sequential(self, n: int) -> tuple[float, list[int]]:
        calc = self._calc
        lat = [0] * n
        clock = time.perf_counter_ns
        start = clock()
        for i in range(n):
            t0 = clock()
            r = await calc.add(i, 1)
            lat[i] = clock() - t0
            check(r == i + 1, "netobj add")
        return (clock() - start) / 1e9, lat

    async def _pipelined(self, n: int) -> float:
        acalc = self._acalc
        t0 = time.perf_counter()
        pending = [acalc.add(i, 1) for i in range(n)]
        total = 0
        for v in pending:
            total += await v
        elapsed = time.perf_counter() - t0
        check(total == n * (n - 1) // 2 + n, "netobj pipelined sum")
        return elapsed

    async def _echo(self, n: int, payload: bytes) -> tuple[float, list[int]]:
        calc = self._calc
        lat = [0] * n
        clock = time.perf_counter_ns
        start = clock()
        for i in range(n):
            t0 = clock()
            r = await calc.echo(payload)
            lat[i] = clock() - t0
            check(len(r) == len(payload), "netobj echo")
        return (clock() - start) / 1e9, lat

    def sequential(self, n: int) -> tuple[float, list[int]]:
        return self._lt.run(self._sequential(n), CALL_TIMEOUT_S + n * 0.01)

    def pipelined(self, n: int) -> float:
        return self._lt.run(self._pipelined(n), CALL_TIMEOUT_S + n * 0.01)

    def echo(self, n: int, payload: bytes) -> tuple[float, list[int]]:
        return self._lt.run(self._echo(n, payload), CALL_TIMEOUT_S + n * 0.05)

    def close(self) -> None:
        site = self._site
        if site is not None:
            self._site = None
            try:
                self._lt.run(site.aclose(), 10)
            except Exception as exc:
                print(f"netobj: closing the client site failed: {exc!r}", file=sys.stderr)
        self._lt.close()


def connect(server: ServerProcess) -> NetobjClient:
    return NetobjClient(server)


def notes() -> list[str]:
    return [
        "netobj: client and server on uvloop; sequential/echo on a @stationary object, "
        "pipelined on an @active object (all Vars created, then awaited in order)."
    ]


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    exit_with_parent()
    serve()
