"""The sequencing half of a link, sans-IO: sequence numbers, cumulative acks, the resend
window and de-duplication.

Theory of operation
-------------------
A :class:`Session` is one direction-pair of a reliable stream between two sites, and it
outlives connections. Outbound sequenced envelopes get ``seq = 1, 2, 3, ...``:
:meth:`Session.next_seq` reserves a number, :meth:`Session.sent` records the serialized
envelope under it, and it stays in the *window* until the peer's cumulative ack
(:meth:`Session.acked`) covers it. Inbound, ``in_seq`` is the highest seq delivered;
:meth:`Session.received` says whether an envelope is new (deliver it), a duplicate (drop it),
or skips a number, which a transport never does (:class:`SequenceGap`: drop the connection).

When a connection is made, both sides announce their ``in_seq`` (the Hello's
``last_received``); :meth:`Session.reconnected` takes the peer's, which acknowledges
everything it covers, and hands back the rest of the window, to be resent in order. When a
connection breaks, :meth:`Session.disconnected` notes that everything sent so far may have
been written to it; what is sent later, while no connection is up, has certainly not left
(:meth:`Session.undelivered`). :meth:`Session.close` is the permanent failure: the window is
dropped (handing back what never left) and no number is handed out again.

The machine holds no clock, no task and no socket; the link (``netobj.link``) feeds it the
events and carries out what it returns.

Phases and inputs::

    DISCONNECTED --reconnected--> CONNECTED --disconnected--> DISCONNECTED
         \\______________________close______________________/---> CLOSED (terminal)

Invariants (checked in ``tests/unit/test_session_machine.py``):

* per-link FIFO: :meth:`received` delivers ``1, 2, 3, ...`` in order, with no gap;
* each seq is delivered at most once (a duplicate is never delivered again);
* the window holds exactly the sent envelopes above ``acked_upto``, in seq order, and
  after a reconnect every one of them is resent, in order;
* the window is bounded: at most ``max_unacked`` envelopes (:data:`MAX_UNACKED_DEFAULT`);
  beyond that :meth:`next_seq` refuses (:class:`WindowFull`);
* ``acked_upto <= last_sent <= out_seq``: the peer cannot acknowledge what was never sent;
* ``CLOSED`` is terminal: the window is empty and :meth:`next_seq` raises
  :class:`SessionClosed`.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Final

from netobj.errors import PermFailure, ProtocolError, TempFailure

#: The default bound on the window (envelopes sent and not yet acknowledged).
MAX_UNACKED_DEFAULT: Final = 1_000_000


class Phase(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTED = "connected"
    CLOSED = "closed"


class WindowFull(TempFailure):
    """``max_unacked`` envelopes already wait for an ack: nothing more can be sent now."""


class SessionClosed(PermFailure):
    """The session failed permanently: it sends nothing any more."""


class SequenceGap(ProtocolError):
    """An inbound seq skipped a number (the connection is not a faithful stream)."""


class AckBeyondSent(ProtocolError):
    """The peer acknowledged a seq that was never sent."""


class Session:
    """Sequence numbers and the resend window of one link (see the module docstring)."""

    __slots__ = ("_closed", "_last_sent", "_mark", "_unacked", "acked_upto", "in_seq",
                 "max_unacked", "out_seq", "peer", "phase", "reason")

    def __init__(self, max_unacked: int = MAX_UNACKED_DEFAULT, peer: str = "") -> None:
        if max_unacked < 1:
            raise ValueError(f"max_unacked must be at least 1, not {max_unacked}")
        self.max_unacked = max_unacked
        #: names the peer in error messages only
        self.peer = peer
        self.phase = Phase.DISCONNECTED
        self._closed = False  # phase is CLOSED (a bool: tested on every envelope)
        #: why the session was closed ("" while it is not)
        self.reason = ""
        #: the last seq reserved by next_seq
        self.out_seq = 0
        #: the highest inbound seq delivered
        self.in_seq = 0
        #: the peer's cumulative ack
        self.acked_upto = 0
        self._last_sent = 0
        self._unacked: deque[tuple[int, bytes]] = deque()
        # every envelope with seq <= _mark may have been handed to a connection now gone
        self._mark = 0

    def __repr__(self) -> str:
        return (f"<Session {self.phase.value} out={self.out_seq} in={self.in_seq} "
                f"acked={self.acked_upto} unacked={len(self._unacked)}>")

    # -- outbound -------------------------------------------------------------------------

    def next_seq(self) -> int:
        """Reserve the next sequence number; the envelope built with it goes to :meth:`sent`.

        Raises :class:`SessionClosed` once closed, :class:`WindowFull` when the window holds
        ``max_unacked`` envelopes."""
        if self._closed or len(self._unacked) >= self.max_unacked:
            self._refuse()
        self.out_seq = seq = self.out_seq + 1
        return seq

    def _refuse(self) -> None:
        if self._closed:
            raise SessionClosed(f"site {self.peer} failed permanently: {self.reason}")
        raise WindowFull(f"link to {self.peer} has {len(self._unacked)} unacknowledged "
                         f"messages (max_unacked={self.max_unacked})")

    def sent(self, seq: int, envelope: bytes) -> None:
        """Record the envelope reserved as ``seq``: it waits in the window until acked.

        Each reserved seq is sent once, in order (``ValueError`` otherwise). A closed session
        drops it (the failure already took back what it had)."""
        if seq != self._last_sent + 1 or seq > self.out_seq or self._closed:
            if self._closed:
                return
            raise ValueError(f"sent seq {seq}: expected {self._last_sent + 1} "
                             f"(reserved up to {self.out_seq})")
        self._last_sent = seq
        self._unacked.append((seq, envelope))

    def acked(self, upto: int) -> bool:
        """The peer has everything up to ``upto``. True if that emptied the window (a drain
        waiting for it is done); a stale ack changes nothing. :class:`AckBeyondSent` if
        ``upto`` was never sent."""
        if upto <= self.acked_upto:
            return False
        if upto > self._last_sent:
            raise AckBeyondSent(f"ack of seq {upto}, but only {self._last_sent} were sent")
        self.acked_upto = upto
        unacked = self._unacked
        while unacked and unacked[0][0] <= upto:
            unacked.popleft()
        return not unacked

    @property
    def unacked(self) -> int:
        """How many envelopes wait for an ack."""
        return len(self._unacked)

    def window(self) -> list[tuple[int, bytes]]:
        """A copy of the window, ``(seq, envelope)`` in seq order (for inspection)."""
        return list(self._unacked)

    # -- inbound --------------------------------------------------------------------------

    def received(self, seq: int) -> bool:
        """An inbound envelope numbered ``seq`` (>= 1): True to deliver it (it is the next
        one), False for a duplicate (or after close). :class:`SequenceGap` if it skips."""
        in_seq = self.in_seq
        if seq == in_seq + 1:
            if self._closed:
                return False
            self.in_seq = seq
            return True
        if seq <= in_seq:
            if seq < 1:
                raise ValueError(f"sequenced envelopes are numbered from 1, not {seq}")
            return False
        raise SequenceGap(f"sequence gap ({seq} after {in_seq})")

    # -- connections ----------------------------------------------------------------------

    def reconnected(self, peer_last_received: int) -> list[bytes]:
        """A connection is up and the peer has delivered up to ``peer_last_received``: the
        envelopes to (re)send on it, in order. :class:`AckBeyondSent` (nothing changes) if the
        peer claims a seq never sent; ``RuntimeError`` unless disconnected (the old connection
        goes first: :meth:`disconnected`)."""
        if self.phase is not Phase.DISCONNECTED:
            raise RuntimeError(f"reconnected while {self.phase.value}")
        if peer_last_received > self._last_sent:
            raise AckBeyondSent(f"peer claims seq {peer_last_received}, "
                                f"but only {self._last_sent} were sent")
        self.acked(peer_last_received)
        self.phase = Phase.CONNECTED
        return [env for _, env in self._unacked]

    def disconnected(self) -> None:
        """The connection is gone: whatever was sent so far may have reached it."""
        if self.phase is Phase.CONNECTED:
            self.phase = Phase.DISCONNECTED
            self._mark = self._last_sent

    def undelivered(self) -> list[bytes]:
        """Envelopes in the window never handed to any connection (certainly not delivered):
        none while connected."""
        if self.phase is Phase.CONNECTED:
            return []
        mark = self._mark
        return [env for seq, env in self._unacked if seq > mark]

    def close(self, reason: str) -> list[bytes]:
        """Permanent failure: nothing is sent again and the window is dropped. Returns what
        it held that was never handed to a connection (:meth:`undelivered`), for the caller
        to take back; [] if it was closed already (the first reason stays)."""
        if self.phase is Phase.CLOSED:
            return []
        taken_back = self.undelivered()
        self.phase = Phase.CLOSED
        self._closed = True
        self.reason = reason
        self._unacked.clear()
        return taken_back
