"""Dataflow variables, the local part.

A :class:`Var` is a single-assignment variable: unbound, then bound (to a value) or failed
(to an exception) forever. Every remote operation returns one at once.

Waiting:

* ``await var`` in a coroutine, on any event loop;
* ``var.wait(timeout=None)`` in a thread. On a thread that runs an event loop it refuses with
  :class:`~netobj.errors.DeadlockError` while the Var is unbound: blocking there would stop the
  very loop that has to bind it.

Binding (``bind`` / ``fail``) is safe from any thread. Callbacks added with
``add_done_callback`` run in the thread that binds, after the state changed, outside locks
(never inline in ``add_done_callback`` when unbound).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator, Iterable
from typing import Any, Generic, TypeVar

from netobj.errors import DeadlockError, UnificationError

T = TypeVar("T")

_UNBOUND = 0
_BOUND = 1
_FAILED = 2
_STATE_NAMES = {_UNBOUND: "unbound", _BOUND: "bound", _FAILED: "failed"}

# One lock for all Vars: bindings are short and mostly on one loop thread, so it is
# uncontended; a lock per Var would cost memory on every remote call.
_lock = threading.Lock()

DoneCallback = Callable[["Var[Any]"], None]


class Var(Generic[T]):
    """A single-assignment dataflow variable."""

    __slots__ = ("__weakref__", "_state", "_value", "_waiters")

    # _value is set when the Var is determined (never read before); _waiters holds the
    # callbacks, and a threading.Event (as its ``set`` method) for wait() in threads.
    def __init__(self) -> None:
        self._state = _UNBOUND
        self._waiters: list[DoneCallback] | None = None

    # -- inspection -------------------------------------------------------------------------

    def __repr__(self) -> str:
        state = self._state
        if state == _UNBOUND:
            return "<Var unbound>"
        if state == _BOUND:
            text = repr(self._value)
            if len(text) > 60:
                text = text[:57] + "..."
            return f"<Var bound={text}>"
        return f"<Var failed={self._value!r}>"

    def done(self) -> bool:
        """True once the Var is bound or failed."""
        return self._state != _UNBOUND

    def failed(self) -> bool:
        return self._state == _FAILED

    @property
    def state(self) -> str:
        """``"unbound"``, ``"bound"`` or ``"failed"``."""
        return _STATE_NAMES[self._state]

    def result(self) -> T:
        """The value now: raises the failure, or :class:`LookupError` if unbound."""
        state = self._state
        if state == _BOUND:
            return self._value  # type: ignore[no-any-return]
        if state == _FAILED:
            raise self._value
        raise LookupError("Var is unbound")

    def exception(self) -> BaseException | None:
        return self._value if self._state == _FAILED else None

    # -- binding ------------------------------------------------------------------------------

    def _settle(self, state: int, value: Any) -> bool:
        """Set the state once; returns False (changing nothing) when already settled."""
        with _lock:
            if self._state != _UNBOUND:
                return False
            self._state = state
            self._value = value
            callbacks, self._waiters = self._waiters, None
        if callbacks:
            for cb in callbacks:
                cb(self)
        return True

    def bind(self, value: T) -> None:
        """Bind to ``value``; binding again to an equal value is a no-op.

        Raises :class:`~netobj.errors.UnificationError` when the Var is already bound to a
        different value (or failed), and leaves it as it was.
        """
        if self._settle(_BOUND, value):
            return
        if self._state == _BOUND and _equal(self._value, value):
            return
        raise UnificationError(f"cannot bind {self!r} to {value!r}")

    def fail(self, exc: BaseException) -> None:
        """Bind a failed value: every waiter gets ``exc``."""
        if not isinstance(exc, BaseException):
            raise TypeError("Var.fail() takes an exception")
        if not self._settle(_FAILED, exc):
            raise UnificationError(f"cannot fail {self!r}: it is already determined")

    # runtime side: settle if still unbound, report whether it happened (never raises)
    def _resolve(self, value: Any) -> bool:
        # _settle(_BOUND, value), inlined: this runs once per remote call
        with _lock:
            if self._state != _UNBOUND:
                return False
            self._state = _BOUND
            self._value = value
            callbacks, self._waiters = self._waiters, None
        if callbacks:
            for cb in callbacks:
                cb(self)
        return True

    def _reject(self, exc: BaseException) -> bool:
        return self._settle(_FAILED, exc)

    # -- waiting ------------------------------------------------------------------------------

    def add_done_callback(self, fn: DoneCallback) -> None:
        """Call ``fn(var)`` once the Var is determined (at once if it already is)."""
        with _lock:
            if self._state == _UNBOUND:
                if self._waiters is None:
                    self._waiters = [fn]
                else:
                    self._waiters.append(fn)
                return
        fn(self)

    def remove_done_callback(self, fn: DoneCallback) -> None:
        with _lock:
            if self._waiters and fn in self._waiters:
                self._waiters.remove(fn)

    def __await__(self) -> Generator[Any, None, T]:
        if self._state == _UNBOUND:
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            loop_thread = threading.get_ident()

            def wake(_: Var[Any]) -> None:
                if threading.get_ident() == loop_thread:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    loop.call_soon_threadsafe(_set_if_pending, fut)

            self.add_done_callback(wake)
            try:
                yield from fut.__await__()
            finally:
                if self._state == _UNBOUND:  # cancelled while waiting
                    self.remove_done_callback(wake)
        if self._state == _BOUND:
            return self._value  # type: ignore[no-any-return]
        raise self._value

    def wait(self, timeout: float | None = None) -> T:
        """Block this thread until the Var is determined; return its value or raise.

        Raises :class:`TimeoutError` after ``timeout`` seconds, and
        :class:`~netobj.errors.DeadlockError` when called unbound on an event-loop thread.
        """
        if self._state == _UNBOUND:
            if asyncio._get_running_loop() is not None:
                raise DeadlockError(
                    "Var.wait() was called on a thread that runs an event loop; it would "
                    "block the loop that has to bind the Var. Use 'await var' there."
                )
            event = threading.Event()
            wake = _EventWaker(event)
            self.add_done_callback(wake)
            if not event.wait(timeout):
                self.remove_done_callback(wake)
                raise TimeoutError(f"Var still unbound after {timeout} s")
        return self.result()


def resolve_many(pairs: Iterable[tuple[Var[Any], Any]]) -> None:
    """Bind each still-unbound Var of ``(var, value)`` pairs; one lock for all (runtime use)."""
    woken: list[tuple[Var[Any], list[DoneCallback]]] = []
    with _lock:
        for var, value in pairs:
            if var is None or var._state != _UNBOUND:
                continue
            var._state = _BOUND
            var._value = value
            waiters = var._waiters
            if waiters:
                var._waiters = None
                woken.append((var, waiters))
    for var, waiters in woken:
        for cb in waiters:
            cb(var)


class _EventWaker:
    __slots__ = ("event",)

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, var: Var[Any]) -> None:
        self.event.set()


def _set_if_pending(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _equal(a: object, b: object) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False


def bound(value: T) -> Var[T]:
    """A Var already bound to ``value``."""
    v: Var[T] = Var()
    v._resolve(value)
    return v


def failed(exc: BaseException) -> Var[Any]:
    """A Var already failed with ``exc``."""
    v: Var[Any] = Var()
    v._reject(exc)
    return v
