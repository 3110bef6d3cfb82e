"""Links: one reliable session per peer site, over whatever connection is up.

Theory of operation
-------------------
A :class:`Link` outlives connections. Sequenced envelopes (calls, replies, ...) get
``seq = 1, 2, 3, ...`` per direction and stay in ``_unacked`` until the peer's cumulative ack
covers them. Each side tracks ``in_seq``, the highest seq it delivered; an envelope with
``seq <= in_seq`` is a duplicate and is dropped, one with ``seq > in_seq + 1`` means the stream
skipped something, which a transport never does, so the connection is closed and re-made.
On every new connection both sides send ``Hello(last_received=in_seq)`` and resend the
unacked suffix after the other's ``last_received``. Result: exactly-once FIFO delivery per
site pair across reconnects, until the link is declared ``perm_fail``.

Roles. The site that needed the peer first *dials*; the other *accepts*. After a break only
the dialer redials (the acceptor cannot know a reachable address of a dialer behind a relay
or a NAT). When both dial at once, the connection dialled by the smaller site id wins on
both sides, so they converge on one stream.

Fault state (``ok`` / ``temp_fail`` / ``perm_fail``). Heartbeats go out when a link has been
quiet for ``heartbeat_interval_s`` and are echoed, which measures the round trip. Silence from
the peer for :attr:`Link.temp_after_s` (two heartbeat intervals plus four round-trip timeouts,
within ``temp_timeout_min_s`` .. ``temp_timeout_s``) makes the link ``temp_fail``, and any
traffic makes it ``ok`` again. ``perm_fail`` is final: the dialled address
refuses connections, answers with another incarnation, the peer says goodbye for good, the
link stays ``temp_fail`` for ``perm_timeout_s``, or the program declares it. An acceptor
whose connection broke cannot redial, but it *probes* the peer's advertised address every
``probe_interval_s`` with a bare connect: a refusal there is the same evidence. It probes only
an address on the host the connection came from (behind NAT the advertised address may name
another machine, whose refusal would prove nothing).

Bounds: ``max_unacked`` envelopes may wait for an ack (beyond that sending fails with
TempFailure); frames are at most the transport's ``max_frame_bytes`` (a larger or malformed
inbound frame closes that connection with a logged reason).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

from google.protobuf.message import DecodeError

from netobj.errors import PermFailure, TempFailure
from netobj.transport.base import Connection, ConnectionLost, ConnectRefused, Transport
from netobj.wire import frames
from netobj.wire import netobj_pb2 as pb

log = logging.getLogger("netobj.link")

MAX_UNACKED_DEFAULT: Final = 1_000_000


class FaultState(enum.Enum):
    OK = "ok"
    TEMP_FAIL = "temp_fail"
    PERM_FAIL = "perm_fail"

    def __str__(self) -> str:
        return self.value


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
INITIAL_RTO_S: Final = 0.25


class HandshakeError(Exception):
    """The first frame on a connection was not an acceptable Hello."""


def read_hello(data: bytes | None, max_frame_bytes: int) -> pb.Hello:
    if data is None:
        raise HandshakeError("connection closed before the handshake")
    if len(data) > max_frame_bytes:
        raise HandshakeError(f"handshake frame of {len(data)} bytes over the limit")
    try:
        frame = frames.parse_frame(data)
    except DecodeError as exc:
        raise HandshakeError(f"malformed handshake frame: {exc}") from exc
    if len(frame.envelopes) != 1 or frame.envelopes[0].WhichOneof("body") != "hello":
        raise HandshakeError("first frame is not a Hello")
    hello: pb.Hello = frame.envelopes[0].hello
    if hello.protocol_version != frames.PROTOCOL_VERSION:
        raise HandshakeError(f"unsupported protocol version {hello.protocol_version}")
    if not hello.site_id:
        raise HandshakeError("Hello without a site id")
    return hello


EnvelopeHandler = Callable[["Link", pb.Envelope], None]
StateHandler = Callable[["Link", FaultState, FaultState, str], None]


class Link:
    """The session with one peer site."""

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
        self.state = FaultState.OK
        self.perm_reason = ""
        # sequencing
        self._out_seq = 0
        self._in_seq = 0
        self._acked_by_peer = 0
        self._unacked: deque[tuple[int, bytes]] = deque()
        # Every envelope with seq <= this may have been handed to a connection that is gone;
        # later ones queued while no connection was up were never written anywhere.
        self._written_watermark = 0
        self._sendq: deque[bytes] = deque()
        self._ack_due = False
        # connection
        self._conn: Connection | None = None
        self._conn_dialer = ""  # site id of whoever dialled the current connection
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._dial_task: asyncio.Task[None] | None = None
        self._is_dialer = False
        self._ever_connected = False
        self._closing = False
        self._last_probe = 0.0
        self._probing = False
        # the host an accepted connection came from (probes only an address on that host)
        self._seen_host: str | None = None
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._last_heard = loop.time()
        self._last_sent = loop.time()
        self._temp_since: float | None = None
        # round-trip estimate from echoed heartbeats (RFC 6298 style), seconds
        self.srtt: float | None = None
        self.rttvar = 0.0
        self._ack_timer: asyncio.TimerHandle | None = None
        self._drain_waiter: asyncio.Event | None = None
        # the connection a write is in progress on (the writer's, or a Hello about to go):
        # no direct write may overtake it
        self._busy: Connection | None = None
        self._written = asyncio.Event()
        self._monitor = asyncio.ensure_future(self._monitor_loop())
        self.stats = {"frames_out": 0, "frames_in": 0, "envelopes_out": 0, "resent": 0,
                      "reconnects": 0, "dup_dropped": 0}

    def __repr__(self) -> str:
        return (
            f"<Link {self.our_id[:8]}->{self.peer_id[:8] or '?'} {self.peer_address} "
            f"{self.state} connected={self._conn is not None} out={self._out_seq} "
            f"in={self._in_seq} unacked={len(self._unacked)}>"
        )

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def first_dial(self) -> bool:
        """Dialling a peer never reached yet (what is queued has not been written anywhere)."""
        return (self._conn is None and not self._ever_connected and self._is_dialer
                and self.state is FaultState.OK)

    # -- sending ------------------------------------------------------------------------------

    def next_seq(self) -> int:
        """Reserve the next sequence number (the caller then passes the envelope to send)."""
        if self.state is FaultState.PERM_FAIL:
            raise PermFailure(f"site {self.peer_address} failed permanently: {self.perm_reason}")
        if len(self._unacked) >= self.config.max_unacked:
            raise TempFailure(
                f"link to {self.peer_address} has {len(self._unacked)} unacknowledged "
                f"messages (max_unacked={self.config.max_unacked})"
            )
        self._out_seq += 1
        return self._out_seq

    def send_sequenced(self, seq: int, envelope: bytes, more: bool = False) -> None:
        """Queue a sequenced envelope (serialized with ``seq`` from :meth:`next_seq`).

        ``more``: the caller is sending several now; they go through the writer, which
        batches them into frames. A lone envelope may be written at once (see below).
        """
        self._unacked.append((seq, envelope))
        conn = self._conn
        if conn is not None:
            if (not more and not self._sendq and self._busy is None
                    and conn.send_nowait(frames.build_frame([envelope], self._in_seq))):
                # nothing queued or being written, and the carrier writes synchronously:
                # the same order, one task switch less; the ack rides along
                self._ack_due = False
                if self._ack_timer is not None:
                    self._ack_timer.cancel()
                    self._ack_timer = None
                self.stats["frames_out"] += 1
                self.stats["envelopes_out"] += 1
                self._last_sent = self._loop.time()
                return
            self._sendq.append(envelope)
            self._wake.set()
        elif not self._is_dialer or self._dial_task is None:
            self._ensure_dialing()

    def _send_control(self, envelope: bytes) -> None:
        if self._conn is not None:
            self._sendq.append(envelope)
            self._wake.set()

    # -- connections ----------------------------------------------------------------------

    def start_dialing(self) -> None:
        """Become the dialer for this link and connect (no-op if connected or dialling)."""
        self._is_dialer = True
        self._ensure_dialing()

    def _ensure_dialing(self) -> None:
        if not self._is_dialer:
            # An acceptor waits for the dialer to come back; messages stay in _unacked.
            return
        if self._dial_task is None and self._conn is None and not self._closing:
            if self.state is FaultState.PERM_FAIL:
                return
            self._dial_task = asyncio.ensure_future(self._dial_loop())

    async def _dial_loop(self) -> None:
        delay = 0.0
        try:
            while not self._closing and self.state is not FaultState.PERM_FAIL:
                if self._conn is not None:
                    return
                if delay:
                    await asyncio.sleep(delay)
                delay = min(max(delay * 2, self.config.redial_min_s), self.config.redial_max_s)
                try:
                    conn = await asyncio.wait_for(
                        self._transport.connect(self.peer_address),
                        self.config.handshake_timeout_s,
                    )
                except ConnectRefused as exc:
                    self.declare_perm(f"connection refused by {self.peer_address}: {exc}")
                    return
                except (ConnectionLost, OSError, TimeoutError) as exc:
                    log.debug("dial %s failed: %s", self.peer_address, exc)
                    continue
                try:
                    await self._dial_handshake(conn)
                except ConnectRefused as exc:
                    await conn.close()
                    self.declare_perm(f"connection refused by {self.peer_address}: {exc}")
                    return
                except (ConnectionLost, TimeoutError, HandshakeError, OSError) as exc:
                    log.debug("handshake with %s failed: %s", self.peer_address, exc)
                    await conn.close()
                    continue
                return
        finally:
            self._dial_task = None

    async def _dial_handshake(self, conn: Connection) -> None:
        started = self._loop.time()
        await conn.send(
            frames.hello(self.our_id, self.our_address, self.peer_id, self._in_seq)
        )
        data = await asyncio.wait_for(conn.recv(), self.config.handshake_timeout_s)
        self._rtt_sample(self._loop.time() - started)  # the first round-trip sample
        refusal = _permanent_goodbye(data)
        if refusal is not None:  # the peer declared us failed: so be it, on both sides
            await conn.close()
            self.declare_perm(refusal)
            return
        hello = read_hello(data, self._transport.max_frame_bytes)
        if hello.wrong_incarnation or (self.peer_id and hello.site_id != self.peer_id):
            await conn.close()
            self.declare_perm(
                f"{self.peer_address} is now another incarnation ({hello.site_id[:8]}); "
                f"site {self.peer_id[:8]} is gone"
            )
            return
        if not self._attach(conn, hello, dialer=self.our_id):
            await conn.close()

    async def accept(self, conn: Connection, hello: pb.Hello) -> None:
        """Adopt an inbound connection whose Hello was read by the site; runs until it ends."""
        if not self._attach(conn, hello, dialer=hello.site_id, reply_hello=True):
            # A peer declared failed is never talked to again, even if it answers later:
            # it hears so (and fails its side too).
            dead = self.state is FaultState.PERM_FAIL
            goodbye = (frames.goodbye(f"site {self.our_id[:8]} declared you failed "
                                      f"({self.perm_reason})", True) if dead
                       else frames.goodbye("duplicate", False))
            with contextlib.suppress(ConnectionLost):
                await conn.send(frames.build_frame([goodbye], 0))
            return
        await self._conn_done(conn)

    def _attach(
        self, conn: Connection, hello: pb.Hello, *, dialer: str, reply_hello: bool = False
    ) -> bool:
        if self.state is FaultState.PERM_FAIL or self._closing:
            return False
        if self._conn is not None:
            # Two connections: the one dialled by the smaller site id wins, on both sides.
            if min(dialer, self._conn_dialer) != dialer:
                return False
            old = self._conn
            self._detach(old)
            self._spawn(old.close("replaced"))
        if hello.last_received > self._out_seq:
            log.warning("%r: peer claims seq %d we never sent; refusing connection",
                        self, hello.last_received)
            return False
        if not self.peer_id:
            self.peer_id = hello.site_id
        if hello.address:
            self.peer_address = self.peer_address or hello.address
        if reply_hello:  # accepted: remember where the peer really is
            self._seen_host = _peer_host(conn.peer)
        if self._ever_connected:
            self.stats["reconnects"] += 1
            self.stats["resent"] += len(self._unacked)
        self._ever_connected = True
        self._conn = conn
        self._conn_dialer = dialer
        self._ack(hello.last_received)
        self._sendq = deque(env for _, env in self._unacked)
        # the acceptor's Hello goes first, before any frame written directly
        self._busy = conn if reply_hello else None
        self._spawn(self._writer(conn, reply_hello))
        self._spawn(self._reader(conn))
        self._heard()
        return True

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _conn_done(self, conn: Connection) -> None:
        await self._closed_event(conn).wait()

    def _closed_event(self, conn: Connection) -> asyncio.Event:
        ev = getattr(conn, "_netobj_closed", None)
        if ev is None:
            ev = asyncio.Event()
            conn._netobj_closed = ev  # type: ignore[attr-defined]
        return ev

    def _detach(self, conn: Connection) -> None:
        if self._conn is conn:
            self._written_watermark = self._out_seq
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
            self._ensure_dialing()

    # -- writer / reader --------------------------------------------------------------------

    async def _writer(self, conn: Connection, reply_hello: bool) -> None:
        try:
            if reply_hello:
                try:
                    await conn.send(
                        frames.hello(self.our_id, self.our_address, self.peer_id, self._in_seq)
                    )
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
                self._ack_due = False
                if self._ack_timer is not None:
                    self._ack_timer.cancel()
                    self._ack_timer = None
                data = frames.build_frame(batch, self._in_seq)
                self.stats["frames_out"] += 1
                self.stats["envelopes_out"] += len(batch)
                self._last_sent = self._loop.time()
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
        max_bytes = self._transport.max_frame_bytes
        try:
            while self._conn is conn:
                data = await conn.recv()
                if data is None:
                    self._connection_lost(conn, "closed by peer")
                    return
                if self._conn is not conn:
                    return
                if len(data) > max_bytes:
                    log.warning("closing connection from %s: frame of %d bytes is over the "
                                "limit of %d", conn.peer, len(data), max_bytes)
                    self._connection_lost(conn, "oversized frame")
                    return
                try:
                    frame = frames.parse_frame(data)
                except DecodeError as exc:
                    log.warning("closing connection from %s: malformed frame (%s)",
                                conn.peer, exc)
                    self._connection_lost(conn, "malformed frame")
                    return
                self.stats["frames_in"] += 1
                self._heard()
                if frame.ack:
                    self._ack(frame.ack)
                for env in frame.envelopes:
                    seq = env.seq
                    if seq == 0:
                        if not self._control(conn, env):
                            return
                        continue
                    if seq <= self._in_seq:
                        self.stats["dup_dropped"] += 1
                        continue
                    if seq != self._in_seq + 1:
                        log.warning("closing connection from %s: sequence gap (%d after %d)",
                                    conn.peer, seq, self._in_seq)
                        self._connection_lost(conn, "sequence gap")
                        return
                    self._in_seq = seq
                    try:
                        self._on_envelope(self, env)
                    except Exception:
                        log.exception("%r: handling envelope %d failed", self, seq)
                if frame.envelopes and frame.envelopes[-1].seq:
                    self._schedule_ack()
        except ConnectionLost as exc:
            self._connection_lost(conn, str(exc))
        except asyncio.CancelledError:
            raise

    def _control(self, conn: Connection, env: pb.Envelope) -> bool:
        kind = env.WhichOneof("body")
        if kind == "heartbeat":
            hb = env.heartbeat
            if hb.echo_ns:  # our heartbeat came back: a round-trip sample
                self._rtt_sample((self._now_ns() - hb.echo_ns) / 1e9)
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

    def _ack_now(self) -> None:
        self._ack_timer = None
        self._ack_due = True
        self._wake.set()

    def _ack(self, upto: int) -> None:
        if upto <= self._acked_by_peer:
            return
        self._acked_by_peer = upto
        unacked = self._unacked
        while unacked and unacked[0][0] <= upto:
            unacked.popleft()
        if not unacked and self._drain_waiter is not None:
            self._drain_waiter.set()

    # -- fault state ----------------------------------------------------------------------

    def _now_ns(self) -> int:
        # the loop's clock (virtual in simulations, so schedules replay exactly); never 0
        return int(self._loop.time() * 1e9) + 1

    def _rtt_sample(self, rtt: float) -> None:
        if rtt < 0:
            return
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt

    @property
    def temp_after_s(self) -> float:
        """Silence after which the link is temp_fail: the peer heartbeats every interval
        when quiet, so allow two intervals plus four round-trip timeouts (srtt + 4 rttvar),
        within [temp_timeout_min_s, temp_timeout_s]."""
        cfg = self.config
        rto = (self.srtt + 4 * self.rttvar) if self.srtt is not None else INITIAL_RTO_S
        return min(cfg.temp_timeout_s,
                   max(cfg.temp_timeout_min_s, 2 * cfg.heartbeat_interval_s + 4 * rto))

    def _heard(self) -> None:
        self._last_heard = self._loop.time()
        if self.state is FaultState.TEMP_FAIL:
            self._temp_since = None
            self._set_state(FaultState.OK, "traffic resumed")

    def _set_state(self, new: FaultState, reason: str) -> None:
        old = self.state
        if old is new or old is FaultState.PERM_FAIL:
            return
        self.state = new
        if new is FaultState.PERM_FAIL:
            self.perm_reason = reason
        log.info("link to %s (%s): %s -> %s (%s)", self.peer_address, self.peer_id[:8],
                 old, new, reason)
        self._on_state(self, old, new, reason)

    def undelivered(self) -> list[bytes]:
        """Unacknowledged envelopes never handed to any connection: certainly not delivered
        (useful when the link fails permanently, to take back what must not be lost)."""
        if self._conn is not None:
            return []
        mark = self._written_watermark
        return [env for seq, env in self._unacked if seq > mark]

    def declare_perm(self, reason: str) -> None:
        """Make the link perm_fail for good: queued messages are dropped, nothing is resent."""
        if self.state is FaultState.PERM_FAIL:
            return
        self._set_state(FaultState.PERM_FAIL, reason)
        self._unacked.clear()
        conn = self._conn
        if conn is not None:
            self._detach(conn)
            self._spawn(conn.close(reason))

    async def _monitor_loop(self) -> None:
        cfg = self.config
        tick = min(cfg.heartbeat_interval_s, cfg.temp_timeout_min_s) / 2
        while self.state is not FaultState.PERM_FAIL and not self._closing:
            await asyncio.sleep(tick)
            now = self._loop.time()
            if self._conn is not None and now - self._last_sent >= cfg.heartbeat_interval_s:
                self._last_sent = now
                self._send_control(frames.heartbeat(self._now_ns(), 0))
            silence = now - self._last_heard
            if silence >= self.temp_after_s and self.state is FaultState.OK:
                self._temp_since = now
                self._set_state(FaultState.TEMP_FAIL, f"no traffic for {silence:.1f} s")
            if self.state is FaultState.TEMP_FAIL:
                if self._temp_since is None:
                    self._temp_since = now
                if now - self._temp_since >= cfg.perm_timeout_s:
                    self.declare_perm(f"unreachable for {cfg.perm_timeout_s} s (perm_timeout)")
            if self._conn is None and self._is_dialer:
                self._ensure_dialing()
            elif (self._conn is None and self._ever_connected and self.peer_address
                  and not self._probing and now - self._last_probe >= cfg.probe_interval_s
                  and self._seen_host is not None
                  and self._seen_host == _address_host(self.peer_address)):
                self._last_probe = now
                self._probing = True
                self._spawn(self._probe())

    async def _probe(self) -> None:
        """Acceptor side, no connection: does the peer still listen at its address? Only a
        refusal counts (evidence that the process is gone); a connection is closed at once
        without a Hello (the dialer is the one to reconnect), and silence proves nothing.
        Some carriers connect lazily (gRPC), so the probe also waits briefly for a first
        read, which is where their refusal shows."""
        wait = min(self.config.handshake_timeout_s, 1.0)
        conn: Connection | None = None
        try:
            conn = await asyncio.wait_for(self._transport.connect(self.peer_address), wait)
            await asyncio.wait_for(conn.recv(), wait)
        except ConnectRefused as exc:
            if self._conn is None:
                self.declare_perm(f"connection refused by {self.peer_address} (it dialled us; "
                                  f"its connection broke): {exc}")
        except (ConnectionLost, OSError, TimeoutError) as exc:
            log.debug("probe of %s: %s", self.peer_address, exc or type(exc).__name__)
        finally:
            self._probing = False
            if conn is not None:
                await conn.close("probe")

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
        if not self._unacked or self.state is FaultState.PERM_FAIL:
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
        for t in [self._monitor, self._dial_task, *self._tasks]:
            if t is not None:
                t.cancel()
        self._tasks.clear()


def _permanent_goodbye(data: bytes | None) -> str | None:
    """The reason, if ``data`` is a frame whose first envelope is a permanent Goodbye."""
    if not data:
        return None
    try:
        frame = frames.parse_frame(data)
    except DecodeError:
        return None
    if frame.envelopes and frame.envelopes[0].WhichOneof("body") == "goodbye":
        goodbye = frame.envelopes[0].goodbye
        if goodbye.permanent:
            return goodbye.reason or "the peer said goodbye for good"
    return None


def _address_host(address: str) -> str | None:
    """The host part of a site address ("HOST:PORT", "tcp:HOST:PORT", "[v6]:PORT")."""
    if address.startswith("tcp:"):
        address = address[4:]
    host, sep, _ = address.rpartition(":")
    return host.strip("[]") if sep and host else None


def _peer_host(peer: str) -> str | None:
    """The host a connection came from, from a carrier's peer string (gRPC "ipv4:H:P" or
    "ipv6:%5B...%5D:P", TCP "tcp:('H', P)", simulated "host:connN"); None if unknown."""
    from urllib.parse import unquote

    if peer.startswith(("ipv4:", "ipv6:")):
        return _address_host(unquote(peer[5:]))
    if peer.startswith("tcp:("):
        inner = peer[5:].split(",", 1)[0].strip()
        return inner.strip("'\"") or None
    return _address_host(peer)
