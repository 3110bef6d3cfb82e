"""Raw grpc.aio with a generic handler (raw bytes, no protobuf): the floor netobj builds on."""

from __future__ import annotations

import asyncio
import os
import struct
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio

from benchmarks import _common
from benchmarks._common import (
    CALL_TIMEOUT_S,
    HOST,
    LoopClient,
    LoopThread,
    ServerProcess,
    check,
    exit_with_parent,
    new_loop,
)

NAME = "grpc.aio"
SERVICE = "bench.Bench"
PAIR = struct.Struct("<qq")
ONE = struct.Struct("<q")
# uvloop for grpc.aio too, as for netobj; BENCH_GRPC_UVLOOP=0 falls back to asyncio's loop.
USE_UVLOOP = os.environ.get("BENCH_GRPC_UVLOOP", "1") != "0"


async def _add(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    a, b = PAIR.unpack(request)
    return ONE.pack(a + b)


async def _add_stream(
    requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
) -> AsyncIterator[bytes]:
    async for request in requests:
        a, b = PAIR.unpack(request)
        yield ONE.pack(a + b)


async def _echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def _sink(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> bytes:
    count = total = 0
    unpack = ONE.unpack
    async for request in requests:
        count += 1
        total += unpack(request)[0]
    return PAIR.pack(count, total)


async def _serve() -> None:
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            # no (de)serializers: requests and replies are raw bytes
            "Add": grpc.unary_unary_rpc_method_handler(_add),
            "AddStream": grpc.stream_stream_rpc_method_handler(_add_stream),
            "Echo": grpc.unary_unary_rpc_method_handler(_echo),
            "Sink": grpc.stream_unary_rpc_method_handler(_sink),
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(f"{HOST}:0")
    await server.start()
    loop_kind = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print("READY", f"{HOST}:{port}", loop_kind, flush=True)
    await server.wait_for_termination()


def serve() -> None:
    loop = new_loop(USE_UVLOOP)
    asyncio.set_event_loop(loop)
    loop.run_until_complete(_serve())


def start_server() -> ServerProcess:
    return _common.start_server(__name__)


class GrpcClient(LoopClient):
    def __init__(self, server: ServerProcess) -> None:
        self.server_loop = server.info[1] if len(server.info) > 1 else "?"
        self._lt = LoopThread("bench-grpc", use_uvloop=USE_UVLOOP)
        self._channel: grpc.aio.Channel | None = None
        try:
            self._lt.run(self._connect(server.info[0]), CALL_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    async def _connect(self, target: str) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        await asyncio.wait_for(self._channel.channel_ready(), 30)
        self._add: Any = self._channel.unary_unary(f"/{SERVICE}/Add")
        self._add_stream: Any = self._channel.stream_stream(f"/{SERVICE}/AddStream")
        self._echo_stub: Any = self._channel.unary_unary(f"/{SERVICE}/Echo")
        self._sink: Any = self._channel.stream_unary(f"/{SERVICE}/Sink")

    async def _sequential(self, n: int) -> tuple[float, list[int]]:
        add = self._add
        pack, unpack = PAIR.pack, ONE.unpack
        lat = [0] * n
        clock = time.perf_counter_ns
        start = clock()
        for i in range(n):
            t0 = clock()
            r = await add(pack(i, 1), timeout=CALL_TIMEOUT_S)
            lat[i] = clock() - t0
            check(unpack(r)[0] == i + 1, "grpc add")
        return (clock() - start) / 1e9, lat

    async def _pipelined(self, n: int) -> float:
        pack, unpack = PAIR.pack, ONE.unpack
        t0 = time.perf_counter()
        call = self._add_stream(timeout=CALL_TIMEOUT_S + n * 0.01)

        async def writer() -> None:
            for i in range(n):
                await call.write(pack(i, 1))
            await call.done_writing()

        async def reader() -> int:
            total = 0
            for _ in range(n):
                r = await call.read()
                check(r is not grpc.aio.EOF, "grpc stream ended early")
                total += unpack(r)[0]
            return total

        _, total = await asyncio.gather(writer(), reader())
        elapsed = time.perf_counter() - t0
        check(total == n * (n - 1) // 2 + n, "grpc stream sum")
        return elapsed

    async def _echo(self, n: int, payload: bytes) -> tuple[float, list[int]]:
        echo = self._echo_stub
        lat = [0] * n
        clock = time.perf_counter_ns
        start = clock()
        for i in range(n):
            t0 = clock()
            r = await echo(payload, timeout=CALL_TIMEOUT_S)
            lat[i] = clock() - t0
            check(len(r) == len(payload), "grpc echo")
        return (clock() - start) / 1e9, lat

    async def _messages(self, n: int) -> float:
        pack = ONE.pack
        t0 = time.perf_counter()
        call = self._sink(timeout=CALL_TIMEOUT_S + n * 0.01)
        for i in range(n):
            await call.write(pack(i))
        await call.done_writing()
        r = await call
        elapsed = time.perf_counter() - t0
        check(PAIR.unpack(r) == (n, n * (n - 1) // 2), "grpc client stream")
        return elapsed

    def close(self) -> None:
        channel = self._channel
        if channel is not None:
            self._channel = None
            try:
                self._lt.run(channel.close(), 10)
            except Exception as exc:
                print(f"grpc: closing the channel failed: {exc!r}", file=sys.stderr)
        self._lt.close()


def connect(server: ServerProcess) -> GrpcClient:
    return GrpcClient(server)


def notes() -> list[str]:
    loop = "uvloop" if USE_UVLOOP else "asyncio's default loop"
    return [
        f"grpc.aio: client and server on {loop}; generic handlers, raw bytes (struct-packed "
        "ints), unary Add/Echo; pipelined = one bidi stream, a writer task and a reader "
        "task running concurrently.",
        "grpc.aio one-way: one client-streaming call (stream_unary), `await call.write(b)` "
        "per message, then done_writing(); the server counts the messages and replies with "
        "the count once the stream ends, included in the time.",
    ]


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    exit_with_parent()
    serve()
