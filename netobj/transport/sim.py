"""An in-memory simulated network implementing the Transport interface.

Everything random is drawn from one seeded ``random.Random``, so with the virtual-clock
event loop of ``netobj.testing`` a whole multi-site schedule replays exactly from its seed.

Model:

* latency: each frame takes ``latency_s`` (a (low, high) range, drawn per frame); frames on
  one connection stay in order (a TCP-like stream), frames on different connections are
  independent, so messages of different site pairs reorder freely;
* loss: with probability ``loss`` a frame is lost and, as with TCP giving up, its connection
  breaks (both ends see ConnectionLost) - a stream never silently skips a frame;
* partition(a, b): frames between the two hosts are held back (like TCP retransmitting) until
  ``heal``; new connections between them time out (ConnectFailed);
* cut(a, b): every connection between the two hosts breaks now; reconnecting works at once;
* crash(host): the host stops listening and all its connections break; connecting to it is
  refused (ConnectRefused) from then on.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Iterable

from netobj.transport.base import (
    DEFAULT_MAX_FRAME_BYTES,
    ConnectFailed,
    Connection,
    ConnectionHandler,
    ConnectionLost,
    ConnectRefused,
    Transport,
)

_CLOSED = object()


class _SimEnd(Connection):
    def __init__(self, net: SimNetwork, host: str, peer_host: str, peer: str) -> None:
        self.net = net
        self.host = host
        self.peer_host = peer_host
        self.peer = peer
        self.other: _SimEnd | None = None
        self._inbox: deque[object] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._broken: str | None = None
        self._last_delivery = 0.0
        self._held: list[bytes] = []

    # delivery side
    def _push(self, item: object) -> None:
        self._inbox.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _deliver(self, frame: bytes) -> None:
        if not self._closed and self._broken is None:
            self._push(frame)

    def _break(self, reason: str) -> None:
        if self._broken is None and not self._closed:
            self._broken = reason
            self._push(_CLOSED)

    # Connection API
    def send_nowait(self, frame: bytes) -> bool:
        # Like TCP, the simulated stream accepts a frame synchronously (exercising the
        # link's direct-write path); trouble is left to send(), which raises.
        if self._closed or self._broken is not None or len(frame) > self.net.max_frame_bytes:
            return False
        self._enqueue(frame)
        return True

    async def send(self, frame: bytes) -> None:
        if self._closed:
            raise ConnectionLost("connection closed")
        if self._broken is not None:
            raise ConnectionLost(self._broken)
        if len(frame) > self.net.max_frame_bytes:
            raise ConnectionLost("frame over the transport limit")
        self._enqueue(frame)

    def _enqueue(self, frame: bytes) -> None:
        self.net.frames_sent += 1
        self.net.bytes_sent += len(frame)
        if self.net.is_partitioned(self.host, self.peer_host):
            self._held.append(frame)
            self.net._held_ends.add(self)
            return
        self._schedule(frame)

    def _schedule(self, frame: bytes) -> None:
        net, other = self.net, self.other
        assert other is not None
        loop = asyncio.get_running_loop()
        if net.loss and net.rng.random() < net.loss:
            net.frames_lost += 1
            loop.call_later(net.draw_latency(), self._lose)
            return
        # strictly after the previous frame: timers due at the same instant may run in any order
        at = max(loop.time() + net.draw_latency(), self._last_delivery + 1e-6)
        self._last_delivery = at
        loop.call_at(at, other._deliver, frame)

    def _lose(self) -> None:
        self._break("frame lost: connection broke")
        if self.other is not None:
            self.other._break("frame lost: connection broke")

    def _release_held(self) -> None:
        held, self._held = self._held, []
        if self._closed or self._broken is not None:
            return
        for frame in held:
            self._schedule(frame)

    async def recv(self) -> bytes | None:
        while not self._inbox:
            if self._closed:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._inbox.popleft()
        if item is _CLOSED:
            self._inbox.appendleft(item)
            if self._broken == "peer closed":
                return None
            raise ConnectionLost(self._broken or "connection broke")
        return item  # type: ignore[return-value]

    async def close(self, reason: str = "") -> None:
        if self._closed:
            return
        self._closed = True
        self.net._ends.discard(self)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        other = self.other
        if other is not None and not other._closed:
            delay = self.net.draw_latency()
            asyncio.get_running_loop().call_later(delay, other._break, "peer closed")


class SimTransport(Transport):
    """One host's view of a :class:`SimNetwork`."""

    def __init__(self, net: SimNetwork, host: str) -> None:
        self.net = net
        self.host = host
        self.max_frame_bytes = net.max_frame_bytes
        self._addresses: list[str] = []

    async def listen(self, host: str, port: int, handler: ConnectionHandler) -> str:
        if port == 0:
            port = self.net._next_port()
        address = f"{self.host}:{port}"
        if address in self.net._listeners:
            raise OSError(f"address {address} already in use")
        self.net._listeners[address] = (self.host, handler)
        self._addresses.append(address)
        return address

    async def connect(self, address: str) -> Connection:
        net = self.net
        dst_host = address.rsplit(":", 1)[0]
        await asyncio.sleep(net.draw_latency())
        if net.is_partitioned(self.host, dst_host) or self.host in net._crashed:
            await asyncio.sleep(net.connect_timeout_s)
            raise ConnectFailed(f"connect to {address} timed out")
        entry = net._listeners.get(address)
        if entry is None:
            raise ConnectRefused(f"connection to {address} refused")
        _, handler = entry
        client = _SimEnd(net, self.host, dst_host, address)
        server = _SimEnd(net, dst_host, self.host, f"{self.host}:conn{net._next_port()}")
        client.other, server.other = server, client
        net._ends.update((client, server))
        task = asyncio.ensure_future(self._serve(handler, server))
        net._tasks.add(task)
        task.add_done_callback(net._tasks.discard)
        return client

    @staticmethod
    async def _serve(handler: ConnectionHandler, end: _SimEnd) -> None:
        try:
            await handler(end)
        finally:
            await end.close()

    async def aclose(self) -> None:
        for address in self._addresses:
            self.net._listeners.pop(address, None)
        self._addresses.clear()


