"""The inbound half of a link: frames from the current connection into the session.

Theory of operation
-------------------
An :class:`Inbox` reads the link's current connection (``current()``): by push where the
carrier offers it (the carrier's read callback hands each frame to :meth:`frame_in`, no task
and no future per frame), otherwise with a reader task that pulls frames. For each frame it

1. checks the size bound and parses it (oversized or malformed: that connection closes);
2. tells the liveness machine that the peer was heard (a temp_fail link is ``ok`` again);
3. applies the cumulative ack (an ack of something never sent closes the connection);
4. answers heartbeats, takes goodbyes, and hands each new sequenced envelope, in order and
   once, to ``on_envelope`` (duplicates are counted and dropped; a gap closes the connection);
5. asks the outbox to ack what it received.

Invariants: a frame from a connection that is no longer current is ignored; nothing after a
frame that closed its connection is handled; an exception from ``on_envelope`` is logged and
never stops the reading. The cost is bounded per frame by ``max_frame_bytes``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from google.protobuf.message import DecodeError

from netobj.protocols.liveness import Liveness, Transition
from netobj.protocols.session import AckBeyondSent, SequenceGap, Session
from netobj.transport.base import Connection, ConnectionLost
from netobj.wire import frames
from netobj.wire import netobj_pb2 as pb

__all__ = ["Inbox"]

log = logging.getLogger("netobj.link")


class Inbox:
    """Reads frames from a link's connection and feeds them to its session and liveness."""

    def __init__(
        self,
        *,
        session: Session,
        liveness: Liveness,
        now_ns: Callable[[], int],
        stats: dict[str, int],
        max_frame_bytes: int,
        current: Callable[[], Connection | None],
        on_envelope: Callable[[pb.Envelope], None],
        on_resumed: Callable[[Transition], None],
        on_all_acked: Callable[[], None],
        on_goodbye: Callable[[Connection, bool, str], None],
        on_lost: Callable[[Connection, str], None],
        send_control: Callable[[bytes], None],
        schedule_ack: Callable[[], None],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self._session = session
        self._liveness = liveness
        self._now_ns = now_ns
        self._stats = stats
        self._max_frame_bytes = max_frame_bytes
        self._current = current
        self._on_envelope = on_envelope
        self._on_resumed = on_resumed
        self._on_all_acked = on_all_acked
        self._on_goodbye = on_goodbye
        self._on_lost = on_lost
        self._send_control = send_control
        self._schedule_ack = schedule_ack
        self._spawn = spawn

    def start(self, conn: Connection) -> None:
        """Read ``conn`` until it stops being current."""
        push = getattr(conn, "push", None)
        if push is None:
            self._spawn(self._reader(conn))
            return
        frame_in, current, on_lost = self.frame_in, self._current, self._on_lost

        def on_frame(data: bytes) -> None:  # from the carrier's read callback
            if not frame_in(conn, data) and current() is conn:
                on_lost(conn, "stopped reading")

        def on_closed(reason: str) -> None:
            on_lost(conn, reason or "closed by peer")

        push(on_frame, on_closed)

    async def _reader(self, conn: Connection) -> None:
        """Pull frames (carriers without push); each is handled by :meth:`frame_in`."""
        frame_in, current = self.frame_in, self._current
        try:
            while current() is conn:
                data = await conn.recv()
                if data is None:
                    self._on_lost(conn, "closed by peer")
                    return
                if not frame_in(conn, data):
                    return
        except ConnectionLost as exc:
            self._on_lost(conn, str(exc))
        except asyncio.CancelledError:
            raise

    def frame_in(self, conn: Connection, data: bytes) -> bool:
        """Handle one frame from ``conn``; False once the link stops reading it."""
        if self._current() is not conn:
            return False
        if len(data) > self._max_frame_bytes:
            log.warning("closing connection from %s: frame of %d bytes is over the "
                        "limit of %d", conn.peer, len(data), self._max_frame_bytes)
            self._on_lost(conn, "oversized frame")
            return False
        try:
            frame = frames.parse_frame(data)
        except DecodeError as exc:
            log.warning("closing connection from %s: malformed frame (%s)", conn.peer, exc)
            self._on_lost(conn, "malformed frame")
            return False
        stats = self._stats
        stats["frames_in"] += 1
        resumed = self._liveness.heard(self._now_ns())
        if resumed is not None:
            self._on_resumed(resumed)
        session = self._session
        if frame.ack:
            try:
                if session.acked(frame.ack):
                    self._on_all_acked()
            except AckBeyondSent as exc:
                log.warning("closing connection from %s: %s", conn.peer, exc)
                self._on_lost(conn, "ack beyond sent")
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
                self._on_lost(conn, "sequence gap")
                return False
            try:
                on_envelope(env)
            except Exception:
                log.exception("link to %s: handling envelope %d failed", conn.peer, seq)
        if envelopes and envelopes[-1].seq:
            self._schedule_ack()
        return self._current() is conn

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
            self._on_goodbye(conn, env.goodbye.permanent, env.goodbye.reason)
            return False
        log.warning("closing connection from %s: unexpected %s after the handshake",
                    conn.peer, kind)
        self._on_lost(conn, f"unexpected {kind}")
        return False
