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
import logging
import queue
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


class Workers:
    """The site's worker threads: ``submit(fn)`` runs ``fn()`` on one of them.

    Leaner than ``concurrent.futures.ThreadPoolExecutor`` on the per-call path (measured: a
    submit-and-wake round trip costs about 28 µs of CPU against 37-47 µs, no Future and no
    Condition per call): one C ``SimpleQueue`` of callables, and an idle count. A submit
    reserves an idle thread or starts a new one (up to ``max_workers``), so work never waits
    behind a thread that is blocked in a slow method while the bound allows another thread.
    Beyond ``max_workers`` busy threads, work waits in the queue; the queue holds at most one
    entry per lane with work (a lane submits one drain at a time) plus one per pending
    ``run_blocking``, so it is bounded by the site's exports and callers. Threads are daemons:
    a method blocked forever does not keep the process alive after the site closed.
    """

    __slots__ = ("_closed", "_idle", "_lock", "_max", "_name", "_queue", "_threads")

    def __init__(self, max_workers: int, name: str) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._max = max_workers
        self._name = name
        self._queue: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for work and not yet reserved by a submit
        self._threads = 0
        self._closed = False

    def submit(self, fn: Callable[[], object]) -> bool:
        """Queue ``fn``; False (and nothing runs) once the workers are closed."""
        with self._lock:
            if self._closed:
                return False
            if self._idle:
                self._idle -= 1
                start = False
            else:
                start = self._threads < self._max
                if start:
                    self._threads += 1
        self._queue.put(fn)
        if start:
            threading.Thread(target=self._work, name=f"{self._name}-{self._threads}",
                             daemon=True).start()
        return True

    def _work(self) -> None:
        get, lock = self._queue.get, self._lock
        while True:
            fn = get()
            if fn is None:
                return
            try:
                fn()
            except BaseException:  # pragma: no cover - the lane catches what methods raise
                log.exception("worker task failed")
            with lock:
                if self._closed:
                    return
                self._idle += 1

    def close(self) -> None:
        """Drop queued work and let every thread end once it is idle."""
        with self._lock:
            self._closed = True
            threads = self._threads
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for _ in range(threads):
            self._queue.put(None)


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
        self.pool: Workers | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._done_lock = threading.Lock()
        self._done: deque[tuple[Lane, Invocation, list[Outcome]]] = deque()
        self._done_scheduled = False

    def start(self) -> None:
        if self._mode == "threads":
            self.pool = Workers(self._max_workers, self._name)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.pool is not None:
            self.pool.close()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on a worker thread (inline: here, on the loop)."""
        if self.pool is None:
            return fn(*args)
        loop = self._gate.loop
        assert loop is not None
        fut: asyncio.Future[Any] = loop.create_future()

        def settle(ok: bool, value: Any) -> None:  # on the loop
            if not fut.done():
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)

        def run() -> None:  # on a worker
            try:
                result: tuple[bool, Any] = (True, fn(*args))
            except BaseException as exc:
                result = (False, exc)
            self._gate.wake(settle, *result)

        if not self.pool.submit(run):
            raise errors.SiteClosedError("the site is closed")
        return await fut

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
