"""Links: one reliable session per peer site, over whatever connection is up.

Theory of operation
-------------------
A :class:`Link` outlives connections. It is the asyncio pump around three parts that make
the decisions, each with its own theory of operation:

* :mod:`netobj.protocols.session` - sequence numbers, cumulative acks, the resend window and
  de-duplication: exactly-once FIFO delivery per site pair across reconnects, until the
  link is declared ``perm_fail``;
* :mod:`netobj.protocols.liveness` - heartbeats, the round-trip estimate and the fault state
  ``ok`` / ``temp_fail`` / ``perm_fail`` (:attr:`Link.temp_after_s` of silence makes a link
  ``temp_fail``, any traffic ``ok`` again, ``perm_timeout_s`` of ``temp_fail`` ``perm_fail``);
* :mod:`netobj.handshake` (the Hello exchange, both roles) and :mod:`netobj.dialer` (who
  redials, with which backoff; the acceptor's probe).

The pump owns the connection, the :class:`~netobj.link_writer.Outbox` (the outbound half:
queue, writer task, direct writes, the delayed ack), the inbound half here (parses frames,
feeds the machines, hands new envelopes to ``on_envelope``) and a monitor task that ticks
the failure detector.

``perm_fail`` is final: the dialled address refuses connections, answers with another
incarnation, the peer says goodbye for good, the link stays ``temp_fail`` for
``perm_timeout_s``, a probe is refused, or the program declares it.

Bounds: ``max_unacked`` envelopes may wait for an ack (beyond that sending fails with
TempFailure); frames are at most the transport's ``max_frame_bytes`` (a larger or malformed
inbound frame, a sequence gap or an ack of something never sent closes that connection with
a logged reason).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

from netobj import handshake
from netobj.dialer import Dialer
from netobj.dialer import peer_host as _peer_host
from netobj.link_reader import Inbox
from netobj.link_writer import Outbox
from netobj.protocols.liveness import INITIAL_RTO_NS, FaultState, Liveness, Transition
from netobj.protocols.session import MAX_UNACKED_DEFAULT, AckBeyondSent, Session
from netobj.transport.base import Connection, Transport
from netobj.wire import frames
from netobj.wire import netobj_pb2 as pb

__all__ = ["INITIAL_RTO_S", "MAX_UNACKED_DEFAULT", "EnvelopeHandler", "FaultState", "Link",
           "LinkConfig", "StateHandler"]

log = logging.getLogger("netobj.link")

_PERM: Final = FaultState.PERM_FAIL


@dataclass(frozen=True)
class LinkConfig:
    heartbeat_interval_s: float = 1.0
    #: Silence that makes a link temp_fail adapts to the measured round trip (see
    #: Link.temp_after_s): 2 heartbeat intervals plus 4 round-trip timeouts, at least
    #: ``temp_timeout_min_s`` and at most ``temp_timeout_s``.
    temp_timeout_s: float = 4.0
    temp_timeout_min_s: float = 0.5
    perm_timeout_s: float = 60.0
    handshake_timeout_s: float = 5.0
    redial_min_s: float = 0.02
    redial_max_s: float = 1.0
    ack_delay_s: float = 0.005
    max_unacked: int = MAX_UNACKED_DEFAULT
    #: How long a closing site waits for its last messages to be acknowledged.
    close_drain_s: float = 2.0
    #: An acceptor whose connection broke checks this often whether the peer still listens
    #: at its address (a bare connect: refused is evidence that the peer is gone).
    probe_interval_s: float = 1.0


#: The round-trip timeout assumed before the first sample.
INITIAL_RTO_S: Final = INITIAL_RTO_NS / 1e9

EnvelopeHandler = Callable[["Link", pb.Envelope], None]
StateHandler = Callable[["Link", FaultState, FaultState, str], None]


def _clock_ns(loop: asyncio.AbstractEventLoop) -> Callable[[], int]:
    """The loop's clock in nanoseconds (virtual in simulations, so schedules replay
    exactly); never 0."""
    if type(loop).time is asyncio.BaseEventLoop.time and "time" not in vars(loop):
        return time.monotonic_ns  # what loop.time() reads, without a Python frame
    return lambda: int(loop.time() * 1e9) + 1


class Link:
    """The session with one peer site.

    ``next_seq()`` reserves the next sequence number (PermFailure once the link failed,
    TempFailure when ``max_unacked`` envelopes wait); the caller then passes the envelope
    built with it to :meth:`send_sequenced`.
    """

    next_seq: Callable[[], int]

    def __init__(
        self,
        *,
        our_id: str,
        our_address: str,
        peer_id: str,
        peer_address: str,
        transport: Transport,
        config: LinkConfig,
        on_envelope: EnvelopeHandler,
        on_state: StateHandler,
    ) -> None:
        self.our_id = our_id
        self.our_address = our_address
        self.peer_id = peer_id  # "" until the first handshake when dialling by ticket
        self.peer_address = peer_address
        self._transport = transport
        self.config = config
        self._on_envelope = on_envelope
        self._on_state = on_state
        #: the liveness machine's state, mirrored here as a plain attribute (read per call)
        self.state = FaultState.OK
        self.perm_reason = ""
        self._session = session = Session(config.max_unacked, peer_address)
        self.next_seq = session.next_seq  # no frame of our own on the hot path
        self._sent = session.sent
        # what the permanent failure took back, while on_state runs (see undelivered)
        self._taken_back: list[bytes] | None = None
        self._conn: Connection | None = None
        self._conn_dialer = ""  # site id of whoever dialled the current connection
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._now_ns = _clock_ns(loop)
        self._liveness = Liveness(
            heartbeat_interval_s=config.heartbeat_interval_s,
            temp_timeout_min_s=config.temp_timeout_min_s, temp_timeout_s=config.temp_timeout_s,
            perm_timeout_s=config.perm_timeout_s, now_ns=self._now_ns())
        self._dialer = Dialer(
            transport=transport, address=lambda: self.peer_address,
            wanted=self._wants_connection, connected=lambda: self._conn is not None,
            handshake=self._dial_handshake, on_gone=self.declare_perm,
            redial_min_s=config.redial_min_s, redial_max_s=config.redial_max_s,
            connect_timeout_s=config.handshake_timeout_s,
            probe_interval_s=config.probe_interval_s)
        self._drain_waiter: asyncio.Event | None = None
        self.stats = {"frames_out": 0, "frames_in": 0, "envelopes_out": 0, "resent": 0,
                      "reconnects": 0, "dup_dropped": 0}
        self._out = out = Outbox(
            session=session, liveness=self._liveness, now_ns=self._now_ns, stats=self.stats,
            loop=loop, ack_delay_s=config.ack_delay_s, on_lost=self._connection_lost,
            spawn=self._spawn)
        self._out_send = out.send
        self._send_control = out.control
        self._in = Inbox(
            session=session, liveness=self._liveness, now_ns=self._now_ns, stats=self.stats,
            max_frame_bytes=transport.max_frame_bytes, current=lambda: self._conn,
            on_envelope=functools.partial(on_envelope, self), on_resumed=self._notify,
            on_all_acked=self._all_acked, on_goodbye=self._goodbye,
            on_lost=self._connection_lost, send_control=out.control,
            schedule_ack=out.schedule_ack, spawn=self._spawn)
        self._monitor = asyncio.ensure_future(self._monitor_loop())

    def __repr__(self) -> str:
        s = self._session
        return (
            f"<Link {self.our_id[:8]}->{self.peer_id[:8] or '?'} {self.peer_address} "
            f"{self.state} connected={self._conn is not None} out={s.out_seq} "
            f"in={s.in_seq} unacked={s.unacked}>"
        )

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def first_dial(self) -> bool:
        """Dialling a peer never reached yet (what is queued has not been written anywhere)."""
        d = self._dialer
        return (self._conn is None and not d.ever_connected and d.is_dialer
                and self.state is FaultState.OK)

    @property
    def _out_seq(self) -> int:
        return self._session.out_seq

    @property
    def _in_seq(self) -> int:
        return self._session.in_seq

    # -- sending ------------------------------------------------------------------------------

    def send_sequenced(self, seq: int, envelope: bytes, more: bool = False) -> None:
        """Queue a sequenced envelope (serialized with ``seq`` from :meth:`next_seq`).

        ``more``: the caller is sending several now; they go through the writer, which
        batches them into frames. A lone envelope may be written at once (see below).
        """
        self._sent(seq, envelope)
        if self._conn is not None:
            self._out_send(envelope, more)
        elif self._dialer.task is None:
            self._dialer.ensure()

    # -- connections ----------------------------------------------------------------------

    def start_dialing(self) -> None:
        """Become the dialer for this link and connect (no-op if connected or dialling)."""
        self._dialer.start()

    def _wants_connection(self) -> bool:
        return self._conn is None and not self._closing and self.state is not _PERM

    async def _dial_handshake(self, conn: Connection) -> None:
        started = self._now_ns()
        hello = await handshake.dial(
            conn, our_id=self.our_id, our_address=self.our_address, peer_id=self.peer_id,
            peer_address=self.peer_address, last_received=self._session.in_seq,
            max_frame_bytes=self._transport.max_frame_bytes,
            timeout_s=self.config.handshake_timeout_s)
        self._liveness.rtt_sample(self._now_ns() - started)  # the first round-trip sample
        if not self._attach(conn, hello, dialer=self.our_id):
            await conn.close()

    async def accept(self, conn: Connection, hello: pb.Hello) -> None:
        """Adopt an inbound connection whose Hello was read by the site; runs until it ends."""
        if not self._attach(conn, hello, dialer=hello.site_id, reply_hello=True):
            # A peer declared failed is never talked to again, even if it answers later:
            # it hears so (and fails its side too).
            await handshake.refuse(
                conn, our_id=self.our_id,
                dead_reason=self.perm_reason if self.state is _PERM else None)
            return
        await self._closed_event(conn).wait()

    def _attach(
        self, conn: Connection, hello: pb.Hello, *, dialer: str, reply_hello: bool = False
    ) -> bool:
        if self.state is _PERM or self._closing:
            return False
        if self._conn is not None:
            if not handshake.replaces(dialer, self._conn_dialer):
                return False
            old = self._conn
            self._detach(old)
            self._spawn(old.close("replaced"))
        try:
            resend = self._session.reconnected(hello.last_received)
        except AckBeyondSent:
            log.warning("%r: peer claims seq %d we never sent; refusing connection",
                        self, hello.last_received)
            return False
        if not self.peer_id:
            self.peer_id = hello.site_id
        if hello.address and not self.peer_address:
            self.peer_address = self._session.peer = hello.address
        d = self._dialer
        if reply_hello:  # accepted: remember where the peer really is
            d.seen_host = _peer_host(conn.peer)
        if d.ever_connected:
            self.stats["reconnects"] += 1
            self.stats["resent"] += len(resend)
        d.ever_connected = True
        self._conn = conn
        self._conn_dialer = dialer
        if not resend and self._drain_waiter is not None:
            self._drain_waiter.set()
        # the acceptor's Hello goes first, before any frame
        self._out.attach(conn, resend, self._hello_reply(conn) if reply_hello else None)
        self._in.start(conn)
        self._heard()
        return True

    def _hello_reply(self, conn: Connection) -> Callable[[], Awaitable[None]]:
        def reply() -> Awaitable[None]:
            return handshake.reply(conn, our_id=self.our_id, our_address=self.our_address,
                                   peer_id=self.peer_id, last_received=self._session.in_seq)
        return reply

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _closed_event(self, conn: Connection) -> asyncio.Event:
        ev = getattr(conn, "_netobj_closed", None)
        if ev is None:
            ev = asyncio.Event()
            conn._netobj_closed = ev  # type: ignore[attr-defined]
        return ev

    def _detach(self, conn: Connection) -> None:
        if self._conn is conn:
            self._session.disconnected()
            self._conn = None
            self._conn_dialer = ""
            self._out.detach()
        self._closed_event(conn).set()

    def _connection_lost(self, conn: Connection, reason: str) -> None:
        if self._conn is not conn:
            return
        log.debug("%r: connection lost: %s", self, reason)
        self._detach(conn)
        self._spawn(conn.close(reason))
        if not self._closing:
            self._dialer.ensure()

    # -- writer / reader --------------------------------------------------------------------

    def _all_acked(self) -> None:
        if self._drain_waiter is not None:
            self._drain_waiter.set()

    def _goodbye(self, conn: Connection, permanent: bool, reason: str) -> None:
        if permanent:
            self._detach(conn)
            self.declare_perm(f"site {self.peer_address} closed: {reason}")
        else:
            self._connection_lost(conn, f"goodbye: {reason}")

    # -- fault state ----------------------------------------------------------------------

    @property
    def srtt(self) -> float | None:
        """Smoothed round trip, seconds (None before the first sample)."""
        srtt = self._liveness.srtt_ns
        return None if srtt is None else srtt / 1e9

    @property
    def rttvar(self) -> float:
        return self._liveness.rttvar_ns / 1e9

    @property
    def temp_after_s(self) -> float:
        """Silence after which the link is temp_fail: the peer heartbeats every interval
        when quiet, so allow two intervals plus four round-trip timeouts (srtt + 4 rttvar),
        within [temp_timeout_min_s, temp_timeout_s]."""
        return self._liveness.temp_after_ns / 1e9

    def _heard(self) -> None:
        resumed = self._liveness.heard(self._now_ns())
        if resumed is not None:
            self._notify(resumed)

    def _notify(self, t: Transition) -> None:
        self.state = t.new
        if t.new is _PERM:
            self.perm_reason = t.reason
        log.info("link to %s (%s): %s -> %s (%s)", self.peer_address, self.peer_id[:8],
                 t.old, t.new, t.reason)
        self._on_state(self, t.old, t.new, t.reason)

    def undelivered(self) -> list[bytes]:
        """Unacknowledged envelopes never handed to any connection: certainly not delivered
        (useful when the link fails permanently, to take back what must not be lost)."""
        if self._taken_back is not None:
            return self._taken_back
        return self._session.undelivered()

    def declare_perm(self, reason: str) -> None:
        """Make the link perm_fail for good: queued messages are dropped, nothing is resent."""
        t = self._liveness.fail(reason)
        if t is not None:
            self._perm_failed(t)

    def _perm_failed(self, t: Transition) -> None:
        self._taken_back = self._session.close(t.reason)
        try:
            self._notify(t)
        finally:
            self._taken_back = None
        conn = self._conn
        if conn is not None:
            self._detach(conn)
            self._spawn(conn.close(t.reason))

    async def _monitor_loop(self) -> None:
        liveness, dialer, now_ns = self._liveness, self._dialer, self._now_ns
        tick_s = liveness.tick_ns / 1e9
        while self.state is not _PERM and not self._closing:
            await asyncio.sleep(tick_s)
            decision = liveness.tick(now_ns(), self._conn is not None)
            if decision.heartbeat:
                self._send_control(frames.heartbeat(now_ns(), 0))
            for t in decision.transitions:
                if t.new is _PERM:
                    self._perm_failed(t)
                else:
                    self._notify(t)
            if liveness.state is not _PERM:
                dialer.tick(self._loop.time(), self._conn is not None)

    async def drain(self, timeout_s: float) -> bool:
        """Wait (up to ``timeout_s``) until the peer acknowledged everything sent so far."""
        if not self._session.unacked or self.state is _PERM:
            return True
        self._drain_waiter = waiter = asyncio.Event()
        try:
            await asyncio.wait_for(waiter.wait(), timeout_s)
        except TimeoutError:
            return False
        finally:
            self._drain_waiter = None
        return True

    async def aclose(self, goodbye: str | None = None) -> None:
        self._closing = True
        conn = self._conn
        if conn is not None and goodbye is not None:
            # through the writer: a stream takes one write at a time
            self._send_control(frames.goodbye(goodbye, True))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._out.written_out(), 0.5)
        if conn is not None:
            self._detach(conn)
            await conn.close("site closing")
        self._monitor.cancel()
        self._out.close()
        self._dialer.cancel()
        for t in self._tasks:
            t.cancel()
        self._tasks.clear()
