"""Cached and replicated objects at one site: the glue between the sans-IO machines
(:mod:`netobj.protocols.migratory`, :mod:`netobj.protocols.replicated`), the local instance
that holds the state here, and the site's links.

One *entity* per site per cached or replicated object (the home included) keeps the machine,
the local instance and the addresses it learnt. Its proxy is a generated subclass of
:class:`~netobj.proxy.Proxy` with one real method per public method of the class, so a call
that can run here (a cached object whose state is here, a read on a valid replica) is a plain
method call on the local instance plus a bound Var: no lookup hook, no message.

Where methods run: a ``def`` call that finds the state here (cached) or a valid copy (a read
on a replica) runs at once in the caller's thread, like a local call, and takes no lock. Calls
that had to wait for the state run on the object's turn: ``def`` methods on a worker thread
(one batch at a time), ``async def`` methods as tasks on the loop, in arrival order. Before the
state changes hands (shipped, handed back, a copy invalidated, writes applied), the glue stops
new inline calls and waits until none is still running in any thread (see
:meth:`Entity.inline_calls_running`). Like a local object, a cached object does not
serialize calls made at once from several threads of one site.

Every call returns a Var, as for every other protocol.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from netobj import classes, errors
from netobj.protocols import migratory as mig
from netobj.protocols import replicated as rep
from netobj.proxy import Proxy
from netobj.runtime.executor import (
    Call,
    Outcome,
    failure,
    run_async_call,
    run_calls,
    run_calls_async,
)
from netobj.var import _BOUND, Var
from netobj.wire import codec
from netobj.wire import netobj_pb2 as pb

if TYPE_CHECKING:
    from netobj.link import Link

log = logging.getLogger("netobj.mobile")
#: How often a departing state looks again for inline calls still running in other threads.
INLINE_RETRY_S = 0.001
assert _BOUND == 1  # the proxy template below writes the constant
_get_ident = threading.get_ident

#: An operation: (function of the class, args, kwargs, result Var).
Op = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], Var[Any]]
OP = pb.Mobile


class MobileHost(Protocol):
    """What entities need from their site (implemented by netobj.site.Site)."""

    id: str
    _loop: asyncio.AbstractEventLoop | None
    _loop_thread: int | None
    _closing: bool

    def _mobile_send(self, site_id: str, address: str, msg: pb.Mobile) -> bool: ...
    def _encode(self, value: object, root: str) -> bytes: ...
    def _decode(self, data: bytes) -> object: ...
    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...
    async def _run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any: ...
    def _send_outcomes(self, link: Link, outcomes: list[Outcome]) -> None: ...
    def _address_of(self, site_id: str) -> str: ...
    def _mobile_instance(self, entity: Any, old: object, new: object) -> None: ...
    def _remember_address(self, site_id: str, address: str) -> None: ...
    def _notify_faults(self, home: str) -> None: ...
    def _invoke(self, ref: codec.Ref, method: str, args: tuple[Any, ...],
                kwargs: dict[str, Any], oneway: bool) -> Var[Any]: ...


# -- running operations ------------------------------------------------------------------


def _as_calls(obj: object, ops: Sequence[Op]) -> list[Call]:
    return [(i, "", fn, [obj, *args], kwargs, False)
            for i, (fn, args, kwargs, _) in enumerate(ops)]


def _call_all(obj: object, ops: Sequence[Op]) -> list[tuple[bool, Any]]:
    return [(ok, value) for _, _, ok, value in run_calls(_as_calls(obj, ops))]


async def run_ops(host: MobileHost, obj: object, ops: Sequence[Op],
                  lane: asyncio.Lock | None = None) -> None:
    """Run ``ops`` on ``obj`` in order: consecutive ``def`` methods as one batch off the
    loop (one batch at a time per ``lane``), ``async def`` ones awaited here; settle each
    op's Var."""
    i, n = 0, len(ops)
    while i < n:
        fn, args, kwargs, var = ops[i]
        if inspect.iscoroutinefunction(fn):
            try:
                ok, value = await run_async_call(fn, [obj, *args], kwargs)
            except asyncio.CancelledError:
                var._reject(errors.SiteClosedError("the site closed while the call ran"))
                raise
            if ok:
                var._resolve(value)
            else:
                var._reject(value)
            i += 1
            continue
        j = i + 1
        while j < n and not inspect.iscoroutinefunction(ops[j][0]):
            j += 1
        batch = ops[i:j]
        outcomes: list[tuple[bool, Any]]
        if lane is None:
            outcomes = await host._run_blocking(_call_all, obj, batch)
        else:
            async with lane:
                outcomes = await host._run_blocking(_call_all, obj, batch)
        for (ok, value), op in zip(outcomes, batch, strict=True):
            if ok:
                op[3]._resolve(value)
            else:
                op[3]._reject(value)
        i = j


