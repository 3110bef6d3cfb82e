"""netobj: a stationary object for sequential and echo calls, an active one for pipelining,
and a Port (with a stationary Sink that tells how much of it was read) for one-way messages."""

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
    LoopClient,
    LoopThread,
    ServerProcess,
    check,
    close_site,
    exit_with_parent,
)

NAME = "netobj"
#: The carrier (netobj.Site's ``transport``): this module measures gRPC;
#: benchmarks.bench_netobj_tcp runs the same code on the TCP carrier, the default.
CARRIER = "grpc"
#: Every workload (see benchmarks.samples), "sequential async def" included (netobj only).
WORKLOADS: tuple[str, ...] = (
    "sequential",
    "sequential async def",
    "pipelined",
    "echo 64 KiB",
    "one-way messages",
)


@netobj.stationary
class Calc:
    def add(self, a: int, b: int) -> int:
        return a + b

    async def add_async(self, a: int, b: int) -> int:
        """``add`` declared ``async def``: netobj runs it as a coroutine on the server."""
        return a + b

    def echo(self, b: bytes) -> bytes:
        return b


@netobj.active
class ActiveCalc:
    def add(self, a: int, b: int) -> int:
        return a + b


@netobj.stationary
class Sink:
    """Reads a Port's stream on the server; ``seen(total)`` answers once ``total`` are in."""

    def __init__(self, port: netobj.Port) -> None:
        self.count = 0
        self.sum = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._reader = asyncio.ensure_future(self._read(port))

    async def _read(self, port: netobj.Port) -> None:
        async for msg in port.stream:
            self.count += 1
            self.sum += msg
            if self._waiters and self.count >= self._waiters[0][0]:
                ready = [w for w in self._waiters if self.count >= w[0]]
                self._waiters = [w for w in self._waiters if self.count < w[0]]
                for _, fut in ready:
                    if not fut.done():
                        fut.set_result(None)

    async def seen(self, total: int) -> tuple[int, int]:
        """(messages read, their sum), once at least ``total`` messages were read."""
        if self.count < total:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((total, fut))
            self._waiters.sort(key=lambda w: w[0])
            await asyncio.wait_for(fut, CALL_TIMEOUT_S)
        return self.count, self.sum


async def _serve(carrier: str = CARRIER) -> None:
    async with netobj.Site(host=HOST, port=0, transport=carrier) as site:
        port = netobj.Port()
        sink = Sink(port)
        print(
            "READY",
            site.offer(Calc()),
            site.offer(ActiveCalc()),
            site.offer(sink),
            site.offer(port),
            flush=True,
        )
        await asyncio.Event().wait()  # until killed


def serve(carrier: str = CARRIER) -> None:
    loop = netobj.site.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(_serve(carrier))


def start_server() -> ServerProcess:
    return _common.start_server(__name__)


class NetobjClient(LoopClient):
    def __init__(self, server: ServerProcess, carrier: str = CARRIER) -> None:
        self._carrier = carrier
        self._lt = LoopThread("bench-netobj")
        self._site: netobj.Site | None = None
        try:
            self._lt.run(self._connect(*server.info[:4]), CALL_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    async def _connect(
        self, stationary_ticket: str, active_ticket: str, sink_ticket: str, port_ticket: str
    ) -> None:
        self._site = await netobj.Site(transport=self._carrier).start()
        self._calc: Any = await asyncio.wait_for(self._site.take(stationary_ticket), 30)
        self._acalc: Any = await asyncio.wait_for(self._site.take(active_ticket), 30)
        self._sink: Any = await asyncio.wait_for(self._site.take(sink_ticket), 30)
        self._port: netobj.Port = await asyncio.wait_for(self._site.take(port_ticket), 30)
        self._sent = 0  # messages sent to the port so far (the server counts from the start)
        self._sent_sum = 0

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

    async def _sequential_async(self, n: int) -> tuple[float, list[int]]:
        calc = self._calc
        lat = [0] * n
        clock = time.perf_counter_ns
        start = clock()
        for i in range(n):
            t0 = clock()
            r = await calc.add_async(i, 1)
            lat[i] = clock() - t0
            check(r == i + 1, "netobj add_async")
        return (clock() - start) / 1e9, lat

    def sequential_async(self, n: int) -> tuple[float, list[int]]:
        """``await calc.add_async(i, 1)`` n times (an ``async def`` method on the server)."""
        return self._lt.run(self._sequential_async(n), CALL_TIMEOUT_S + n * 0.01)

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

    async def _messages(self, n: int) -> float:
        send = self._port.send
        t0 = time.perf_counter()
        for i in range(n):
            send(i)
        count, total = await self._sink.seen(self._sent + n)
        elapsed = time.perf_counter() - t0
        self._sent += n
        self._sent_sum += n * (n - 1) // 2
        check(count == self._sent and total == self._sent_sum, "netobj port messages")
        return elapsed

    def close(self) -> None:
        site, self._site = self._site, None
        close_site(self._lt, site, "netobj")
        self._lt.close()


def connect(server: ServerProcess) -> NetobjClient:
    return NetobjClient(server)


def notes() -> list[str]:
    return [
        "netobj: client and server on uvloop; sequential/echo on a @stationary object "
        "(sequential async def: the same object's `async def add_async`), "
        "pipelined on an @active object (all Vars created, then awaited in order).",
        "netobj one-way: `port.send(i)` n times on a proxy of a Port owned by the server "
        "process (send returns at once: the loop queues and writes the messages after the "
        "sending loop yields), then `await sink.seen(total)` on a @stationary object of the "
        "server, which answers once the server's reader task (`async for msg in "
        "port.stream`) has read them all; the time includes that call. The server's port "
        "keeps its whole stream (by design), so its memory grows with every message sent.",
    ]


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    exit_with_parent()
    serve()
