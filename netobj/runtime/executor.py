"""Running a method: the one place that turns what user code did into an outcome.

Every remote or local call of a method ends here, whatever protocol the object has and
whichever thread runs it. The rule it keeps: **every call gets exactly one outcome, and
nothing a method raises escapes** — not an exception whose ``__str__`` raises, not
``SystemExit``, ``KeyboardInterrupt``, ``GeneratorExit`` or a ``CancelledError`` the
method raised itself. Such ``BaseException``\\ s are reported to the caller as a
:class:`~netobj.errors.RemoteError` naming them, so they can neither end the site nor cancel
the caller's task. Only a cancellation of the task running the call (the site closing) is
re-raised, after the call has its outcome (:class:`~netobj.errors.SiteClosedError`).

Records are plain tuples (measured: a dataclass costs several times more per call):

* a call ready to run, ``Call``: ``(call_id, method, fn, args, kwargs, oneway)``;
* its outcome, ``Outcome``: ``(call_id, oneway, ok, value or exception)``.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from netobj import errors
from netobj.errors import safe_str

Call = tuple[int, str, Callable[..., Any], list[Any], dict[str, Any], bool]
Outcome = tuple[int, bool, bool, Any]

def failure(exc: BaseException) -> Exception:
    """What the caller receives for ``exc`` raised by a method: ``exc`` itself if it is an
    :class:`Exception`, else a :class:`~netobj.errors.RemoteError` naming it."""
    if isinstance(exc, Exception):
        return exc
    try:
        tb_text = "".join(traceback.format_exception(exc))
    except BaseException:
        tb_text = ""
    return errors.RemoteError(type(exc).__name__, safe_str(exc), tb_text)


def run_calls(calls: Sequence[Call]) -> list[Outcome]:
    """Run ``def`` calls one after the other (on whatever thread calls this)."""
    out: list[Outcome] = []
    append = out.append
    for call_id, _, fn, args, kwargs, oneway in calls:
        try:
            append((call_id, oneway, True, fn(*args, **kwargs)))
        except BaseException as exc:  # every failure goes to the caller
            append((call_id, oneway, False, failure(exc)))
    return out


async def run_async_call(fn: Callable[..., Any], args: Sequence[Any],
                         kwargs: dict[str, Any]) -> tuple[bool, Any]:
    """Await one ``async def`` call: ``(True, result)`` or ``(False, exception)``.

    Raises only ``CancelledError``, and only when the task running it is being cancelled
    (the caller records :class:`~netobj.errors.SiteClosedError` first, see
    :func:`run_calls_async`)."""
    try:
        return True, await fn(*args, **kwargs)
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        return False, failure(exc)
    except BaseException as exc:
        return False, failure(exc)


async def run_calls_async(calls: Sequence[Call],
                          out: list[Outcome] | None = None) -> list[Outcome]:
    """Await ``async def`` calls one after the other, appending to ``out``.

    If the running task is cancelled, the call under way and the ones after it get
    :class:`~netobj.errors.SiteClosedError` in ``out`` and the cancellation goes on."""
    out = [] if out is None else out
    for i, (call_id, _, fn, args, kwargs, oneway) in enumerate(calls):
        try:
            ok, value = await run_async_call(fn, args, kwargs)
        except asyncio.CancelledError:
            closed = errors.SiteClosedError("the site closed while the call ran")
            out.extend((c[0], c[5], False, closed) for c in calls[i:])
            raise
        out.append((call_id, oneway, ok, value))
    return out
