"""Home-side scheduling of calls on one object: the stationary and active protocols.

Both protocols keep the object at its home site; they differ in *when* a call may start.
The site runs ``def`` methods of one object on that object's *serial lane* (a FIFO
executor off the event loop: one call at a time, in the order handed over) and ``async``
methods as tasks on the loop. The machines decide when to hand a call over:

**Stationary** (RMI): every call is handed over the moment it arrives, in arrival order.
``def`` methods therefore run one at a time in arrival order (the serial lane) and ``async``
methods start at once and interleave at their awaits, as they would locally.

**Active** (Oz ``NewActive``): the object executes one call at a time, to completion, in
arrival order. A call may be handed over when every earlier call has finished, or when it is a
``def`` call and every unfinished earlier call is a ``def`` call already on the serial lane
(the lane's FIFO order then keeps "one at a time, in order", and the handover costs no round
trip through the loop per call). An ``async`` call waits for everything before it, and
everything after it waits for it.

Events: ``on_call(inv)`` and ``on_done(inv)``; both return the list of :class:`Start` actions.
Invariants (asserted in tests): a call is started exactly once; calls start in arrival order;
for active objects, while an ``async`` call runs nothing else is started or running.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

T = TypeVar("T")

#: Calls that may wait at one active object before new ones are refused.
MAX_QUEUED_CALLS: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class Start(Generic[T]):
    invocation: T
    on_lane: bool  # True: hand to the object's serial lane; False: start a loop task


class QueueFull(Exception):
    """The object has MAX_QUEUED_CALLS calls waiting."""


class StationaryHome(Generic[T]):
    __slots__ = ("running",)

    def __init__(self) -> None:
        self.running = 0

    def __repr__(self) -> str:
        return f"<StationaryHome running={self.running}>"

    def on_call(self, inv: T, is_async: bool) -> list[Start[T]]:
        self.running += 1
        return [Start(inv, on_lane=not is_async)]

    def on_done(self, inv: T) -> list[Start[T]]:
        self.running -= 1
        return []


class ActiveHome(Generic[T]):
    """One call at a time, to completion, in arrival order."""

    __slots__ = ("_async_running", "_lane_running", "_waiting")

    def __init__(self) -> None:
        self._waiting: deque[tuple[T, bool]] = deque()
        self._lane_running = 0  # def calls handed to the lane and not done
        self._async_running = False

    def __repr__(self) -> str:
        return (
            f"<ActiveHome waiting={len(self._waiting)} lane={self._lane_running} "
            f"async_running={self._async_running}>"
        )

    @property
    def idle(self) -> bool:
        return not self._waiting and not self._lane_running and not self._async_running

    def on_call(self, inv: T, is_async: bool) -> list[Start[T]]:
        if len(self._waiting) >= MAX_QUEUED_CALLS:
            raise QueueFull(f"{MAX_QUEUED_CALLS} calls are waiting at this active object")
        self._waiting.append((inv, is_async))
        return self._release()

    def on_done(self, inv: T) -> list[Start[T]]:
        if self._async_running:
            self._async_running = False
        else:
            assert self._lane_running > 0, "on_done without a running call"
            self._lane_running -= 1
        return self._release()

    def _release(self) -> list[Start[T]]:
        out: list[Start[T]] = []
        waiting = self._waiting
        while waiting and not self._async_running:
            inv, is_async = waiting[0]
            if is_async:
                if self._lane_running:
                    break
                waiting.popleft()
                self._async_running = True
                out.append(Start(inv, on_lane=False))
                break
            waiting.popleft()
            self._lane_running += 1
            out.append(Start(inv, on_lane=True))
        return out
