"""The plain-TCP carrier: the same frames as gRPC, length-prefixed on an asyncio Protocol.

DESIGN section 9: gRPC stays the interoperable default; this second carrier exists because a
gRPC message costs far more than the Python work of a call, so sequential calls over gRPC
trail Pyro5's plain sockets. Each frame is a 4-byte big-endian length and the frame bytes;
``TCP_NODELAY`` is set. A length over twice ``max_frame_bytes`` closes the connection without
reading it (the link layer reports frames between the two limits with a logged reason).

Addresses of sites on this carrier are written ``tcp:HOST:PORT`` (and their tickets
``netobj+tcp://HOST:PORT/...``), so that every site knows which carrier to dial.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Final, cast

from netobj.transport.base import (
    DEFAULT_MAX_FRAME_BYTES,
    ConnectFailed,
    Connection,
    ConnectionHandler,
    ConnectionLost,
    ConnectRefused,
    Transport,
)

log = logging.getLogger("netobj.transport.tcp")

PREFIX = "tcp:"
_LEN = struct.Struct(">I")


def split_address(address: str) -> tuple[str, int]:
    """``tcp:HOST:PORT`` (or ``HOST:PORT``) -> (host, port)."""
    if address.startswith(PREFIX):
        address = address[len(PREFIX):]
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


#: Written at once while the kernel keeps up; past this many bytes buffered, send() waits.
WRITE_HIGH_WATER: Final = 64 * 1024


class _FrameProtocol(asyncio.Protocol):
    """Cuts the byte stream into frames as it arrives (no task, no future per frame).

    Two ways to take frames, one after the other: ``recv()`` (the handshake reads its
    first frame so), then, once the link calls :meth:`push`, each frame is handed to its
    callback from ``data_received`` itself. Frames that arrived before are handed over
    first, in order. A length over the limit closes the connection without reading on.
    """

    def __init__(self, max_frame_bytes: int) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self._limit = 2 * max_frame_bytes
        self._buf = bytearray()
        self._frames: deque[bytes] = deque()  # read, not yet taken (pull mode)
        self._waiter: asyncio.Future[None] | None = None
        self._on_frame: Callable[[bytes], object] | None = None
        self._on_lost: Callable[[str], object] | None = None
        self._lost: str | None = None  # why the stream ended ("" when the peer closed)
        self._paused = False
        self._drain: asyncio.Future[None] | None = None
        #: Done once connection_made ran (uvloop runs it a loop turn after the factory).
        self.made: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- asyncio callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        _nodelay(transport)
        self.peer = f"tcp:{transport.get_extra_info('peername')}"
        if not self.made.done():
            self.made.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        if not buf and len(data) >= 4:  # the common case: whole frames in one read
            pos, end = 0, len(data)
            while end - pos >= 4:
                (length,) = _LEN.unpack_from(data, pos)
                if length > self._limit:
                    self._too_long(length)
                    return
                if end - pos - 4 < length:
                    break
                self._deliver(data[pos + 4:pos + 4 + length])
                if self._lost is not None:
                    return
                pos += 4 + length
            if pos < end:
                buf += data[pos:] if pos else data
            return
        buf += data
        while len(buf) >= 4:
            (length,) = _LEN.unpack_from(buf, 0)
            if length > self._limit:
                self._too_long(length)
                return
            if len(buf) - 4 < length:
                break
            frame = bytes(buf[4:4 + length])
            del buf[:4 + length]
            self._deliver(frame)
            if self._lost is not None:
                return

    def eof_received(self) -> bool | None:
        self._end("truncated frame" if self._buf else "")
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self._buf and exc is None:
            self._end("truncated frame")
        else:
            self._end("" if exc is None else (str(exc) or type(exc).__name__))
        self._wake_drain()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_drain()

    # -- frames in -------------------------------------------------------------------------

    def _deliver(self, frame: bytes) -> None:
        on_frame = self._on_frame
        if on_frame is not None and not self._frames:
            on_frame(frame)
            return
        self._frames.append(frame)
        self._wake()

    def _too_long(self, length: int) -> None:
        self._buf.clear()
        self._end(f"frame of {length} bytes announced, over the limit")
        if self.transport is not None:
            self.transport.abort()

    def _end(self, reason: str) -> None:
        if self._lost is not None:
            return
        self._lost = reason
        self._wake()
        on_lost = self._on_lost
        if on_lost is not None and not self._frames:
            self._on_frame = self._on_lost = None
            on_lost(reason)

    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    async def recv(self) -> bytes | None:
        while not self._frames:
            if self._lost is not None:
                if self._lost:
                    raise ConnectionLost(self._lost)
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._frames.popleft()

    def push(self, on_frame: Callable[[bytes], object], on_lost: Callable[[str], object]) -> None:
        self._on_frame, self._on_lost = on_frame, on_lost
        if self._frames or self._lost is not None:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        frames = self._frames
        while frames and self._on_frame is not None:
            self._on_frame(frames.popleft())
        if self._lost is not None and not frames and self._on_lost is not None:
            on_lost, self._on_frame, self._on_lost = self._on_lost, None, None
            on_lost(self._lost)

    # -- frames out ------------------------------------------------------------------------

    def _wake_drain(self) -> None:
        d = self._drain
        if d is not None:
            self._drain = None
            if not d.done():
                d.set_result(None)

    async def drain(self) -> None:
        while self._paused and self._lost is None:
            self._drain = asyncio.get_running_loop().create_future()
            await self._drain


class _TcpConnection(Connection):
    def __init__(self, protocol: _FrameProtocol, peer: str) -> None:
        assert protocol.transport is not None
        self.peer = peer
        self._protocol = protocol
        self._transport = protocol.transport
        self._closed = False

    def _write(self, frame: bytes) -> None:
        transport = self._transport
        if len(frame) < 2048:
            transport.write(_LEN.pack(len(frame)) + frame)
        else:  # no copy of a large frame: the header and the frame go out as they are
            transport.writelines((_LEN.pack(len(frame)), frame))

    async def send(self, frame: bytes) -> None:
        if self._closed or self._transport.is_closing() or self._protocol._lost is not None:
            raise ConnectionLost("connection closed")
        try:
            self._write(frame)
            await self._protocol.drain()
        except (ConnectionError, OSError, RuntimeError) as exc:
            raise ConnectionLost(str(exc) or type(exc).__name__) from exc
        if self._protocol._lost:
            raise ConnectionLost(self._protocol._lost)

    def send_nowait(self, frame: bytes) -> bool:
        transport = self._transport
        if self._closed or transport.is_closing() or self._protocol._paused:
            return False
        # only while the kernel keeps up: past the high-water mark, send() waits (drain)
        if transport.get_write_buffer_size() > WRITE_HIGH_WATER:
            return False
        self._write(frame)
        return True

    async def recv(self) -> bytes | None:
        if self._closed:
            return None
        return await self._protocol.recv()

    def push(self, on_frame: Callable[[bytes], object], on_lost: Callable[[str], object]) -> None:
        """From now on, hand each frame to ``on_frame`` as it arrives (from the loop's read
        callback, no task switch) and the end of the stream to ``on_lost`` (its reason: ""
        when the peer closed cleanly). Frames already read come first."""
        self._protocol.push(on_frame, on_lost)

    async def close(self, reason: str = "") -> None:
        if self._closed:
            return
        self._closed = True
        self._transport.close()
        if self._protocol._lost is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._protocol.drain(), 1.0)


class TcpTransport(Transport):
    """Sites over plain TCP (no TLS: run it on trusted networks)."""

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 connect_timeout_s: float = 5.0) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.connect_timeout_s = connect_timeout_s
        self._server: asyncio.Server | None = None
        self._conns: set[_TcpConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen(self, host: str, port: int, handler: ConnectionHandler) -> str:
        loop = asyncio.get_running_loop()

        async def serve(protocol: _FrameProtocol) -> None:
            conn = _TcpConnection(protocol, protocol.peer)
            self._conns.add(conn)
            try:
                await handler(conn)
            except Exception:  # a broken peer must not take the server down
                log.exception("connection handler failed for %s", conn.peer)
            finally:
                self._conns.discard(conn)
                await conn.close()

        def make() -> _FrameProtocol:
            protocol = _FrameProtocol(self.max_frame_bytes)
            task = loop.create_task(_after(protocol.made, serve(protocol)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return protocol

        self._server = await loop.create_server(make, host, port)
        bound = self._server.sockets[0].getsockname()[1]
        return f"{PREFIX}{host}:{bound}"

    async def connect(self, address: str) -> Connection:
        host, port = split_address(address)
        loop = asyncio.get_running_loop()
        async def dial() -> _FrameProtocol:
            _, protocol = await loop.create_connection(
                lambda: _FrameProtocol(self.max_frame_bytes), host, port)
            await protocol.made
            return protocol

        try:
            protocol = await asyncio.wait_for(dial(), self.connect_timeout_s)
        except ConnectionRefusedError as exc:
            raise ConnectRefused(f"connection to {address} refused") from exc
        except (OSError, TimeoutError) as exc:
            raise ConnectFailed(f"cannot connect to {address}: {exc}") from exc
        return _TcpConnection(protocol, address)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._conns):
            await conn.close()
        for task in list(self._tasks):
            task.cancel()


async def _after(made: asyncio.Future[None], serve: Coroutine[Any, Any, None]) -> None:
    try:
        await made
    except BaseException:
        serve.close()
        raise
    await serve
