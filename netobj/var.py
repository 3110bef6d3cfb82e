"""Dataflow variables.

A :class:`Var` is a single-assignment variable: unbound, then bound (to a value) or failed
(to an exception) forever. Every remote operation returns one at once.

States: ``unbound``; ``linked`` (bound to another Var by unification: it takes that Var's
outcome when there is one, and counts as unbound until then); ``bound``; ``failed``.
Links always join one unbound, unlinked Var (a *representative*) to another, so they form
a forest and never a cycle; across sites the direction follows a strict total order on
(owner site id, var key) (see ``netobj.unify``).

Waiting:

* ``await var`` in a coroutine, on any event loop;
* ``var.wait(timeout=None)`` in a thread. On a thread that runs an event loop it refuses with
  :class:`~netobj.errors.DeadlockError` while the Var is unbound: blocking there would stop the
  very loop that has to bind it.

Binding (``bind`` / ``fail``) is safe from any thread. Callbacks added with
``add_done_callback`` run in the thread that binds, after the state changed, outside locks;
an exception a callback raises is logged (``netobj.var``) and goes no further.

Distribution: a Var that has been sent to another site carries a ``VarExt`` whose ``host``
(the site) is told of every change (an owner broadcasts it) and carries binds to the owner
(a proxy's ``bind`` then returns an acknowledgement Var). The need hook of a by-need Var
(see ``netobj.byneed``) and ``Var.read_only`` also live in the ext, so a plain Var stays two
slots wide.

Layering: this module imports only ``netobj.errors``. Unification (``netobj.unify``) and
by-need computations (``netobj.byneed``) are built on it; ``Var.bind`` reaches unification
through the function ``netobj.unify`` installs with :func:`set_unifier`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import reprlib
import threading
from collections.abc import Callable, Generator, Iterable
from typing import Any, Generic, Protocol, TypeVar

from netobj.errors import DeadlockError, UnificationError

T = TypeVar("T")

_UNBOUND = 0
_BOUND = 1
_FAILED = 2
_LINKED = 3
_STATE_NAMES = {_UNBOUND: "unbound", _BOUND: "bound", _FAILED: "failed", _LINKED: "unbound"}

# One lock for all Vars: bindings are short and mostly on one loop thread, so it is
# uncontended; a lock per Var would cost memory on every remote call.
_lock = threading.Lock()
_log = logging.getLogger("netobj.var")
_local_order = itertools.count(1)

DoneCallback = Callable[["Var[Any]"], None]
Unifier = Callable[[Any, Any], "Var[None] | None"]

# The one edge upward, inverted: ``Var.bind`` is unification, and unification
# (netobj.unify) is built on Var. netobj.unify installs its ``unify`` here when it is
# imported (importing ``netobj`` or any of its modules does), so this module imports
# nothing of netobj above netobj.errors.
_unifier: Unifier | None = None


def set_unifier(fn: Unifier) -> None:
    """Install the function ``Var.bind`` delegates to (called once, by netobj.unify)."""
    global _unifier
    _unifier = fn


class VarHost(Protocol):
    """What a distributed Var needs from its site (implemented by netobj.site.Site)."""

    def var_changed(self, var: Var[Any]) -> None: ...
    def var_remote_bind(self, var: Var[Any], value: object, failed: bool) -> Var[None]: ...
    def var_need(self, var: Var[Any]) -> None: ...


class VarExt:
    """The rarely used parts of a Var."""

    __slots__ = ("address", "host", "need", "needed", "order", "owned", "readonly",
                 "remote_need")

    def __init__(self) -> None:
        self.host: VarHost | None = None
        self.address = ""  # the owner's address, once distributed
        self.owned = False
        self.order: tuple[str, Any] | None = None
        # called once, with the Var, when the first wait starts (set by netobj.byneed)
        self.need: Callable[[Var[Any]], None] | None = None
        self.needed = False
        self.remote_need = False
        self.readonly = False


class Var(Generic[T]):
    """A single-assignment dataflow variable."""

    __slots__ = ("__weakref__", "_ext", "_state", "_value", "_waiters")

    # _value is set when the Var is determined or linked (never read before).
    def __init__(self) -> None:
        self._state = _UNBOUND
        self._waiters: list[DoneCallback] | None = None
        self._ext: VarExt | None = None

    # -- inspection -------------------------------------------------------------------------

    @reprlib.recursive_repr("<Var ...>")
    def __repr__(self) -> str:
        state = self._state
        ro = " read-only" if self._ext is not None and self._ext.readonly else ""
        if state == _UNBOUND:
            return f"<Var{ro} unbound>"
        if state == _LINKED:
            return f"<Var{ro} unbound (linked)>"
        if state == _BOUND:
            text = repr(self._value)
            if len(text) > 60:
                text = text[:57] + "..."
            return f"<Var{ro} bound={text}>"
        return f"<Var{ro} failed={self._value!r}>"

    def done(self) -> bool:
        """True once the Var is bound or failed."""
        return self._state == _BOUND or self._state == _FAILED

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

    def bind(self, value: object) -> Var[None] | None:
        """Unify the Var with ``value`` (see :func:`netobj.unify`).

        Decided here: returns None, or raises :class:`~netobj.errors.UnificationError` and
        changes nothing. When the answer belongs to another site (the Var's owner), returns at
        once an acknowledgement Var that binds to None when the owner accepts and fails with
        UnificationError when this bind lost to a conflicting one.
        """
        if _unifier is None:
            raise RuntimeError("netobj.unify is not imported: import netobj first")
        return _unifier(self, value)

    def fail(self, exc: BaseException) -> Var[None] | None:
        """Bind a failed value: every waiter, on every site, gets ``exc``."""
        if not isinstance(exc, BaseException):
            raise TypeError("Var.fail() takes an exception")
        rep = deref(self)
        if not isinstance(rep, Var):
            raise UnificationError(f"cannot fail {self!r}: it is already determined")
        ext = rep._ext
        if ext is not None:
            if ext.readonly or (self._ext is not None and self._ext.readonly):
                raise UnificationError("cannot fail a read-only view")
            if ext.host is not None and not ext.owned:
                return ext.host.var_remote_bind(rep, exc, True)
        if not rep._settle(_FAILED, exc):
            raise UnificationError(f"cannot fail {self!r}: it is already determined")
        return None

    def read_only(self) -> Var[T]:
        """A view that waits for this Var but cannot bind it (Oz ``!!X``)."""
        view: Var[T] = Var()
        view._ext_().readonly = True
        view._link(self)
        return view

    def _ext_(self) -> VarExt:
        ext = self._ext
        if ext is None:
            ext = self._ext = VarExt()
        return ext

    def _order(self) -> tuple[str, Any]:
        """This Var's place in the total order used to orient Var-Var links."""
        ext = self._ext_()
        if ext.order is None:
            ext.order = ("", next(_local_order))
        return ext.order

    def _settle(self, state: int, value: Any, from_link: bool = False) -> bool:
        """Set the state once; returns False (changing nothing) when already settled."""
        with _lock:
            current = self._state
            if current != _UNBOUND and not (from_link and current == _LINKED):
                return False
            self._state = state
            self._value = value
            callbacks, self._waiters = self._waiters, None
        if callbacks:
            _run_callbacks(self, callbacks)
        ext = self._ext
        if ext is not None and ext.host is not None:
            ext.host.var_changed(self)
        return True

    def _link(self, target: Var[Any]) -> bool:
        """Make this unbound Var follow ``target`` (both representatives; caller orders)."""
        with _lock:
            if self._state != _UNBOUND:
                return False
            self._state = _LINKED
            self._value = target
        target.add_done_callback(self._follow)
        ext = self._ext
        if ext is not None:
            if ext.host is not None:
                ext.host.var_changed(self)
            if ext.needed or (self._waiters and (ext.need is not None or ext.remote_need)):
                _make_needed(target)
        return True

    def _follow(self, target: Var[Any]) -> None:
        self._settle(target._state, target._value, from_link=True)

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
            _run_callbacks(self, callbacks)
        ext = self._ext
        if ext is not None and ext.host is not None:
            ext.host.var_changed(self)
        return True

    def _reject(self, exc: BaseException) -> bool:
        return self._settle(_FAILED, exc)

    # -- waiting ------------------------------------------------------------------------------

    def add_done_callback(self, fn: DoneCallback) -> None:
        """Call ``fn(var)`` once the Var is determined (at once if it already is)."""
        with _lock:
            if self._state == _UNBOUND or self._state == _LINKED:
                if self._waiters is None:
                    self._waiters = [fn]
                else:
                    self._waiters.append(fn)
                return
        _run_callbacks(self, [fn])

    def remove_done_callback(self, fn: DoneCallback) -> None:
        with _lock:
            if self._waiters and fn in self._waiters:
                self._waiters.remove(fn)

    def __await__(self) -> Generator[Any, None, T]:
        # The determined case is the common one (a local call on a cached object, a value
        # already here): this generator has no cell variables, so awaiting costs little.
        if self._state == _UNBOUND or self._state == _LINKED:
            yield from self._suspend()
        if self._state == _BOUND:
            return self._value  # type: ignore[no-any-return]
        raise self._value

    def _suspend(self) -> Generator[Any, None, None]:
        """Wait on the running loop until the Var is determined."""
        _make_needed(self)
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
            if not self.done():  # cancelled while waiting
                self.remove_done_callback(wake)

    def wait(self, timeout: float | None = None) -> T:
        """Block this thread until the Var is determined; return its value or raise.

        Raises :class:`TimeoutError` after ``timeout`` seconds, and
        :class:`~netobj.errors.DeadlockError` when called unbound on an event-loop thread.
        """
        if not self.done():
            if asyncio._get_running_loop() is not None:
                raise DeadlockError(
                    "Var.wait() was called on a thread that runs an event loop; it would "
                    "block the loop that has to bind the Var. Use 'await var' there."
                )
            event = threading.Event()
            wake = _EventWaker(event)
            self.add_done_callback(wake)
            _make_needed(self)
            if not event.wait(timeout):
                self.remove_done_callback(wake)
                raise TimeoutError(f"Var still unbound after {timeout} s")
        return self.result()


def deref(value: Any) -> Any:
    """Follow links: the representative Var (unbound), or the value of a determined Var;
    anything that is not a Var is returned as it is. Failed Vars stay Vars."""
    while isinstance(value, Var):
        state = value._state
        if state == _LINKED:
            value = value._value
        elif state == _BOUND:
            return value._value
        else:
            return value
    return value


def _make_needed(var: Var[Any]) -> None:
    """A wait started: run a by-need computation, here or at the owner, along the links."""
    seen = 0
    while var is not None and seen < 10_000:
        seen += 1
        ext = var._ext
        if ext is not None and not ext.needed:
            if ext.need is not None:
                ext.needed = True
                ext.need(var)
            elif ext.remote_need and ext.host is not None:
                ext.needed = True
                ext.host.var_need(var)
            else:
                ext.needed = True
        if var._state == _LINKED:
            var = var._value
        else:
            return


def resolve_many(pairs: Iterable[tuple[Var[Any] | None, Any]]) -> None:
    """Bind each still-unbound Var of ``(var, value)`` pairs; one lock for all (runtime use)."""
    woken: list[tuple[Var[Any], list[DoneCallback]]] = []
    hosted: list[Var[Any]] = []
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
            if var._ext is not None and var._ext.host is not None:
                hosted.append(var)
    for var, waiters in woken:
        _run_callbacks(var, waiters)
    for var in hosted:
        var._ext.host.var_changed(var)  # type: ignore[union-attr]


def _run_callbacks(var: Var[Any], callbacks: list[DoneCallback]) -> None:
    """Run done-callbacks; one that raises is logged and does not stop the others (nor the
    runtime that bound the Var)."""
    for cb in callbacks:
        try:
            cb(var)
        except Exception:
            _log.exception("exception in a done-callback of %r", var)


class _EventWaker:
    __slots__ = ("event",)

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, var: Var[Any]) -> None:
        self.event.set()


def _set_if_pending(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


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
