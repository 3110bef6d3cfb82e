"""The gRPC transport: one bidirectional stream (``/netobj.v1.Link/Connect``) per connection.

Frames travel as raw bytes (no (de)serializer in gRPC): the link layer parses them, so a
malformed frame is reported and logged by netobj, not swallowed inside gRPC. gRPC errors are
translated here, at the boundary, into the transport exceptions of ``base``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
import grpc.aio

from netobj.transport.base import (
    DEFAULT_MAX_FRAME_BYTES,
    ConnectFailed,
    Connection,
    ConnectionHandler,
    ConnectionLost,
    ConnectRefused,
    Transport,
)

log = logging.getLogger("netobj.transport.grpc")

METHOD = "/netobj.v1.Link/Connect"
_SERVICE = "netobj.v1.Link"


def _options(max_frame_bytes: int) -> list[tuple[str, Any]]:
    # gRPC's own limit sits above ours so that an oversized frame reaches the link layer,
    # which closes the connection with a logged reason; far larger ones gRPC refuses itself.
    limit = 2 * max_frame_bytes + 1024
    return [
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", limit),
        ("grpc.enable_retries", 0),
        ("grpc.so_reuseport", 0),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


def _translate(exc: grpc.aio.AioRpcError, established: bool) -> ConnectionLost:
    details = exc.details() or ""
    if not established and exc.code() == grpc.StatusCode.UNAVAILABLE:
        if "Connection refused" in details or "connection refused" in details:
            return ConnectRefused(details)
        return ConnectFailed(details)
    return ConnectionLost(f"{exc.code().name}: {details}")


class _ClientConnection(Connection):
    def __init__(self, channel: grpc.aio.Channel, address: str) -> None:
        self.peer = address
        self._channel = channel
        multi = channel.stream_stream(METHOD, request_serializer=None, response_deserializer=None)
        self._call: Any = multi()
        self._established = False
        self._closed = False

    async def send(self, frame: bytes) -> None:
        if self._closed:
            raise ConnectionLost("connection closed")
        try:
            await self._call.write(frame)
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc, self._established) from exc
        except (grpc.aio.UsageError, asyncio.InvalidStateError) as exc:
            raise ConnectionLost(str(exc)) from exc

    async def recv(self) -> bytes | None:
        try:
            frame = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc, self._established) from exc
        except asyncio.CancelledError:
            if self._closed:
                return None
            raise
        if frame is grpc.aio.EOF:
            return None
        self._established = True
        return frame  # type: ignore[no-any-return]

    async def close(self, reason: str = "") -> None:
        if self._closed:
            return
        self._closed = True
        self._call.cancel()
        await self._channel.close(grace=None)


class _ServerConnection(Connection):
    def __init__(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.peer = context.peer()
        self._context = context
        self._closed = False
        self.done = asyncio.Event()

    async def send(self, frame: bytes) -> None:
        if self._closed:
            raise ConnectionLost("connection closed")
        try:
            await self._context.write(frame)
        except (grpc.aio.AioRpcError, grpc.aio.AbortError, RuntimeError) as exc:
            raise ConnectionLost(str(exc)) from exc

    async def recv(self) -> bytes | None:
        if self._closed:
            return None
        try:
            frame = await self._context.read()
        except grpc.aio.AioRpcError as exc:
            raise ConnectionLost(f"{exc.code().name}: {exc.details()}") from exc
        except (RuntimeError, asyncio.InvalidStateError) as exc:
            raise ConnectionLost(str(exc)) from exc
        if frame is grpc.aio.EOF:
            return None
        return frame  # type: ignore[no-any-return]

    async def close(self, reason: str = "") -> None:
        if not self._closed:
            self._closed = True
            self.done.set()


class GrpcTransport(Transport):
    """Sites over grpc.aio on TCP (insecure channels: run it on trusted networks)."""

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._server: grpc.aio.Server | None = None
        self._handler: ConnectionHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen(self, host: str, port: int, handler: ConnectionHandler) -> str:
        self._handler = handler
        server = grpc.aio.server(options=_options(self.max_frame_bytes))
        rpc = grpc.stream_stream_rpc_method_handler(
            self._serve, request_deserializer=None, response_serializer=None
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(_SERVICE, {"Connect": rpc}),)
        )
        bound = server.add_insecure_port(f"{host}:{port}")
        if bound == 0:
            raise OSError(f"cannot listen on {host}:{port}")
        await server.start()
        self._server = server
        return f"{host}:{bound}"

    async def _serve(self, request_iterator: Any, context: Any) -> None:
        assert self._handler is not None
        conn = _ServerConnection(context)
        task = asyncio.ensure_future(self._handler(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        done_wait = asyncio.ensure_future(conn.done.wait())
        try:
            await asyncio.wait({task, done_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            done_wait.cancel()
            await conn.close()

    async def connect(self, address: str) -> Connection:
        channel = grpc.aio.insecure_channel(address, options=_options(self.max_frame_bytes))
        return _ClientConnection(channel, address)

    async def aclose(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=0.2)
            self._server = None
        for task in list(self._tasks):
            task.cancel()