def _fail_ops(ops: Sequence[Op], exc: BaseException) -> None:
    for op in ops:
        op[3]._reject(exc)


# -- entities ------------------------------------------------------------------------------


class Entity:
    """Base of the per-site glue of one cached or replicated object."""

    def __init__(self, host: MobileHost, ref: codec.Ref, cls: type, obj: object) -> None:
        self.host = host
        self.ref = ref
        self.cls = cls
        self.obj = obj
        # A call may run inline now, in the caller's thread (see inline_calls_running).
        self.free = False
        self.failure = ""  # killed or broken (netobj.Site.kill / break_)
        self.methods = {name: fn for name, fn in _methods(cls).items()}
        self._inline_codes: frozenset[Any] = proxy_class(cls, ref.protocol)._netobj_inline_codes
        self._proxy: Any = None
        self._proxy_ref: Any = None
        self._lane: asyncio.Lock | None = None  # def methods: one batch at a time

    def lane(self) -> asyncio.Lock:
        if self._lane is None:
            self._lane = asyncio.Lock()
        return self._lane

    def close(self) -> None:
        """The site closed: operations still waiting here fail."""

    def fail(self, reason: str) -> None:
        """The object failed permanently (killed, or broken here)."""
        self.failure = reason
        self.free = False

    def fault_state(self) -> str | None:
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {classes.qualified_name(self.cls)} {self.ref.key[:6]}>"

    def proxy(self) -> Proxy:
        """This site's proxy of the object (one per entity while it is referenced)."""
        p = self._proxy_ref() if self._proxy_ref is not None else None
        if p is None:
            host: Any = self.host  # a Site: also the ProxyHost
            p = proxy_class(self.cls, self.ref.protocol)(host, self.ref)
            object.__setattr__(p, "_netobj_m", self)
            self._proxy_ref = weakref.ref(p)
        return p

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Var[Any]:
        """A call that did not take the inline path: any thread."""
        var: Var[Any] = Var()
        if self.failure:
            var._reject(errors.PermFailure(self.failure))
            return var
        fn = self.methods[name]
        host = self.host
        loop = host._loop
        if _get_ident() == host._loop_thread:
            self._call(name, (fn, args, kwargs, var))
        elif loop is None or loop.is_closed():
            var._reject(errors.SiteClosedError("the site is not running"))
        else:
            try:
                loop.call_soon_threadsafe(self._call, name, (fn, args, kwargs, var))
            except RuntimeError:
                var._reject(errors.SiteClosedError("the site is closed"))
        return var

    def _call(self, name: str, op: Op) -> None:
        raise NotImplementedError

    def on_message(self, link: Link, msg: pb.Mobile) -> None:
        raise NotImplementedError

    def on_site_failed(self, site_id: str, reason: str) -> None:
        raise NotImplementedError

    def on_undelivered(self, site_id: str, msg: pb.Mobile) -> None:
        """A message to ``site_id`` (which failed) was never written to any connection."""

    def _send(self, to: str, op: pb.Mobile.Op, **fields: Any) -> bool:
        msg = pb.Mobile(home=self.ref.site_id, key=self.ref.key, op=op, **fields)
        return self.host._mobile_send(to, self.host._address_of(to), msg)

    def _set_free(self, free: bool) -> None:
        self.free = free and not self.failure

    def inline_calls_running(self) -> bool:
        """Is some thread inside an inline call of this class's proxies right now?

        Inline calls take no lock (that is what makes them cheap): a thread reads ``free``
        and runs the method. So before the state may change hands (shipped, invalidated,
        written), the glue clears ``free`` - no call starts inline after that - and then
        waits until no thread is still inside one that started before: it looks at every
        thread's stack for a frame of this class's proxy stubs whose entity is this one
        (under the GIL another thread is always stopped between two bytecodes, so a call
        that read ``free`` is visibly inside the stub). Only calls on this object count: a
        thread blocked inside an inline call of another object must not hold this one's
        state back. (This relies on the GIL: CPython without it would need a lock here.)"""
        codes = self._inline_codes
        if not codes:
            return False
        for frame in sys._current_frames().values():
            f: Any = frame
            while f is not None:
                # reading f_locals of a frame of a stopped thread is what debuggers do
                if f.f_code in codes and f.f_locals.get("_nb_e") is self:
                    return True
                f = f.f_back
        return False

    def _when_no_inline_calls(self, then: Callable[[], None]) -> None:
        """Run ``then`` (on the loop) once no inline call on this object is running."""
        self.free = False
        if not self.inline_calls_running():
            then()
            return
        loop = self.host._loop
        assert loop is not None

        def retry() -> None:
            self._when_no_inline_calls(then)

        loop.call_later(INLINE_RETRY_S, retry)

    def _install(self, state: object) -> None:
        """A new local instance holding ``state`` (see classes.fresh)."""
        old, self.obj = self.obj, classes.fresh(self.cls, state)
        self.host._mobile_instance(self, old, self.obj)

    def _encode_state(self) -> bytes:
        return self.host._encode(classes.get_state(self.obj),
                                 f"state of {classes.qualified_name(self.cls)}")


