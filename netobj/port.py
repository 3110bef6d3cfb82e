"""Ports: asynchronous FIFO channels into a stream that lives on the port's owner.

``port = netobj.Port()`` makes a port and its stream here. ``port.send(msg)`` appends
``msg`` to the stream - at once on the owner, with one one-way message from any other site
(FIFO per sending site, and per thread within it). The owner reads the stream with
``async for msg in port.stream`` (or ``for msg in port.stream`` in a thread); every reader
sees every message from the start, in order, as an Oz stream (a list whose tail is a Var).

Like a Var, a Port belongs to no site until it is first sent: the sending site owns it and
other sites get proxies whose ``send`` travels to the owner. Sending to a port whose owner is
gone permanently does nothing (the message is lost, as in Oz); ``netobj.fault_state(port)``
tells.

Memory: the port keeps its whole stream while the port itself is alive (readers may start
at any time); ``port.close()`` ends the stream (readers then stop) and drops nothing.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

from netobj.errors import SiteClosedError
from netobj.var import Var


class PortHost(Protocol):
    def port_send(self, port: Port, message: object) -> None: ...


class Port:
    __slots__ = ("__weakref__", "_closed", "_lock", "_owner", "_remote", "_stream", "_tail")

    def __init__(self) -> None:
        head: Var[Any] = Var()
        self._tail = head
        self._stream = Stream(head)
        self._lock = threading.Lock()
        self._closed = False
        # (host, ref) for a proxy; (host, key) once this owned port was sent
        self._remote: tuple[PortHost, Any] | None = None
        self._owner: tuple[Any, str] | None = None

    def __repr__(self) -> str:
        if self._remote is not None:
            ref = self._remote[1]
            return f"<Port proxy {ref.key[:6]}… at {ref.address}>"
        return f"<Port{' closed' if self._closed else ''}>"

    def send(self, message: object) -> None:
        """Append ``message`` to the stream (on the owner); returns at once."""
        remote = self._remote
        if remote is not None:
            remote[0].port_send(self, message)
            return
        new: Var[Any] = Var()
        with self._lock:
            if self._closed:
                raise SiteClosedError("the port is closed")
            old, self._tail = self._tail, new
        old._resolve((message, new))

    def close(self) -> None:
        """End the stream here (owner only): readers stop after the last message."""
        if self._remote is not None:
            raise RuntimeError("only the port's owner can close it")
        with self._lock:
            if self._closed:
                return
            self._closed = True
            tail = self._tail
        tail._resolve(None)

    @property
    def stream(self) -> Stream:
        """The messages, in order (owner only)."""
        if self._remote is not None:
            raise RuntimeError("a port's stream lives on its owner site; this is a proxy")
        return self._stream


class Stream:
    """An Oz stream: iterate (async or in a thread) over every message from the start."""

    __slots__ = ("_head",)

    def __init__(self, head: Var[Any]) -> None:
        self._head = head

    def __aiter__(self) -> AsyncIterator[Any]:
        return _Cursor(self._head)

    def __iter__(self) -> Iterator[Any]:
        var = self._head
        while True:
            cell = var.wait()
            if cell is None:
                return
            message, var = cell
            yield message


class _Cursor:
    __slots__ = ("_var",)

    def __init__(self, head: Var[Any]) -> None:
        self._var = head

    def __aiter__(self) -> _Cursor:
        return self

    async def __anext__(self) -> Any:
        cell = await self._var
        if cell is None:
            raise StopAsyncIteration
        message, self._var = cell
        return message
