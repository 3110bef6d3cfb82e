"""The replicated (invalidation-based) protocol, sans-IO (after Mozart 1.4's
``protocol_invalid.cc``, eager variant).

Theory of operation
-------------------
The home site keeps the master state; every other site that reads holds a *copy* (a
replica). Methods marked ``@netobj.reads`` run on the local copy; every other method is a
*write* and runs at the home.

* A replica subscribes on its first read (``SUBSCRIBE``); the home adds it to its readers and
  answers with ``COMMIT(state, version)``. Reads wait until a valid copy is installed; after
  that, reads on a valid copy cost no message.
* A write reaches the home as an ordinary call. The home queues writes in arrival order. If no
  round is running it starts one: ``INVALIDATE`` to every reader, then it waits for every
  ``INVALID`` acknowledgement. A replica acknowledges once no read is running on its copy,
  and from then on queues its reads.
* When every reader has acknowledged (a reader whose site failed counts as acknowledged, so
  a crashed reader does not block writes), the home applies **all** queued writes in order,
  sends ``COMMIT(new state)`` to every reader, and only then answers the writers (on each
  link the COMMIT precedes the reply, so a writer that reads after its write sees it).
  Writes that arrive during a round wait for the next one.

Consistency: a write is applied only when no valid copy of the old state remains, and a copy
becomes valid again only with the new state. Hence no site reads the old value after any site
(the writer included) has seen the new one: the histories are linearizable, with a write's
linearization point at its application and a read's at its start.

The home itself reads the master state: reads there run at once, except while writes are
being applied (they then wait for the end of the round).

Faults: a reader's failure drops it from the readers (and from the acknowledgements awaited).
If the home fails, every replica fails permanently (the glue calls :meth:`ReplicaProxy.on_lost`);
the reads waiting fail with it.

Invariants (asserted in tests): while writes are applied no reader holds a valid copy; every
queued write is applied exactly once, in arrival order; every read handed to ``on_read`` is run
exactly once or failed exactly once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

# shared with the other state machine; the glue names them through this module
from netobj.protocols.actions import Fail as Fail
from netobj.protocols.actions import Run as Run

T = TypeVar("T")

IDLE: Final = "idle"
INVALIDATING: Final = "invalidating"
APPLYING: Final = "applying"

NO_COPY: Final = "no_copy"
SUBSCRIBING: Final = "subscribing"
VALID: Final = "valid"
INVALID: Final = "invalid"
LOST: Final = "lost"


class ProtocolViolation(Exception):
    """A message that the protocol cannot have produced."""


@dataclass(frozen=True, slots=True)
class SendInvalidate:
    site: str


@dataclass(frozen=True, slots=True)
class Apply(Generic[T]):
    """Run these writes on the master state, in order; then call ``on_applied``."""

    ops: list[T]


@dataclass(frozen=True, slots=True)
class SendCommit:
    """Send the (current master) state to each of ``sites``."""

    sites: list[str]
    version: int


@dataclass(frozen=True, slots=True)
class SendSubscribe:
    pass


@dataclass(frozen=True, slots=True)
class SendInvalid:
    pass


@dataclass(frozen=True, slots=True)
class Install:
    version: int


HomeAction = SendInvalidate | Apply[T] | SendCommit | Run[T]
ReplicaAction = SendSubscribe | SendInvalid | Install | Run[T] | Fail[T]


class ReplicaHome(Generic[T]):
    """The home's side: readers, the write queue and the invalidation round.

    ``T`` is the glue's token for an operation (a write, or a read made at the home)."""

    __slots__ = ("awaiting", "free", "phase", "readers", "reads", "subscribing", "version",
                 "writes")

    def __init__(self) -> None:
        self.readers: set[str] = set()
        self.subscribing: set[str] = set()  # asked during a round: they get its COMMIT
        self.awaiting: set[str] = set()
        self.writes: deque[T] = deque()
        self.reads: deque[T] = deque()  # home reads waiting for the end of an APPLYING round
        self.phase = IDLE
        self.version = 0
        self.free = True  # a read at the home may run at once

    def __repr__(self) -> str:
        return (f"<ReplicaHome {self.phase} v{self.version} readers={len(self.readers)} "
                f"awaiting={len(self.awaiting)} writes={len(self.writes)}>")

    def on_subscribe(self, site: str) -> list[HomeAction[T]]:
        if self.phase == IDLE:
            self.readers.add(site)
            return [SendCommit([site], self.version)]
        # The copy it would get now is about to be stale: it gets the round's COMMIT.
        self.subscribing.add(site)
        return []

    def on_write(self, op: T) -> list[HomeAction[T]]:
        self.writes.append(op)
        if self.phase != IDLE:
            return []
        return self._start()

    def on_read(self, op: T) -> list[HomeAction[T]]:
        """A read made at the home."""
        if self.phase == APPLYING:
            self.reads.append(op)
            return []
        return [Run([op])]

    def on_invalid(self, site: str) -> list[HomeAction[T]]:
        if self.phase != INVALIDATING or site not in self.awaiting:
            return []  # late or duplicate (e.g. from a reader dropped meanwhile)
        self.awaiting.discard(site)
        return self._apply() if not self.awaiting else []

    def on_applied(self) -> list[HomeAction[T]]:
        """The writes of the Apply action ran; their replies may go after these actions."""
        if self.phase != APPLYING:
            raise ProtocolViolation("on_applied outside a round")
        self.version += 1
        self.readers |= self.subscribing
        self.subscribing = set()
        out: list[HomeAction[T]] = []
        if self.readers:
            out.append(SendCommit(sorted(self.readers), self.version))
        self.phase = IDLE
        self.free = True
        if self.reads:
            reads = list(self.reads)
            self.reads.clear()
            out.append(Run(reads))
        if self.writes:
            out.extend(self._start())
        return out

    def on_site_failed(self, site: str) -> list[HomeAction[T]]:
        self.readers.discard(site)
        self.subscribing.discard(site)
        if self.phase == INVALIDATING and site in self.awaiting:
            self.awaiting.discard(site)
            if not self.awaiting:
                return self._apply()
        return []

    def _start(self) -> list[HomeAction[T]]:
        if not self.readers:
            return self._apply()
        self.phase = INVALIDATING
        self.awaiting = set(self.readers)
        return [SendInvalidate(s) for s in sorted(self.readers)]

    def _apply(self) -> list[HomeAction[T]]:
        self.phase = APPLYING
        self.free = False
        ops = list(self.writes)
        self.writes.clear()
        return [Apply(ops)]


