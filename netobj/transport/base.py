"""The transport seam: a tiny interface that the link layer talks to.

A transport moves *frames* (opaque ``bytes``, at most ``max_frame_bytes`` each) over ordered,
reliable-while-it-lasts connections, like a TCP stream or one gRPC bidirectional stream.
It knows nothing of sites, sequence numbers or protocols.

Contract (checked for every implementation by ``netobj.testing.check_transport``):

* ``listen(host, port, handler)`` starts accepting; every inbound connection is passed to
  ``await handler(conn)``, and the connection lives until the handler returns or it is closed.
  Returns the address (``"host:port"``) others can ``connect`` to.
* ``connect(address)`` returns a connected :class:`Connection`, or raises
  :class:`ConnectRefused` (nobody listens there: evidence that a site is gone) or
  :class:`ConnectFailed` (anything else: unreachable, timeout; may succeed later).
* ``Connection.send(frame)`` queues a frame; frames arrive in order, each once, or the
  connection breaks. ``recv()`` returns the next frame, or None once the peer closed;
  either raises :class:`ConnectionLost` when the connection broke.
* ``close()`` is idempotent; pending ``recv()`` calls on both ends then return None or raise.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable

DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024


class ConnectionLost(Exception):
    """A connection broke (reset, stream error, peer vanished)."""


class ConnectFailed(ConnectionLost):
    """Could not connect now (unreachable, timed out); may work later."""


class ConnectRefused(ConnectFailed):
    """Nobody listens at that address: the peer process is gone."""


class Connection(abc.ABC):
    """One ordered, bidirectional frame stream."""

    #: Human-readable description of the other end, for logs.
    peer: str = "?"

    @abc.abstractmethod
    async def send(self, frame: bytes) -> None: ...

    def send_nowait(self, frame: bytes) -> bool:
        """Write ``frame`` now if the carrier can without blocking; False: use ``send``.

        Optional: a carrier whose writes are synchronous (plain TCP) saves the link a task
        switch per frame. The default declines.
        """
        return False

    @abc.abstractmethod
    async def recv(self) -> bytes | None: ...

    @abc.abstractmethod
    async def close(self, reason: str = "") -> None: ...


ConnectionHandler = Callable[[Connection], Awaitable[None]]


class Transport(abc.ABC):
    """Makes connections; one per site."""

    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES

    @abc.abstractmethod
    async def listen(self, host: str, port: int, handler: ConnectionHandler) -> str: ...

    @abc.abstractmethod
    async def connect(self, address: str) -> Connection: ...

    @abc.abstractmethod
    async def aclose(self) -> None: ...
