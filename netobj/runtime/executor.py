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
import concurrent.futures
import logging
import threading
import traceback
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from netobj import errors
from netobj.errors import safe_str
from netobj.runtime.loop import LoopGate

log = logging.getLogger("netobj.site")

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


# -- where calls run: lanes, the thread pool, tasks --------------------------------------


@dataclass(slots=True)
class Invocation:
    """What the home protocol machines schedule: one async call, or a run of def calls that
    arrived together (executed one after the other on the object's lane, as if one by one).
    ``peer``: whom the outcomes go to."""

    peer: Any
    calls: list[Call]


#: Called on the loop when an invocation finished: (lane owner, invocation, outcomes).
Finish = Callable[[Any, Invocation, list[Outcome]], None]


class Lane:
    """The serial lane of one object: its ``def`` calls, one at a time, off the event loop."""

    __slots__ = ("_active", "_lock", "_queue", "executor", "finish", "owner")

    def __init__(self, executor: Executor, owner: object, finish: Finish) -> None:
        self.executor = executor
        self.owner = owner
        self.finish = finish
        self._queue: deque[Invocation] = deque()
        self._lock = threading.Lock()
        self._active = False

    def submit(self, inv: Invocation) -> None:
        with self._lock:
            self._queue.append(inv)
            if self._active:
                return
            self._active = True
        self.executor.submit_lane(self)

    def drain(self) -> None:
        done = self.executor.lane_done
        while True:
            with self._lock:
                if not self._queue:
                    self._active = False
                    return
                inv = self._queue.popleft()
            done(self, inv, run_calls(inv.calls))


class Executor:
    """The site's thread pool (``executor="threads"``) or none (``"inline"``: def calls run
    on the loop), its async tasks, and the queue of finished lane work back to the loop."""

    def __init__(self, gate: LoopGate, mode: str, max_workers: int, name: str) -> None:
        if mode not in ("threads", "inline"):
            raise ValueError("executor must be 'threads' or 'inline'")
        self._gate = gate
        self._mode = mode
        self._max_workers = max_workers
        self._name = name
        self.pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._done_lock = threading.Lock()
        self._done: deque[tuple[Lane, Invocation, list[Outcome]]] = deque()
        self._done_scheduled = False

    def start(self) -> None:
        if self._mode == "threads":
            self.pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._max_workers, thread_name_prefix=self._name)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on a worker thread (inline: here, on the loop)."""
        if self.pool is None:
            return fn(*args)
        assert self._gate.loop is not None
        return await self._gate.loop.run_in_executor(self.pool, fn, *args)

    def lane(self, owner: object, finish: Finish) -> Lane:
        return Lane(self, owner, finish)

    def start_invocation(self, lane: Lane, inv: Invocation, on_lane: bool) -> None:
        """Run ``inv``: def calls on ``lane``, an async call as a task; then ``lane.finish``."""
        if on_lane:
            lane.submit(inv)
        else:
            self.spawn(self._run_async(lane, inv))

    async def _run_async(self, lane: Lane, inv: Invocation) -> None:
        outcomes: list[Outcome] = []
        try:
            await run_calls_async(inv.calls, outcomes)
        finally:
            lane.finish(lane.owner, inv, outcomes)

    def submit_lane(self, lane: Lane) -> None:
        if self.pool is not None:
            self.pool.submit(lane.drain)
        else:
            assert self._gate.loop is not None
            self._gate.loop.call_soon(lane.drain)

    def lane_done(self, lane: Lane, inv: Invocation, outcomes: list[Outcome]) -> None:
        """A lane finished a run of def calls: on a worker thread, or inline on the loop."""
        if self.pool is None:
            lane.finish(lane.owner, inv, outcomes)
            return
        with self._done_lock:
            self._done.append((lane, inv, outcomes))
            if self._done_scheduled:
                return
            self._done_scheduled = True
        self._gate.wake(self._drain_done)  # loop closed: the site is gone

    def _drain_done(self) -> None:
        with self._done_lock:
            done, self._done = self._done, deque()
            self._done_scheduled = False
        for lane, inv, outcomes in done:
            try:
                lane.finish(lane.owner, inv, outcomes)
            except Exception:  # a bug of ours: log it, and finish the other calls
                log.exception("finishing calls on %r failed", lane.owner)
