"""Getting a link a connection again: the dialer's redial loop with backoff, and the
acceptor's probe.

Theory of operation
-------------------
The site that needed the peer first *dials*; the other *accepts*. After a break only the
dialer redials (the acceptor cannot know a reachable address of a dialer behind a relay or
a NAT): :class:`Dialer` keeps at most one dial loop running while the link wants a
connection. The first attempt is immediate; after a failure it waits ``redial_min_s``,
doubling up to ``redial_max_s`` (:class:`Backoff`). A connect or handshake the peer refuses
(nobody listens at the address, or a permanent Goodbye, or another incarnation) is evidence
that the peer is gone: the loop stops and reports it; anything else is tried again.

An acceptor whose connection broke cannot redial, but it *probes* the peer's advertised
address every ``probe_interval_s`` with a bare connect (:func:`probe`): a refusal there is
the same evidence. It probes only an address on the host the connection came from (behind
NAT the advertised address may name another machine, whose refusal would prove nothing).

*First dial*: until a dialer's link has had a connection, nothing it queued has been written
anywhere (``Link.first_dial``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from netobj.handshake import HandshakeError, PeerGone
from netobj.transport.base import Connection, ConnectionLost, ConnectRefused, Transport

log = logging.getLogger("netobj.link")


class Backoff:
    """Redial delays: 0, then ``min_s``, doubling, at most ``max_s``."""

    __slots__ = ("delay", "max_s", "min_s")

    def __init__(self, min_s: float, max_s: float) -> None:
        self.min_s, self.max_s = min_s, max_s
        self.delay = 0.0

    def next(self) -> float:
        """The delay before this attempt."""
        delay = self.delay
        self.delay = min(max(delay * 2, self.min_s), self.max_s)
        return delay


class Dialer:
    """The reconnection policy of one link, both roles (see the module docstring).

    ``wanted()``: the link still wants a connection (none up, not closing, not perm_fail);
    ``connected()``: one is up.
    ``handshake(conn)``: runs the Hello exchange and adopts the connection (raising
    HandshakeError, PeerGone or a transport error). ``on_gone(reason)``: the peer is gone.
    """

    def __init__(self, *, transport: Transport, address: Callable[[], str],
                 wanted: Callable[[], bool], connected: Callable[[], bool],
                 handshake: Callable[[Connection], Awaitable[None]],
                 on_gone: Callable[[str], None], redial_min_s: float, redial_max_s: float,
                 connect_timeout_s: float, probe_interval_s: float) -> None:
        self._transport = transport
        self._address = address
        self._wanted = wanted
        self._connected = connected
        self._handshake = handshake
        self._on_gone = on_gone
        self._redial = (redial_min_s, redial_max_s)
        self._timeout_s = connect_timeout_s
        self._probe_interval_s = probe_interval_s
        #: this side dials (and redials); False: it accepts, and may probe
        self.is_dialer = False
        #: the link has had a connection (made by either side)
        self.ever_connected = False
        self.task: asyncio.Task[None] | None = None
        self._last_probe = 0.0
        self.probing: asyncio.Task[None] | None = None
        #: the host an accepted connection came from (probes only an address on that host)
        self.seen_host: str | None = None

    def start(self) -> None:
        """Become the dialer and connect (no-op if connected or dialling)."""
        self.is_dialer = True
        self.ensure()

    def ensure(self) -> None:
        """Dial if this side dials, the link wants a connection and no dial runs."""
        if self.is_dialer and self.task is None and self._wanted():
            self.task = asyncio.ensure_future(self._loop())

    def tick(self, now_s: float, connected: bool) -> None:
        """The periodic check: redial, or probe (acceptor side), as due."""
        if connected:
            return
        if self.is_dialer:
            self.ensure()
            return
        address = self._address()
        if (self.ever_connected and address and self.probing is None
                and now_s - self._last_probe >= self._probe_interval_s
                and self.seen_host is not None and self.seen_host == address_host(address)):
            self._last_probe = now_s
            self.probing = asyncio.ensure_future(self._probe(address))

    def cancel(self) -> None:
        for t in (self.task, self.probing):
            if t is not None:
                t.cancel()

    async def _loop(self) -> None:
        backoff = Backoff(*self._redial)
        try:
            while self._wanted():
                delay = backoff.next()
                if delay:
                    await asyncio.sleep(delay)
                address = self._address()
                try:
                    conn = await asyncio.wait_for(self._transport.connect(address),
                                                  self._timeout_s)
                except ConnectRefused as exc:
                    self._on_gone(f"connection refused by {address}: {exc}")
                    return
                except (ConnectionLost, OSError, TimeoutError) as exc:
                    log.debug("dial %s failed: %s", address, exc)
                    continue
                try:
                    await self._handshake(conn)
                except ConnectRefused as exc:
                    await conn.close()
                    self._on_gone(f"connection refused by {address}: {exc}")
                    return
                except PeerGone as exc:
                    await conn.close()
                    self._on_gone(str(exc))
                    return
                except (ConnectionLost, TimeoutError, HandshakeError, OSError) as exc:
                    log.debug("handshake with %s failed: %s", address, exc)
                    await conn.close()
                    continue
                return
        finally:
            self.task = None

    async def _probe(self, address: str) -> None:
        try:
            refusal = await probe(self._transport, address, min(self._timeout_s, 1.0))
            if refusal is not None and not self._connected():
                self._on_gone(f"connection refused by {address} (it dialled us; its "
                              f"connection broke): {refusal}")
        finally:
            self.probing = None


async def probe(transport: Transport, address: str, wait_s: float) -> str | None:
    """Does a peer still listen at ``address``? The refusal, if it is refused (evidence that
    the process is gone); None otherwise. A connection is closed at once without a Hello
    (the dialer is the one to reconnect), and silence proves nothing. Some carriers connect
    lazily (gRPC), so the probe also waits briefly for a first read, where their refusal
    shows."""
    conn: Connection | None = None
    try:
        conn = await asyncio.wait_for(transport.connect(address), wait_s)
        await asyncio.wait_for(conn.recv(), wait_s)
    except ConnectRefused as exc:
        return str(exc)
    except (ConnectionLost, OSError, TimeoutError) as exc:
        log.debug("probe of %s: %s", address, exc or type(exc).__name__)
    finally:
        if conn is not None:
            await conn.close("probe")
    return None


def address_host(address: str) -> str | None:
    """The host part of a site address ("HOST:PORT", "tcp:HOST:PORT", "[v6]:PORT")."""
    if address.startswith("tcp:"):
        address = address[4:]
    host, sep, _ = address.rpartition(":")
    return host.strip("[]") if sep and host else None


def peer_host(peer: str) -> str | None:
    """The host a connection came from, from a carrier's peer string (gRPC "ipv4:H:P" or
    "ipv6:%5B...%5D:P", TCP "tcp:('H', P)", simulated "host:connN"); None if unknown."""
    if peer.startswith(("ipv4:", "ipv6:")):
        return address_host(unquote(peer[5:]))
    if peer.startswith("tcp:("):
        inner = peer[5:].split(",", 1)[0].strip()
        return inner.strip("'\"") or None
    return address_host(peer)