class _Guest(Entity):
    """An entity whose machine hands out operations to run here (a cached object at any
    site, a replica): running them, and failing those still waiting."""

    machine: Any

    def _do(self, actions: Any) -> None:
        raise NotImplementedError

    def _run_lane(self) -> asyncio.Lock | None:
        return None

    def _after_run(self) -> None:
        pass

    def _spawn_run(self, ops: list[Op]) -> None:
        async def run() -> None:
            try:
                await run_ops(self.host, self.obj, ops, self._run_lane())
            finally:
                self._do(self.machine.on_done(len(ops)))
                self._after_run()

        self.host._spawn(run())

    def close(self) -> None:
        _fail_ops(list(self.machine.waiting),
                  errors.SiteClosedError("the local site was closed"))
        self.machine.waiting.clear()

    def fail(self, reason: str) -> None:
        super().fail(reason)
        self._do(self.machine.on_lost(reason))


class CachedEntity(_Guest):
    """A cached object at one site: the migratory proxy, and the manager at the home."""

    def __init__(self, host: MobileHost, ref: codec.Ref, cls: type, obj: object,
                 home: bool) -> None:
        super().__init__(host, ref, cls, obj)
        self.machine: mig.MigratoryProxy[Op] = mig.MigratoryProxy(holding=home)
        self.manager = mig.MigratoryManager(host.id) if home else None
        self._set_free(self.machine.free)
        self._incoming: object = None
        self.moves_in = 0  # tokens received here (statistics)
        self._relayed: set[tuple[str, int]] = set()  # PUTs the home sent for closing sites
        self._lost_reported = False

    def _call(self, name: str, op: Op) -> None:
        self._do(self.machine.on_access(op))

    # proxy side ---------------------------------------------------------------------------

    def _do(self, actions: list[mig.ProxyAction[Op]]) -> None:
        for action in actions:
            if isinstance(action, mig.Run):
                self._spawn_run(action.ops)
            elif isinstance(action, mig.Install):
                self._install(self._incoming)
                self._incoming = None
                self.moves_in += 1
            elif isinstance(action, mig.SendGet):
                if self.manager is not None:
                    self._manage(self.manager.on_get(self.host.id, action.req))
                else:
                    self._send(self.ref.site_id, OP.GET, req=action.req)
            elif isinstance(action, mig.SendPut):
                self._ship(action)
            elif isinstance(action, mig.SendStatus):
                if self.manager is not None:
                    self._manage(self.manager.on_status(self.host.id, action.req,
                                                        action.status, action.held,
                                                        action.dead))
                else:
                    self._send(self.ref.site_id, OP.STATUS, req=action.req,
                               status=action.status, req2=action.held + 1,
                               site_id=action.dead)
            elif isinstance(action, mig.Fail):
                _fail_ops(action.ops, errors.PermFailure(
                    f"cached object {classes.qualified_name(self.cls)} failed: {action.reason}"))
        self._set_free(self.machine.free)
        if self.machine.failure and not self._lost_reported:
            self._lost_reported = True
            self.host._notify_faults(self.ref.site_id)

    def _ship(self, action: mig.SendPut) -> None:
        self._when_no_inline_calls(lambda: self._ship_now(action))

    def _ship_now(self, action: mig.SendPut) -> None:
        if action.failure:
            self._send(action.site, OP.PUT, req=action.req, failed=True, status=action.failure)
            return
        try:
            data = self._encode_state()
        except errors.MarshalError as exc:
            log.error("the state of %s cannot travel; the object fails: %s", self, exc)
            self._do(self.machine.on_state_unmarshallable(action.site, action.req, str(exc)))
            return
        classes.clear_state(self.obj)
        self._send(action.site, OP.PUT, req=action.req, state=data)

    def _run_lane(self) -> asyncio.Lock | None:
        return self.lane()  # def methods one batch at a time

    def _after_run(self) -> None:
        if self.host._closing and self.manager is None:
            self.hand_back()

    def hand_back(self) -> None:
        """This site is closing: give the state back to the home if it is here and idle
        (else it goes on to its successor as usual, or is lost with the site)."""
        if self.manager is not None:
            return
        if self.inline_calls_running():
            self._when_no_inline_calls(self.hand_back)
            return
        req = self.machine.on_hand_back()
        if req < 0:
            return
        self._set_free(self.machine.free)
        try:
            data = self._encode_state()
        except errors.MarshalError as exc:
            log.error("cannot hand the state of %s back to its home: %s", self, exc)
            return
        classes.clear_state(self.obj)
        self._send(self.ref.site_id, OP.RETURN, req=req, state=data)

    def kill(self, reason: str) -> None:
        """(Home.) Killed: the manager tells every site in the chain (and any later GET)."""
        if self.manager is not None and not self.manager.lost:
            self._manage(self.manager._declare_lost(reason))

    def _on_return(self, site: str, req: int, state: bytes) -> None:
        """(Home.) A closing site handed back the state it held for ``req``."""
        assert self.manager is not None
        if self.manager.lost:  # too late: it failed meanwhile
            self._send(site, OP.LOST, status=self.manager.lost)
            return
        nxt = self.manager.on_return(site, req)
        if nxt is None:
            self._incoming = self.host._decode(state)
            self._do(self.machine.on_adopt())
            self.manager.adopted(self.machine.req)
        elif nxt[0] == self.host.id:
            self._incoming = self.host._decode(state)
            self._do(self.machine.on_put(nxt[1]))
        else:  # passed on by the home; taken back if it cannot be delivered (on_undelivered)
            self._relayed.add(nxt)
            self._send(nxt[0], OP.PUT, req=nxt[1], state=state)

    # manager side (home only) -------------------------------------------------------------

    def _manage(self, actions: list[mig.ManagerAction]) -> None:
        me = self.host.id
        for action in actions:
            if isinstance(action, mig.SendForward):
                if action.site == me:
                    self._do(self.machine.on_forward(action.req, action.succ, action.succ_req))
                else:
                    self._send(action.site, OP.FORWARD, req=action.req, site_id=action.succ,
                               address=self.host._address_of(action.succ) if action.succ
                               else "", req2=action.succ_req)
            elif isinstance(action, mig.SendInquire):
                if action.site == me:
                    self._do(self.machine.on_inquire())
                else:
                    self._send(action.site, OP.INQUIRE)
            elif isinstance(action, mig.SendLost):
                if action.site == me:
                    self._do(self.machine.on_lost(action.reason))
                else:
                    self._send(action.site, OP.LOST, status=action.reason)

    # events --------------------------------------------------------------------------------

    def on_message(self, link: Link, msg: pb.Mobile) -> None:
        op = msg.op
        try:
            if op == OP.PUT:
                failure = ""
                if msg.failed:
                    failure = msg.status or "the object's state could not travel"
                else:
                    try:
                        self._incoming = self.host._decode(msg.state)
                    except errors.NetobjError as exc:
                        failure = f"the object's state could not be decoded here: {exc}"
                self._do(self.machine.on_put(msg.req, failure))
                if self.host._closing:
                    self.hand_back()
            elif op == OP.FORWARD:
                self.host._remember_address(msg.site_id, msg.address)
                self._do(self.machine.on_forward(msg.req, msg.site_id, msg.req2))
            elif op == OP.INQUIRE:
                self._do(self.machine.on_inquire())
            elif op == OP.LOST:
                self._do(self.machine.on_lost(msg.status or "lost"))
            elif self.manager is not None and op == OP.GET:
                self._manage(self.manager.on_get(link.peer_id, msg.req))
            elif self.manager is not None and op == OP.RETURN:
                self._on_return(link.peer_id, msg.req, msg.state)
            elif self.manager is not None and op == OP.STATUS:
                self._manage(self.manager.on_status(link.peer_id, msg.req, msg.status,
                                                    int(msg.req2) - 1, msg.site_id))
            else:
                log.warning("unexpected %s for cached object from %s",
                            OP.Op.Name(op) if op in OP.Op.values() else op, link.peer_address)
        except mig.ProtocolViolation as exc:
            log.warning("protocol violation from %s: %s", link.peer_address, exc)

    def on_undelivered(self, site_id: str, msg: pb.Mobile) -> None:
        """A message of ours to ``site_id`` (now failed) was never written anywhere."""
        if msg.op != OP.PUT or msg.failed:
            return
        if self.manager is not None and (site_id, msg.req) in self._relayed:
            # state the home passed on for a closing site: place it again, past the dead one
            self._relayed.discard((site_id, msg.req))
            if not self.manager.lost:
                self._on_return(site_id, msg.req, msg.state)  # marks the site dead too
            return
        try:
            state = self.host._decode(msg.state)
        except errors.NetobjError:  # pragma: no cover - we encoded it ourselves
            log.exception("cannot take back the state of %s", self)
            return
        self._incoming = state
        self._do(self.machine.on_put_undelivered(site_id, msg.req))

    def on_site_failed(self, site_id: str, reason: str) -> None:
        if self.manager is not None:
            self._manage(self.manager.on_site_failed(site_id))
            self._do(self.machine.on_site_failed(site_id))
        elif site_id == self.ref.site_id:
            self._do(self.machine.on_lost(f"its home site failed: {reason}"))
        else:
            self._do(self.machine.on_site_failed(site_id))

    def fault_state(self) -> str | None:
        return "perm_fail" if self.machine.state == mig.LOST else None


