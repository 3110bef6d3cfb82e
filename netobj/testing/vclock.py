"""A virtual-clock event loop for deterministic simulation.

``loop.time()`` is virtual. When the loop would block waiting for its next timer, the
selector first polls real file descriptors without waiting and, if none is ready, advances
the virtual clock to that timer instead of sleeping. With no timer at all it really blocks
(e.g. for a thread). With the simulated network, ``executor="inline"`` sites and a seeded
entropy source, a run is a pure function of its seed.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualClockLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        events: list[tuple[Any, int]] = super().select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            return super().select(None)
        assert self.loop is not None
        self.loop._virtual_time += timeout
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self, start: float = 0.0) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._virtual_time = start
        # asyncio rounds timers by the clock resolution; keep it tiny for the virtual clock.
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._virtual_time


#: A simulation that has not finished after this much virtual time is stuck: it fails
#: (a waiting test would otherwise spin forever, virtual time racing through heartbeats).
DEFAULT_MAX_VIRTUAL_S = 3600.0


def run_simulation(coro: Coroutine[Any, Any, T], *, start: float = 0.0,
                   max_virtual_s: float = DEFAULT_MAX_VIRTUAL_S) -> T:
    """Run ``coro`` to completion on a fresh :class:`VirtualClockLoop`.

    Raises TimeoutError if it has not finished after ``max_virtual_s`` of virtual time.
    """
    loop = VirtualClockLoop(start)
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, max_virtual_s))
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
