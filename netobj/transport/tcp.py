"""The plain-TCP carrier: the same frames as gRPC, length-prefixed on an asyncio stream.

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


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _TcpConnection(Connection):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 peer: str, max_frame_bytes: int) -> None:
        self.peer = peer
        self._reader = reader
        self._writer = writer
        self._limit = 2 * max_frame_bytes
        self._closed = False

    async def send(self, frame: bytes) -> None:
        if self._closed or self._writer.is_closing():
            raise ConnectionLost("connection closed")
        try:
            self._writer.write(_LEN.pack(len(frame)) + frame)
            await self._writer.drain()
        except (ConnectionError, OSError, RuntimeError) as exc:
            raise ConnectionLost(str(exc) or type(exc).__name__) from exc

    def send_nowait(self, frame: bytes) -> bool:
        transport = self._writer.transport
        if self._closed or transport.is_closing():
            return False
        # only while the kernel keeps up: past the high-water mark, send() waits (drain)
        if transport.get_write_buffer_size() > 64 * 1024:
            return False
        self._writer.write(_LEN.pack(len(frame)) + frame)
        return True

    async def recv(self) -> bytes | None:
        if self._closed:
            return None
        try:
            head = await self._reader.readexactly(4)
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                return None
            raise ConnectionLost("truncated frame length") from exc
        except (ConnectionError, OSError) as exc:
            raise ConnectionLost(str(exc) or type(exc).__name__) from exc
        (length,) = _LEN.unpack(head)
        if length > self._limit:
            raise ConnectionLost(f"frame of {length} bytes announced, over the limit")
        try:
            return await self._reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise ConnectionLost("truncated frame") from exc
        except (ConnectionError, OSError) as exc:
            raise ConnectionLost(str(exc) or type(exc).__name__) from exc

    async def close(self, reason: str = "") -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)


class TcpTransport(Transport):
    """Sites over plain TCP (no TLS: run it on trusted networks)."""

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 connect_timeout_s: float = 5.0) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.connect_timeout_s = connect_timeout_s
        self._server: asyncio.Server | None = None
        self._conns: set[_TcpConnection] = set()

    async def listen(self, host: str, port: int, handler: ConnectionHandler) -> str:
        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            _nodelay(writer)
            peer = writer.get_extra_info("peername")
            conn = _TcpConnection(reader, writer, f"tcp:{peer}", self.max_frame_bytes)
            self._conns.add(conn)
            try:
                await handler(conn)
            except Exception:  # a broken peer must not take the server down
                log.exception("connection handler failed for %s", conn.peer)
            finally:
                self._conns.discard(conn)
                await conn.close()

        self._server = await asyncio.start_server(on_client, host, port)
        bound = self._server.sockets[0].getsockname()[1]
        return f"{PREFIX}{host}:{bound}"

    async def connect(self, address: str) -> Connection:
        host, port = split_address(address)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), self.connect_timeout_s)
        except ConnectionRefusedError as exc:
            raise ConnectRefused(f"connection to {address} refused") from exc
        except (OSError, TimeoutError) as exc:
            raise ConnectFailed(f"cannot connect to {address}: {exc}") from exc
        _nodelay(writer)
        return _TcpConnection(reader, writer, address, self.max_frame_bytes)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._conns):
            await conn.close()