class ReplicaHomeEntity(Entity):
    """A replicated object at its home: the master state, the readers and the write rounds."""

    def __init__(self, host: MobileHost, ref: codec.Ref, cls: type, obj: object) -> None:
        super().__init__(host, ref, cls, obj)
        # tokens: ("local", Op) for calls made here; ("remote", (link, calls, is_async))
        self.machine: rep.ReplicaHome[tuple[str, Any]] = rep.ReplicaHome()
        self._set_free(True)

    def _call(self, name: str, op: Op) -> None:
        if classes.is_read(self.cls, name):
            self._do(self.machine.on_read(("local", op)))
        else:
            self._do(self.machine.on_write(("local", op)))

    def remote_write(self, link: Link, calls: list[Any], is_async: bool) -> None:
        """Calls that arrived for the object (writes; a read sent here runs as one too)."""
        self._do(self.machine.on_write(("remote", (link, calls, is_async))))

    def _do(self, actions: list[rep.HomeAction[tuple[str, Any]]],
            replies: Callable[[], None] | None = None) -> None:
        for action in actions:
            if isinstance(action, rep.SendCommit):
                self._commit(action.sites, action.version)
                if replies is not None:  # the replies go after the COMMITs
                    replies()
                    replies = None
            elif isinstance(action, rep.SendInvalidate):
                self._send(action.site, OP.INVALIDATE)
            elif isinstance(action, rep.Apply):
                self._when_no_inline_calls(functools.partial(self._start_apply, action.ops))
            elif isinstance(action, rep.Run):
                ops = [token[1] for token in action.ops]
                self.host._spawn(run_ops(self.host, self.obj, ops))
        if replies is not None:
            replies()
        self._set_free(self.machine.free)

    def _start_apply(self, tokens: list[tuple[str, Any]]) -> None:
        self.host._spawn(self._apply(tokens))

    def _commit(self, sites: list[str], version: int) -> None:
        try:
            data, failed, status = self._encode_state(), False, ""
        except errors.MarshalError as exc:
            log.error("the state of %s cannot travel to its replicas: %s", self, exc)
            data, failed, status = b"", True, str(exc)
        for site in sites:
            self._send(site, OP.COMMIT, req=version, state=data, failed=failed, status=status)

    async def _apply(self, tokens: list[tuple[str, Any]]) -> None:
        local: list[Op] = []
        remote: list[tuple[Link, list[Outcome]]] = []
        shadows: list[tuple[Op, Var[Any]]] = []
        try:
            for kind, item in tokens:
                if kind == "local":
                    fn, args, kwargs, _ = item
                    shadow: Var[Any] = Var()  # settled now, passed on after the COMMITs
                    await run_ops(self.host, self.obj, [(fn, args, kwargs, shadow)])
                    shadows.append((item, shadow))
                    local.append(item)
                else:
                    link, calls, is_async = item
                    remote.append((link, await self._run_calls(calls, is_async)))
        finally:
            def replies() -> None:
                for op, shadow in shadows:
                    if shadow.failed():
                        op[3]._reject(shadow._value)
                    else:
                        op[3]._resolve(shadow._value)
                for link, outcomes in remote:
                    self.host._send_outcomes(link, outcomes)

            self._do(self.machine.on_applied(), replies)

    async def _run_calls(self, calls: list[Any], is_async: bool) -> list[Outcome]:
        if is_async:
            return await run_calls_async(calls)
        result: list[Outcome] = await self.host._run_blocking(run_calls, calls)
        return result

    def on_message(self, link: Link, msg: pb.Mobile) -> None:
        if msg.op == OP.SUBSCRIBE:
            self._do(self.machine.on_subscribe(link.peer_id))
        elif msg.op == OP.INVALID:
            self._do(self.machine.on_invalid(link.peer_id))
        else:
            log.warning("unexpected mobile op %d for a replicated home from %s", msg.op,
                        link.peer_address)

    def on_site_failed(self, site_id: str, reason: str) -> None:
        self._do(self.machine.on_site_failed(site_id))

    def fault_state(self) -> str | None:
        return None


