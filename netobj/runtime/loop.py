"""The one way into the site's event loop from other threads (as trio's entry queue).

Every part that may be called from any thread hands its work to :meth:`LoopGate.call`: run
now when already on the loop thread, else queued with ``call_soon_threadsafe``; refused (False)
once the loop is gone or the site closed. Nothing else in the runtime calls
``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from netobj import errors
from netobj.runtime.state import SiteState

_get_ident = threading.get_ident


class LoopGate:
    """The site's loop and its thread, known once the site starts."""

    __slots__ = ("_state", "loop", "thread")

    def __init__(self, state: SiteState) -> None:
        self._state = state  # once closed, calls from other threads are refused
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: int | None = None

    def bind(self) -> asyncio.AbstractEventLoop:
        """Called on the loop when the site starts."""
        self.loop = asyncio.get_running_loop()
        self.thread = _get_ident()
        return self.loop

    def check_running(self) -> asyncio.AbstractEventLoop:
        if self._state.closed:
            raise errors.SiteClosedError("the site is closed")
        if self.loop is None:
            raise errors.SiteClosedError("the site is not started")
        return self.loop

    def time(self) -> float:
        assert self.loop is not None
        return self.loop.time()

    def on_loop(self) -> bool:
        return _get_ident() == self.thread

    def call(self, fn: Callable[..., object], *args: Any) -> bool:
        """Run ``fn(*args)`` on the loop: now if this is the loop thread, else soon.
        False if it cannot run (the site is not started, closed, or its loop is gone)."""
        if _get_ident() == self.thread:
            fn(*args)
            return True
        return self.post(fn, *args)

    def post(self, fn: Callable[..., object], *args: Any) -> bool:
        """Queue ``fn(*args)`` for the loop (from any thread, the loop's own included)."""
        loop = self.loop
        if loop is None or self._state.closed or loop.is_closed():
            return False
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed meanwhile
            return False
        return True

    def wake(self, fn: Callable[..., object], *args: Any) -> bool:
        """:meth:`post` even after the site closed (the site's own shutdown, finished work)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return False
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            return False
        return True


def new_event_loop(use_uvloop: bool = True) -> asyncio.AbstractEventLoop:
    """uvloop when installed (and wanted); the pure asyncio loop otherwise."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()
