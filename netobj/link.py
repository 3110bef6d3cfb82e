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

The pump owns the connection, a writer task (batches queued envelopes into frames; the ack
rides along), a reader task (parses frames, feeds the machines, hands new envelopes to
``on_envelope``), a delayed-ack timer and a monitor task that ticks the failure detector.

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
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

from google.protobuf.message import DecodeError

from netobj import handshake
from netobj.dialer import Dialer
from netobj.dialer import address_host as _address_host
from netobj.dialer import peer_host as _peer_host
from netobj.handshake import HandshakeError, read_hello
from netobj.protocols.liveness import INITIAL_RTO_NS, FaultState, Liveness, Transition
from netobj.protocols.session import MAX_UNACKED_DEFAULT, AckBeyondSent, SequenceGap, Session
from netobj.transport.base import Connection, ConnectionLost, Transport
from netobj.wire import frames
from netobj.wire import netobj_pb2 as pb

__all__ = ["INITIAL_RTO_S", "MAX_UNACKED_DEFAULT", "EnvelopeHandler", "FaultState",
           "HandshakeError", "Link", "LinkConfig", "StateHandler", "_address_host",
           "_peer_host", "read_hello"]

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
        self._max_frame_bytes = transport.max_frame_bytes
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
        self._sendq: deque[bytes] = deque()
        self._ack_due = False
        self._conn: Connection | None = None
        self._conn_dialer = ""  # site id of whoever dialled the current connection
        self._wake = asyncio.Event()
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
        self._ack_timer: asyncio.TimerHandle | None = None
        self._ack_carried = -1  # the ack the last frame out carried
        self._drain_waiter: asyncio.Event | None = None
        # the connection a write is in progress on (the writer's, or a Hello about to go):
        # no direct write may overtake it
        self._busy: Connection | None = None
        self._written = asyncio.Event()
        self._monitor = asyncio.ensure_future(self._monitor_loop())
        self.stats = {"frames_out": 0, "frames_in": 0, "envelopes_out": 0, "resent": 0,
                      "reconnects": 0, "dup_dropped": 0}

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
        conn = self._conn
        if conn is not None:
            if (not more and not self._sendq and self._busy is None
                    and conn.send_nowait(frames.build_frame([envelope], self._session.in_seq))):
                # nothing queued or being written, and the carrier writes synchronously:
                # the same order, one task switch less; the ack rides along
                if self._ack_due or self._ack_timer is not None:
                    self._ack_sent()
                stats = self.stats
                stats["frames_out"] += 1
                stats["envelopes_out"] += 1
                self._liveness.last_sent_ns = self._now_ns()
                return
            self._sendq.append(envelope)
            self._wake.set()
        elif self._dialer.task is None:
            self._dialer.ensure()

    def _send_control(self, envelope: bytes) -> None:
        if self._conn is not None:
            self._sendq.append(envelope)
            self._wake.set()

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
        self._sendq = deque(resend)
        # the acceptor's Hello goes first, before any frame written directly
        self._busy = conn if reply_hello else None
        self._spawn(self._writer(conn, reply_hello))
        self._start_reading(conn)
        self._heard()
        return True

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
            self._sendq.clear()
            self._wake.set()
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

    async def _writer(self, conn: Connection, reply_hello: bool) -> None:
        session, liveness, now_ns, stats = self._session, self._liveness, self._now_ns, self.stats
        try:
            if reply_hello:
                try:
                    await handshake.reply(conn, our_id=self.our_id, our_address=self.our_address,
                                          peer_id=self.peer_id, last_received=session.in_seq)
                finally:
                    self._release(conn)
            while self._conn is conn:
                if not self._sendq and not self._ack_due:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                batch: list[bytes] = []
                size = 0
                q = self._sendq
                limit = frames.MAX_ENVELOPES_PER_FRAME
                while q and len(batch) < limit and size < frames.MAX_BATCH_BYTES:
                    env = q.popleft()
                    batch.append(env)
                    size += len(env)
                if self._ack_due or self._ack_timer is not None:
                    self._ack_sent()
                data = frames.build_frame(batch, session.in_seq)
                stats["frames_out"] += 1
                stats["envelopes_out"] += len(batch)
                liveness.last_sent_ns = now_ns()
                self._busy = conn
                try:
                    await conn.send(data)
                finally:
                    self._release(conn)
        except ConnectionLost as exc:
            self._connection_lost(conn, str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # pragma: no cover - a bug; keep the site alive
            log.exception("%r: writer failed", self)
            self._connection_lost(conn, repr(exc))

    async def _reader(self, conn: Connection) -> None:
        """Pull frames (carriers without push); each is handled by :meth:`_frame_in`."""
        frame_in = self._frame_in
        try:
            while self._conn is conn:
                data = await conn.recv()
                if data is None:
                    self._connection_lost(conn, "closed by peer")
                    return
                if not frame_in(conn, data):
                    return
        except ConnectionLost as exc:
            self._connection_lost(conn, str(exc))
        except asyncio.CancelledError:
            raise

    def _start_reading(self, conn: Connection) -> None:
        push = getattr(conn, "push", None)
        if push is None:
            self._spawn(self._reader(conn))
            return
        frame_in = self._frame_in

        def on_frame(data: bytes) -> None:  # from the carrier's read callback
            if not frame_in(conn, data) and self._conn is conn:
                self._connection_lost(conn, "stopped reading")

        def on_lost(reason: str) -> None:
            self._connection_lost(conn, reason or "closed by peer")

        push(on_frame, on_lost)

    def _frame_in(self, conn: Connection, data: bytes) -> bool:
        """Handle one frame from ``conn``; False once the link stops reading it."""
        if self._conn is not conn:
            return False
        if len(data) > self._max_frame_bytes:
            log.warning("closing connection from %s: frame of %d bytes is over the "
                        "limit of %d", conn.peer, len(data), self._max_frame_bytes)
            self._connection_lost(conn, "oversized frame")
            return False
        try:
            frame = frames.parse_frame(data)
        except DecodeError as exc:
            log.warning("closing connection from %s: malformed frame (%s)", conn.peer, exc)
            self._connection_lost(conn, "malformed frame")
            return False
        stats = self.stats
        stats["frames_in"] += 1
        resumed = self._liveness.heard(self._now_ns())
        if resumed is not None:
            self._notify(resumed)
        session = self._session
        if frame.ack:
            try:
                if session.acked(frame.ack) and self._drain_waiter is not None:
                    self._drain_waiter.set()
            except AckBeyondSent as exc:
                log.warning("closing connection from %s: %s", conn.peer, exc)
                self._connection_lost(conn, "ack beyond sent")
                return False
        envelopes = frame.envelopes
        received, on_envelope = session.received, self._on_envelope
        for env in envelopes:
            seq = env.seq
            if seq == 0:
                if not self._control(conn, env):
                    return False
                continue
            try:
                if not received(seq):
                    stats["dup_dropped"] += 1
                    continue
            except SequenceGap as exc:
                log.warning("closing connection from %s: %s", conn.peer, exc)
                self._connection_lost(conn, "sequence gap")
                return False
            try:
                on_envelope(self, env)
            except Exception:
                log.exception("%r: handling envelope %d failed", self, seq)
        if envelopes and envelopes[-1].seq:
            self._schedule_ack()
        return self._conn is conn

    def _control(self, conn: Connection, env: pb.Envelope) -> bool:
        kind = env.WhichOneof("body")
        if kind == "heartbeat":
            hb = env.heartbeat
            if hb.echo_ns:  # our heartbeat came back: a round-trip sample
                self._liveness.rtt_sample(self._now_ns() - hb.echo_ns)
            elif hb.sent_ns:
                self._send_control(frames.heartbeat(0, hb.sent_ns))
            return True
        if kind == "goodbye":
            if env.goodbye.permanent:
                self._detach(conn)
                self.declare_perm(f"site {self.peer_address} closed: {env.goodbye.reason}")
            else:
                self._connection_lost(conn, f"goodbye: {env.goodbye.reason}")
            return False
        log.warning("closing connection from %s: unexpected %s after the handshake",
                    conn.peer, kind)
        self._connection_lost(conn, f"unexpected {kind}")
        return False

    def _schedule_ack(self) -> None:
        if self._ack_due or self._ack_timer is not None:
            return
        self._ack_timer = self._loop.call_later(self.config.ack_delay_s, self._ack_now)

    # The ack timer is lazy: a frame going out carries the ack and leaves the timer be; when
    # it fires, it sends a bare ack only if frames came in since the last ack went out. So a
    # steady exchange arms one timer per ack_delay_s, not one (and a cancel) per frame.

    def _ack_sent(self) -> None:  # a frame is going out: it carries the ack
        self._ack_due = False
        self._ack_carried = self._session.in_seq

    def _ack_now(self) -> None:
        self._ack_timer = None
        if self._session.in_seq != self._ack_carried:
            self._ack_due = True
            self._wake.set()

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

    def _release(self, conn: Connection) -> None:
        if self._busy is conn:
            self._busy = None
        self._written.set()

    async def _written_out(self) -> None:
        """Wait until everything queued for the current connection has been written."""
        while self._sendq or self._busy is not None:
            self._written.clear()
            await self._written.wait()

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
            self._sendq.append(frames.goodbye(goodbye, True))
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._written_out(), 0.5)
        if conn is not None:
            self._detach(conn)
            await conn.close("site closing")
        self._monitor.cancel()
        self._dialer.cancel()
        for t in self._tasks:
            t.cancel()
        self._tasks.clear()