class ReplicaEntity(_Guest):
    """A replicated object away from its home: the local copy; writes go home."""

    def __init__(self, host: MobileHost, ref: codec.Ref, cls: type) -> None:
        super().__init__(host, ref, cls, classes.blank(cls))
        self.machine: rep.ReplicaProxy[Op] = rep.ReplicaProxy()
        self._lost_reported = False
        self._incoming: object = None
        self.commits = 0

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Var[Any]:
        if classes.is_read(self.cls, name):
            return super().call(name, args, kwargs)
        return self.host._invoke(self.ref, name, args, kwargs, False)

    def _call(self, name: str, op: Op) -> None:
        self._do(self.machine.on_read(op))

    def _do(self, actions: list[rep.ReplicaAction[Op]]) -> None:
        for action in actions:
            if isinstance(action, rep.Run):
                self._spawn_run(action.ops)
            elif isinstance(action, rep.Install):
                self._install(self._incoming)
                self._incoming = None
                self.commits += 1
            elif isinstance(action, rep.SendSubscribe):
                self._send(self.ref.site_id, OP.SUBSCRIBE)
            elif isinstance(action, rep.SendInvalid):  # once no read runs on the old copy
                self._when_no_inline_calls(self._send_invalid)
            elif isinstance(action, rep.Fail):
                _fail_ops(action.ops, errors.PermFailure(
                    f"replicated object {classes.qualified_name(self.cls)} failed: "
                    f"{action.reason}"))
        self._set_free(self.machine.free)
        if self.machine.state == rep.LOST and not self._lost_reported:
            self._lost_reported = True
            self.host._notify_faults(self.ref.site_id)


    def _send_invalid(self) -> None:
        self._send(self.ref.site_id, OP.INVALID)

    def on_message(self, link: Link, msg: pb.Mobile) -> None:
        try:
            if msg.op == OP.INVALIDATE:
                self._do(self.machine.on_invalidate())
            elif msg.op == OP.COMMIT:
                if msg.failed:
                    self._do(self.machine.on_lost(msg.status or "the state could not travel"))
                    return
                try:
                    self._incoming = self.host._decode(msg.state)
                except errors.NetobjError as exc:
                    self._do(self.machine.on_lost(f"the state could not be decoded here: {exc}"))
                    return
                self._do(self.machine.on_commit(msg.req))
            else:
                log.warning("unexpected mobile op %d for a replica from %s", msg.op,
                            link.peer_address)
        except rep.ProtocolViolation as exc:
            log.warning("protocol violation from %s: %s", link.peer_address, exc)

    def on_site_failed(self, site_id: str, reason: str) -> None:
        if site_id == self.ref.site_id:
            self._do(self.machine.on_lost(f"its home site failed: {reason}"))

    def fault_state(self) -> str | None:
        return "perm_fail" if self.machine.state == rep.LOST else None