class ReplicaProxy(Generic[T]):
    """A reading site's side: its copy's validity, and the reads waiting for a copy."""

    __slots__ = ("ack_owed", "busy", "failure", "free", "state", "version", "waiting")

    def __init__(self) -> None:
        self.state = NO_COPY
        self.version = -1
        self.busy = 0
        self.ack_owed = False
        self.waiting: deque[T] = deque()
        self.failure = ""
        self.free = False  # a read may run at once on the local copy

    def __repr__(self) -> str:
        return f"<ReplicaProxy {self.state} v{self.version} busy={self.busy}>"

    def on_read(self, op: T) -> list[ReplicaAction[T]]:
        state = self.state
        if state == VALID:
            self.busy += 1
            return [Run([op])]
        if state == LOST:
            return [Fail([op], self.failure)]
        self.waiting.append(op)
        if state == NO_COPY:
            self.state = SUBSCRIBING
            return [SendSubscribe()]
        return []

    def on_invalidate(self) -> list[ReplicaAction[T]]:
        if self.state == LOST:
            return []
        if self.state == VALID:
            self.state = INVALID
            self.free = False
        if self.busy:
            self.ack_owed = True
            return []
        return [SendInvalid()]

    def on_commit(self, version: int) -> list[ReplicaAction[T]]:
        if self.state == LOST:
            return []
        if version < self.version:
            raise ProtocolViolation(f"commit of version {version} after {self.version}")
        self.version = version
        self.state = VALID
        self.free = True
        out: list[ReplicaAction[T]] = [Install(version)]
        if self.waiting:
            ops = list(self.waiting)
            self.waiting.clear()
            self.busy += len(ops)
            out.append(Run(ops))
        return out

    def on_done(self, n: int = 1) -> list[ReplicaAction[T]]:
        if self.busy < n:
            raise ProtocolViolation("on_done without running reads")
        self.busy -= n
        if not self.busy and self.ack_owed:
            self.ack_owed = False
            return [SendInvalid()]
        return []

    def on_lost(self, reason: str) -> list[ReplicaAction[T]]:
        if self.state == LOST:
            return []
        self.state = LOST
        self.free = False
        self.failure = reason
        ops = list(self.waiting)
        self.waiting.clear()
        return [Fail(ops, reason)] if ops else []
