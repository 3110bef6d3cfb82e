"""A floor, not a contender: bare uvloop TCP echo of length-prefixed frames.

The server is an ``asyncio.Protocol`` on uvloop that echoes every frame (a 4-byte big-endian
length, then that many bytes) as it arrives; the client, also a Protocol on uvloop, sends one
frame and awaits the echo before sending the next. No serialization, no objects, no
dispatch: what one sequential round trip over loopback TCP costs a Python process at least.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time
from typing import cast

from benchmarks import _common
from benchmarks._common import (
    CALL_TIMEOUT_S,
    HOST,
    LoopThread,
    ServerProcess,
    check,
    exit_with_parent,
    new_loop,
)

NAME = "bare uvloop echo"
#: The workloads this floor takes part in (see benchmarks.samples).
WORKLOADS: tuple[str, ...] = ("sequential", "echo 64 KiB")
HEADER = struct.Struct(">I")
PAIR = struct.Struct("<qq")  # the small payload: 16 bytes, as two ints (like grpc.aio's add)


class _Framer(asyncio.Protocol):
    """Splits the byte stream into length-prefixed frames; ``frame(body)`` gets each."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's TCPTransport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while len(buf) >= 4:
            (size,) = HEADER.unpack_from(buf)
            if len(buf) < 4 + size:
                break
            body = bytes(buf[4 : 4 + size])
            del buf[: 4 + size]
            self.frame(body)

    def frame(self, body: bytes) -> None:
        raise NotImplementedError


class EchoServerProtocol(_Framer):
    def frame(self, body: bytes) -> None:
        assert self.transport is not None
        self.transport.write(HEADER.pack(len(body)) + body)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoServerProtocol, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    print("READY", HOST, port, type(loop).__module__.split(".")[0], flush=True)
    await asyncio.Event().wait()  # until killed


def serve() -> None:
    loop = new_loop(True)
    asyncio.set_event_loop(loop)
    loop.run_until_complete(_serve())


def start_server() -> ServerProcess:
    return _common.start_server(__name__)


class EchoClientProtocol(_Framer):
    def __init__(self) -> None:
        super().__init__()
        self.waiter: asyncio.Future[bytes] | None = None
        self.lost: BaseException | None = None

    def frame(self, body: bytes) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionResetError("echo server closed the connection")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.lost)

    def request(self, body: bytes) -> asyncio.Future[bytes]:
        """Send one frame; the future gets the echo."""
        assert self.transport is not None
        if self.lost is not None:
            raise self.lost
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiter = fut
        self.transport.write(HEADER.pack(len(body)) + body)
        return fut


class EchoClient:
    """Sequential round trips on one connection; only ``sequential`` and ``echo``."""

    def __init__(self, server: ServerProcess) -> None:
        self._lt = LoopThread("bench-uvecho", use_uvloop=True)
        self._proto: EchoClientProtocol | None = None
        try:
            self._lt.run(self._connect(server.info[0], int(server.info[1])), CALL_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    async def _connect(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        _, proto = await asyncio.wait_for(
            loop.create_connection(EchoClientProtocol, host, port), 30
        )
        self._proto = proto

    async def _sequential(self, n: int) -> tuple[float, list[int]]:
        proto = self._proto
        assert proto is not None
        pack = PAIR.pack
        lat = [0] * n
        clock = time.perf_counter_ns
        start = clock()
        for i in range(n):
            t0 = clock()
            body = pack(i, 1)
            r = await proto.request(body)
            lat[i] = clock() - t0
            check(r == body, "bare echo small frame")
        return (clock() - start) / 1e9, lat

    async def _echo(self, n: int, payload: bytes) -> tuple[float, list[int]]:
        proto = self._proto
        assert proto is not None
        lat = [0] * n
        clock = time.perf_counter_ns
        start = clock()
        for i in range(n):
            t0 = clock()
            r = await proto.request(payload)
            lat[i] = clock() - t0
            check(len(r) == len(payload), "bare echo 64 KiB frame")
        return (clock() - start) / 1e9, lat

    def sequential(self, n: int) -> tuple[float, list[int]]:
        return self._lt.run(self._sequential(n), CALL_TIMEOUT_S + n * 0.01)

    def echo(self, n: int, payload: bytes) -> tuple[float, list[int]]:
        return self._lt.run(self._echo(n, payload), CALL_TIMEOUT_S + n * 0.05)

    def close(self) -> None:
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            self._lt.loop.call_soon_threadsafe(proto.transport.close)
        self._lt.close()


def connect(server: ServerProcess) -> EchoClient:
    return EchoClient(server)


def notes() -> list[str]:
    return [
        f"{NAME} (a floor): client and server are asyncio Protocols on uvloop, TCP_NODELAY; "
        f"each request is one frame (4-byte big-endian length + body) written whole, the "
        f"server writes every frame straight back; sequential = a {PAIR.size}-byte body, echo "
        f"= the 64 KiB payload; one frame in flight at a time. No serialization or dispatch.",
    ]


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    exit_with_parent()
    serve()