# -- generated proxy classes ---------------------------------------------------------------


class MobileProxy(Proxy):
    """Base of the generated proxy classes: ordinary attribute lookup (the methods are real;
    a name the class does not offer raises the usual AttributeError)."""

    __slots__ = ("_netobj_m",)
    __getattribute__ = object.__getattribute__
    _netobj_inline_codes: frozenset[Any] = frozenset()


_proxy_classes: dict[tuple[type, str], type[MobileProxy]] = {}
_proxy_lock = threading.Lock()


def _methods(cls: type) -> dict[str, Callable[..., Any]]:
    out: dict[str, Callable[..., Any]] = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(cls, name, None)
        if inspect.isfunction(attr):
            out[name] = attr
    return out


def proxy_class(cls: type, protocol: str) -> type[MobileProxy]:
    key = (cls, protocol)
    pc = _proxy_classes.get(key)
    if pc is None:
        with _proxy_lock:
            pc = _proxy_classes.get(key)
            if pc is None:
                ns: dict[str, Any] = {"__slots__": ()}
                codes = []
                for name, fn in _methods(cls).items():
                    inline = not inspect.iscoroutinefunction(fn) and (
                        protocol == "cached" or classes.is_read(cls, name))
                    ns[name] = _stub(name, fn, inline)
                    if inline:
                        codes.append(ns[name].__code__)
                ns["_netobj_inline_codes"] = frozenset(codes)
                pc = type(f"{cls.__name__}Proxy", (MobileProxy,), ns)
                _proxy_classes[key] = pc
    return pc


