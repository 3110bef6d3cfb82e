"""The outbound half of a link: what goes to the current connection, in order.

Theory of operation
-------------------
An :class:`Outbox` serves one :class:`~netobj.link.Link` and at most one connection at a
time (:meth:`attach` / :meth:`detach`). Envelopes reach it already sequenced (the session
has recorded them for resending); the outbox only decides *when* and *in which frame* each is
written:

* a lone envelope, with nothing queued and no write in progress, is written at once when the
  carrier can write without waiting (``send_nowait``): the same order, one task switch less;
* anything else is queued, and the writer task batches the queue into frames of at most
  ``MAX_ENVELOPES_PER_FRAME`` envelopes and about ``MAX_BATCH_BYTES``;
* every frame carries the cumulative ack; when frames come in and none goes out, the lazy
  ack timer sends a bare ack after ``ack_delay_s`` (one timer per ``ack_delay_s`` of steady
  traffic, not a schedule and a cancel per frame).

Invariants: per connection, frames are written in the order their envelopes were given
(``busy`` names the connection a write is in progress on, and no direct write overtakes it);
an acceptor's Hello reply (``first``) is written before any frame; the queue is emptied when
the connection goes (the session resends what was not acknowledged on the next one).

The queue is bounded by the session's ``max_unacked`` (nothing is queued that the session
did not admit), plus the control envelopes (heartbeats, goodbye) the link adds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from netobj.protocols.liveness import Liveness
from netobj.protocols.session import Session
from netobj.transport.base import Connection, ConnectionLost
from netobj.wire import frames

__all__ = ["Outbox"]

log = logging.getLogger("netobj.link")


class Outbox:
    """Queue, writer task, direct writes and the delayed ack for one link."""

    def __init__(
        self,
        *,
        session: Session,
        liveness: Liveness,
        now_ns: Callable[[], int],
        stats: dict[str, int],
        loop: asyncio.AbstractEventLoop,
        ack_delay_s: float,
        on_lost: Callable[[Connection, str], None],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self._session = session
        self._liveness = liveness
        self._now_ns = now_ns
        self._stats = stats
        self._loop = loop
        self._ack_delay_s = ack_delay_s
        self._on_lost = on_lost
        self._spawn = spawn
        self.conn: Connection | None = None
        self._q: deque[bytes] = deque()
        self._wake = asyncio.Event()
        # the connection a write is in progress on (the writer's, or a Hello about to go):
        # no direct write may overtake it
        self._busy: Connection | None = None
        self._written = asyncio.Event()
        self._ack_due = False
        self._ack_timer: asyncio.TimerHandle | None = None
        self._ack_carried = -1  # the ack the last frame out carried

    # -- connections ----------------------------------------------------------------------

    def attach(self, conn: Connection, resend: list[bytes],
               first: Callable[[], Awaitable[None]] | None = None) -> None:
        """Serve ``conn``: ``first`` (the acceptor's Hello reply) goes out before anything,
        then ``resend`` (what the peer had not received), then what is sent from now on."""
        self.conn = conn
        self._q = deque(resend)
        self._busy = conn if first is not None else None
        self._spawn(self._writer(conn, first))

    def detach(self) -> None:
        """The connection is gone: forget what was queued for it (the session resends)."""
        self.conn = None
        self._q.clear()
        self._wake.set()

    # -- sending --------------------------------------------------------------------------

    def send(self, envelope: bytes, more: bool) -> None:
        """Write ``envelope`` to the current connection (there must be one), at once when
        possible; ``more``: others follow now, so queue it for the writer to batch."""
        conn = self.conn
        assert conn is not None
        if (not more and not self._q and self._busy is None
                and conn.send_nowait(frames.build_frame([envelope], self._session.in_seq))):
            if self._ack_due or self._ack_timer is not None:
                self._ack_sent()
            stats = self._stats
            stats["frames_out"] += 1
            stats["envelopes_out"] += 1
            self._liveness.last_sent_ns = self._now_ns()
            return
        self._q.append(envelope)
        self._wake.set()

    def control(self, envelope: bytes) -> None:
        """Queue an unsequenced envelope (heartbeat, goodbye) if a connection is up."""
        if self.conn is not None:
            self._q.append(envelope)
            self._wake.set()

    async def written_out(self) -> None:
        """Wait until everything queued for the current connection has been written."""
        while self._q or self._busy is not None:
            self._written.clear()
            await self._written.wait()

    # -- the delayed ack ------------------------------------------------------------------

    def schedule_ack(self) -> None:
        """Sequenced envelopes came in: make sure an ack goes out within ``ack_delay_s``."""
        if self._ack_due or self._ack_timer is not None:
            return
        self._ack_timer = self._loop.call_later(self._ack_delay_s, self._ack_now)

    # The ack timer is lazy: a frame going out carries the ack and leaves the timer be; when
    # it fires, it sends a bare ack only if frames came in since the last ack went out.

    def _ack_sent(self) -> None:  # a frame is going out: it carries the ack
        self._ack_due = False
        self._ack_carried = self._session.in_seq

    def _ack_now(self) -> None:
        self._ack_timer = None
        if self._session.in_seq != self._ack_carried:
            self._ack_due = True
            self._wake.set()

    def close(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None

    # -- the writer -----------------------------------------------------------------------

    def _release(self, conn: Connection) -> None:
        if self._busy is conn:
            self._busy = None
        self._written.set()

    async def _writer(self, conn: Connection,
                      first: Callable[[], Awaitable[None]] | None) -> None:
        session, liveness, now_ns, stats = self._session, self._liveness, self._now_ns, self._stats
        try:
            if first is not None:
                try:
                    await first()
                finally:
                    self._release(conn)
            while self.conn is conn:
                if not self._q and not self._ack_due:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                batch: list[bytes] = []
                size = 0
                q = self._q
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
            self._on_lost(conn, str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # pragma: no cover - a bug; keep the site alive
            log.exception("writer to %s failed", conn.peer)
            self._on_lost(conn, repr(exc))