class SimNetwork:
    """A seeded in-memory network; make one transport per simulated host."""

    def __init__(
        self,
        seed: int = 0,
        *,
        latency_s: tuple[float, float] = (0.0005, 0.005),
        loss: float = 0.0,
        connect_timeout_s: float = 2.0,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.latency_s = latency_s
        self.loss = loss
        self.connect_timeout_s = connect_timeout_s
        self.max_frame_bytes = max_frame_bytes
        self.frames_sent = 0
        self.frames_lost = 0
        self.bytes_sent = 0
        self._listeners: dict[str, tuple[str, ConnectionHandler]] = {}
        self._ends: set[_SimEnd] = set()
        self._held_ends: set[_SimEnd] = set()
        self._partitions: set[frozenset[str]] = set()
        self._crashed: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._port = 1000

    def __repr__(self) -> str:
        return (
            f"<SimNetwork seed={self.seed} frames={self.frames_sent} lost={self.frames_lost} "
            f"partitions={len(self._partitions)}>"
        )

    def _next_port(self) -> int:
        self._port += 1
        return self._port

    def draw_latency(self) -> float:
        low, high = self.latency_s
        return low if high <= low else self.rng.uniform(low, high)

    def transport(self, host: str) -> SimTransport:
        """A transport for a new simulated host named ``host``."""
        return SimTransport(self, host)

    def is_partitioned(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self._partitions

    def partition(self, a: str, b: str) -> None:
        """Hold back all traffic between hosts ``a`` and ``b`` until :meth:`heal`."""
        self._partitions.add(frozenset((a, b)))

    def heal(self, a: str | None = None, b: str | None = None) -> None:
        """End the partition between ``a`` and ``b`` (all partitions with no arguments)."""
        if a is None:
            self._partitions.clear()
        else:
            self._partitions.discard(frozenset((a, b or a)))
        for end in list(self._held_ends):
            if not self.is_partitioned(end.host, end.peer_host):
                self._held_ends.discard(end)
                end._release_held()

    def _ends_between(self, a: str, b: str | None) -> Iterable[_SimEnd]:
        for end in list(self._ends):
            if end.host == a and (b is None or end.peer_host == b):
                yield end
            elif b is None and end.peer_host == a:
                yield end

    def cut(self, a: str, b: str | None = None) -> int:
        """Break every connection between ``a`` and ``b`` (or all of ``a``'s); returns how many."""
        n = 0
        for end in self._ends_between(a, b):
            end._break("connection cut")
            if end.other is not None:
                end.other._break("connection cut")
            n += 1
        return n

    def crash(self, host: str) -> None:
        """The host dies: it stops listening and every connection of it breaks."""
        self._crashed.add(host)
        for address, (h, _) in list(self._listeners.items()):
            if h == host:
                del self._listeners[address]
        self.cut(host)