class _Ready(Var[Any]):
    """A Var made already bound by a local call: no ``__init__`` to run (the stub sets every
    slot), which makes the inline path of a cached object's proxy cheaper."""

    __slots__ = ()
    __init__ = object.__init__


def _failed(exc: BaseException) -> Var[Any]:
    v: Var[Any] = Var()
    v._reject(exc)
    return v


_STUB = '''
def {name}(self{params}):
    _nb_e = self._netobj_m
    if _nb_e.free:
        try:
            _nb_value = _nb_fn(_nb_e.obj{call})
        except BaseException as _nb_exc:  # one outcome, as netobj.runtime.executor.run_calls
            return _nb_failed(_nb_failure(_nb_exc))
        _nb_v = _nb_Ready()
        _nb_v._state = 1  # _BOUND
        _nb_v._value = _nb_value
        _nb_v._waiters = None
        _nb_v._ext = None
        return _nb_v
    return _nb_e.call({name!r}, ({pos}), {kw})
'''

_STUB_REMOTE = '''
def {name}(self{params}):
    return self._netobj_m.call({name!r}, ({pos}), {kw})
'''


def _stub(name: str, fn: Callable[..., Any], inline: bool) -> Callable[..., Any]:
    """A proxy method with ``fn``'s signature (so that a call costs no argument packing)."""
    params, call, pos, kw, defaults = _signature_parts(fn)
    ns: dict[str, Any] = {"_nb_fn": fn, "_nb_failed": _failed, "_nb_failure": failure,
                          "_nb_Ready": _Ready, **defaults}
    source = (_STUB if inline else _STUB_REMOTE).format(name=name, params=params, call=call,
                                                        pos=pos, kw=kw)
    # The template is ours; only the method's own parameter names are filled in.
    exec(compile(source, f"<netobj proxy {name}>", "exec"), ns)
    stub: Callable[..., Any] = ns[name]
    stub.__doc__ = fn.__doc__
    stub.__qualname__ = f"Proxy.{name}"
    return stub


