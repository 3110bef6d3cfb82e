"""Reflected faults: the public fault API (faults are reflected into the program per entity).

* :func:`fault_state` - an entity's fault state here, now: ``"ok"``, ``"temp_fail"`` or
  ``"perm_fail"``;
* :func:`fault_stream` / :class:`FaultStream` - ``async for`` over its changes;
* :func:`on_fault` / :class:`FaultHandle` - a callback on each change;
* :func:`fail_fast` - a view of a proxy whose calls fail with TempFailure instead of waiting.

An entity is a proxy, a Var or a Port; its fault state is the state of the link to the site
it comes from (see :class:`netobj.link.FaultState`), as the site it is known through reports
it. All of these are re-exported by ``netobj`` (and ``netobj.api``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from netobj.link import FaultState
from netobj.port import Port
from netobj.proxy import FailFast, Proxy, proxy_site
from netobj.var import Var

log = logging.getLogger("netobj.faults")


def _site_of(entity: Any) -> Any:
    """The site through which this process knows ``entity`` (None for purely local ones)."""
    if isinstance(entity, Proxy):
        return proxy_site(entity)
    if isinstance(entity, Port):
        if entity._remote is not None:
            return entity._remote[0]
        return entity._owner[0] if entity._owner is not None else None
    if isinstance(entity, Var):
        return entity._ext.host if entity._ext is not None else None
    return None


def _locate(entity: Any) -> tuple[Any, tuple[str, str] | None]:
    site = _site_of(entity)
    return site, (site.fault_ident(entity) if site is not None else None)


def fault_state(entity: Any) -> str:
    """``"ok"``, ``"temp_fail"`` or ``"perm_fail"``: the entity's fault state here.

    For a proxy, a Var or a Port whose home is another site: the state of the link to that
    site, or ``perm_fail`` if the entity was killed, broken here, or (cached and replicated
    objects) lost. Entities that never left this process are ``"ok"``."""
    if isinstance(entity, Var) and entity.done() and not entity.failed():
        return FaultState.OK.value  # bound: it can no longer fail
    site, ident = _locate(entity)
    if ident is None:
        return FaultState.OK.value
    state: FaultState = site.entity_fault_state(ident)
    return state.value


class FaultStream:
    """``async for state in netobj.fault_stream(entity)``: the current fault state first, then
    each change, in order; it ends after ``"perm_fail"`` (which is final), and for a Var once
    it is bound (it can no longer fail). A site's change comes after every message already
    received from it. ``close()`` stops it early."""

    def __init__(self, entity: Any) -> None:
        self._states: deque[str] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._done = False
        self._site, ident = _locate(entity)
        self._watcher: Any = None
        if isinstance(entity, Var) and entity.done() and not entity.failed():
            ident = None  # bound: "ok", and nothing more
            self._done = True
        if ident is None:
            self._states.append(FaultState.OK.value)
            return
        self._watcher = self._site.watch_faults(ident, self._push)
        self._states.append(self._watcher.last.value)
        if isinstance(entity, Var):
            entity.add_done_callback(self._var_done)

    def _var_done(self, var: Var[Any]) -> None:  # any thread
        if not var.failed():  # bound: the stream closes (a failure arrives as perm_fail)
            self.close()
            self._wake_waiter()

    def _wake_waiter(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            loop = waiter.get_loop()
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                waiter.set_result(None)
            else:
                loop.call_soon_threadsafe(_wake, waiter)

    def _push(self, state: FaultState) -> None:  # on the site's loop
        if self._done:
            return
        self._states.append(state.value)
        self._wake_waiter()

    def __aiter__(self) -> FaultStream:
        return self

    async def __anext__(self) -> str:
        while not self._states:
            if self._done:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            if not self._states:
                await self._waiter
            self._waiter = None
        state = self._states.popleft()
        if state == FaultState.PERM_FAIL.value:
            self.close()
        return state

    def close(self) -> None:
        if not self._done:
            self._done = True
            if self._watcher is not None:
                self._site.unwatch_faults(self._watcher)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def fault_stream(entity: Any) -> FaultStream:
    """An async iterator of ``entity``'s fault states (see :class:`FaultStream`)."""
    return FaultStream(entity)


class FaultHandle:
    """What :func:`on_fault` returns: ``cancel()`` stops the notifications."""

    def __init__(self, site: Any, watcher: Any) -> None:
        self._site = site
        self._watcher = watcher

    def cancel(self) -> None:
        if self._watcher is not None:
            self._site.unwatch_faults(self._watcher)
            self._watcher = None


def on_fault(entity: Any, callback: Callable[[Any, str], Any]) -> FaultHandle:
    """Call ``callback(entity, state)`` on each change of ``entity``'s fault state, in a new
    task on the site's loop (never inline); a coroutine function is awaited there. An
    exception it raises is logged."""
    site, ident = _locate(entity)
    if ident is None:
        raise TypeError(f"{type(entity).__name__} is not a distributed entity: it cannot fail")

    def push(state: FaultState) -> None:
        async def run() -> None:
            try:
                result = callback(entity, state.value)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("on_fault callback %r failed", callback)

        site._spawn(run())

    return FaultHandle(site, site.watch_faults(ident, push))


def fail_fast(proxy: Proxy, after: float = 0.0) -> FailFast:
    """A view of ``proxy`` whose calls fail with :class:`~netobj.TempFailure` instead of
    waiting while the home cannot be reached.

    With ``after=0`` (the default) a call made while the link is down fails at once and is
    not sent. Otherwise, and for calls already on their way, the call fails once its link
    is seen down ``after`` seconds after the call, or at any later check while it waits. A
    call that was sent may still run at the home when the link comes back: the outcome is
    unknown, as with any timeout. ``netobj.fail_fast(p).method(...)`` for a single call."""
    if not isinstance(proxy, Proxy):
        raise TypeError("fail_fast takes a proxy")
    return FailFast(proxy, after)
