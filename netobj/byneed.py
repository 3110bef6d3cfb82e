"""By-need Vars: ``netobj.by_need(fn)``, a Var whose value ``fn()`` computes on the first wait.

The Var itself (``netobj.var``) only knows that its ext holds a *need hook*, called once, with
the Var, when the first wait on it (or on a Var linked to it) starts. This module supplies the
hook: it runs ``fn`` (a task on the running loop for ``async def``, the loop's executor for
``def``, inline when there is no loop) and unifies the Var with the result, or fails it with
the exception. Unifying needs :mod:`netobj.unify`, which is built on :mod:`netobj.var`: the
by-need logic lives here so that ``var`` imports neither.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from netobj.errors import UnificationError
from netobj.unify import unify
from netobj.var import Var

# Tasks of running async by-need computations (the loop keeps only weak references).
_NEED_TASKS: set[asyncio.Task[Any]] = set()


def by_need(fn: Callable[[], Any]) -> Var[Any]:
    """A Var whose value ``fn()`` computes on the first wait, from any site (on its owner).

    ``fn`` may be ``def`` (run in the loop's executor, or in the waiting thread when there is
    no loop) or ``async def`` (a task). Its exception fails the Var.
    """
    if not callable(fn):
        raise TypeError("by_need() takes a callable")
    var: Var[Any] = Var()
    var._ext_().need = _NeedHook(fn)
    return var


class _NeedHook:
    """The need hook of a by-need Var: starts ``fn`` and settles the Var with its outcome."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn

    def __call__(self, var: Var[Any]) -> None:
        _run_need(var, self.fn)

    def __repr__(self) -> str:
        return f"<by_need {self.fn!r}>"


def _run_need(var: Var[Any], fn: Callable[[], Any]) -> None:
    def settle(ok: bool, value: Any) -> None:
        if ok:
            try:
                unify(var, value)
            except UnificationError as exc:
                var._reject(exc)
        else:
            var._reject(value)

    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if inspect.iscoroutinefunction(fn):
        if loop is None:
            try:
                settle(True, asyncio.run(fn()))
            except Exception as exc:
                settle(False, exc)
            return
        task = loop.create_task(fn())
        _NEED_TASKS.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            _NEED_TASKS.discard(t)
            if t.cancelled():
                settle(False, asyncio.CancelledError("by-need computation cancelled"))
            elif t.exception() is not None:
                settle(False, t.exception())
            else:
                settle(True, t.result())

        task.add_done_callback(done)
        return
    if loop is None:
        try:
            settle(True, fn())
        except Exception as exc:
            settle(False, exc)
        return
    future = loop.run_in_executor(None, fn)

    def done_sync(f: asyncio.Future[Any]) -> None:
        exc = f.exception()
        settle(exc is None, f.result() if exc is None else exc)

    future.add_done_callback(done_sync)