def _signature_parts(fn: Callable[..., Any]) -> tuple[str, str, str, str, dict[str, Any]]:
    generic: tuple[str, str, str, str, dict[str, Any]] = (
        ", *args, **kwargs", ", *args, **kwargs", "*args,", "kwargs", {})
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return generic
    items = list(sig.parameters.values())[1:]  # without self
    params: list[str] = []
    call: list[str] = []
    pos: list[str] = []
    kws: list[str] = []
    defaults: dict[str, Any] = {}
    star = False
    posonly_done = False
    P = inspect.Parameter
    for i, p in enumerate(items):
        if not p.name.isidentifier() or p.name.startswith("_nb_") or p.name == "self":
            return generic
        if p.kind != P.POSITIONAL_ONLY and not posonly_done and i > 0 and \
                items[i - 1].kind == P.POSITIONAL_ONLY:
            params.append("/")
            posonly_done = True
        text = p.name
        if p.kind == P.VAR_POSITIONAL:
            params.append("*" + p.name)
            call.append("*" + p.name)
            pos.append("*" + p.name)
            star = True
            continue
        if p.kind == P.VAR_KEYWORD:
            params.append("**" + p.name)
            call.append("**" + p.name)
            kws.append("**" + p.name)
            continue
        if p.kind == P.KEYWORD_ONLY and not star:
            params.append("*")
            star = True
        if p.default is not P.empty:
            dname = f"_nb_d{i}"
            defaults[dname] = p.default
            text += "=" + dname
        params.append(text)
        if p.kind == P.KEYWORD_ONLY:
            call.append(f"{p.name}={p.name}")
            kws.append(f"{p.name!r}: {p.name}")
        else:
            call.append(p.name)
            pos.append(p.name)
    if items and items[-1].kind == P.POSITIONAL_ONLY:
        params.append("/")
    lead = ", " if params else ""
    clead = ", " if call else ""
    pos_text = ", ".join(pos) + ("," if len(pos) == 1 else "")
    if len(pos) > 1 or (pos and not pos[0].startswith("*")):
        pos_text = ", ".join(pos) + ","
    elif pos:
        pos_text = pos[0] + ","
    return (lead + ", ".join(params), clead + ", ".join(call), pos_text,
            "{" + ", ".join(kws) + "}", defaults)
