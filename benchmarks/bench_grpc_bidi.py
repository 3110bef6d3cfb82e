"""A floor, not a contender: raw grpc.aio bidirectional-stream ping-pong.

One bidi stream (the ``AddStream`` generic handler of :mod:`benchmarks.bench_grpc`, raw
bytes, no protobuf); the client writes one message and awaits its one reply before the next.
netobj's gRPC carrier moves its frames over one such stream per link, so this is the floor of
a sequential netobj call on gRPC. The server is its own process (``benchmarks.bench_grpc
serve``), not the grpc.aio system's.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import grpc
import grpc.aio

from benchmarks import _common, bench_grpc
from benchmarks._common import CALL_TIMEOUT_S, LoopThread, ServerProcess, check

NAME = "grpc.aio bidi ping-pong"
#: The workloads this floor takes part in (see benchmarks.samples).
WORKLOADS: tuple[str, ...] = ("sequential",)


def start_server() -> ServerProcess:
    return _common.start_server(bench_grpc.__name__)


class BidiClient:
    """Sequential ping-pong on one bidi stream, opened per run (outside the timing)."""

    def __init__(self, server: ServerProcess) -> None:
        self._lt = LoopThread("bench-grpc-bidi", use_uvloop=bench_grpc.USE_UVLOOP)
        self._channel: grpc.aio.Channel | None = None
        try:
            self._lt.run(self._connect(server.info[0]), CALL_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    async def _connect(self, target: str) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        await asyncio.wait_for(self._channel.channel_ready(), 30)
        self._stream: Any = self._channel.stream_stream(f"/{bench_grpc.SERVICE}/AddStream")

    async def _sequential(self, n: int) -> tuple[float, list[int]]:
        pack, unpack = bench_grpc.PAIR.pack, bench_grpc.ONE.unpack
        call = self._stream(timeout=CALL_TIMEOUT_S + n * 0.01)
        write, read = call.write, call.read
        lat = [0] * n
        clock = time.perf_counter_ns
        start = clock()
        for i in range(n):
            t0 = clock()
            await write(pack(i, 1))
            r = await read()
            lat[i] = clock() - t0
            check(r is not grpc.aio.EOF and unpack(r)[0] == i + 1, "grpc bidi ping-pong")
        elapsed = (clock() - start) / 1e9
        await call.done_writing()
        check(await read() is grpc.aio.EOF, "grpc bidi stream end")
        return elapsed, lat

    def sequential(self, n: int) -> tuple[float, list[int]]:
        return self._lt.run(self._sequential(n), CALL_TIMEOUT_S + n * 0.01)

    def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            try:
                self._lt.run(channel.close(), 10)
            except Exception as exc:
                print(f"grpc bidi: closing the channel failed: {exc!r}", file=sys.stderr)
        self._lt.close()


def connect(server: ServerProcess) -> BidiClient:
    return BidiClient(server)


def notes() -> list[str]:
    loop = "uvloop" if bench_grpc.USE_UVLOOP else "asyncio's default loop"
    return [
        f"{NAME} (a floor): client and server on {loop}, generic handlers, raw bytes; one "
        "stream_stream call per run (opened before the clock starts), then per call "
        "`await call.write(16 bytes)` and `await call.read()` (8 bytes back), one message in "
        "flight at a time.",
    ]
