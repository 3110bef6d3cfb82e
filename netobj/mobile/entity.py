"""The per-site glue of one cached or replicated object: the base of the entities."""

from __future__ import annotations

import asyncio
import sys
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from netobj import classes, errors
from netobj.mobile.host import EntityHost
from netobj.mobile.ops import Op, fail_ops, run_ops
from netobj.mobile.stubs import methods_of, proxy_class
from netobj.proxy import Proxy
from netobj.runtime.executor import Call
from netobj.var import Var
from netobj.wire import codec
from netobj.wire import netobj_pb2 as pb

if TYPE_CHECKING:
    from netobj.runtime.peers import Peer

#: How often a departing state looks again for inline calls still running in other threads.
INLINE_RETRY_S = 0.001

#: Told when an entity keeps its state in a new local instance: (entity, old, new).
OnInstance = Callable[[Any, object, object], None]


class Entity:
    """Base of the per-site glue of one cached or replicated object."""

    def __init__(self, host: EntityHost, on_instance: OnInstance, ref: codec.Ref, cls: type,
                 obj: object) -> None:
        self.host = host
        self._on_instance = on_instance  # the table of entities (netobj.mobile.table)
        self.ref = ref
        self.cls = cls
        self.obj = obj
        # A call may run inline now, in the caller's thread (see inline_calls_running).
        self.free = False
        self.failure = ""  # killed or broken (netobj.Site.kill / break_)
        self.methods = {name: fn for name, fn in methods_of(cls).items()}
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

    def kill(self, reason: str) -> None:
        """(Home.) Killed everywhere (netobj.Site.kill): what this kind of object does."""

    def hand_back(self) -> None:
        """This site is closing: give back state that belongs elsewhere."""

    def remote_call(self, peer: Peer, calls: list[Call], is_async: bool) -> None:
        """(Home.) Calls that arrived from ``peer`` for the object."""
        self.host.send_outcomes(peer, [(c[0], c[5], False, errors.ProtocolError(
            "a cached object is not called remotely: its state moves to the caller"))
            for c in calls])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {classes.qualified_name(self.cls)} {self.ref.key[:6]}>"

    def proxy(self) -> Proxy:
        """This site's proxy of the object (one per entity while it is referenced)."""
        p = self._proxy_ref() if self._proxy_ref is not None else None
        if p is None:
            p = proxy_class(self.cls, self.ref.protocol)(self.host.proxy_host, self.ref)
            object.__setattr__(p, "_netobj_m", self)
            self._proxy_ref = weakref.ref(p)
        return p

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Var[Any]:
        """A call that did not take the inline path: any thread."""
        var: Var[Any] = Var()
        if self.failure:
            var._reject(errors.PermFailure(self.failure))
            return var
        if not self.host.call_on_loop(self._call, name, (self.methods[name], args, kwargs, var)):
            var._reject(errors.SiteClosedError("the site is not running"))
        return var

    def _call(self, name: str, op: Op) -> None:
        raise NotImplementedError

    def on_message(self, link: Peer, msg: pb.Mobile) -> None:
        raise NotImplementedError

    def on_site_failed(self, site_id: str, reason: str) -> None:
        raise NotImplementedError

    def on_undelivered(self, site_id: str, msg: pb.Mobile) -> None:
        """A message to ``site_id`` (which failed) was never written to any connection."""

    def _send(self, to: str, op: pb.Mobile.Op, **fields: Any) -> bool:
        msg = pb.Mobile(home=self.ref.site_id, key=self.ref.key, op=op, **fields)
        return self.host.send(to, self.host.address_of(to), msg)

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
        def retry() -> None:
            self._when_no_inline_calls(then)

        self.host.call_later(INLINE_RETRY_S, retry)

    def _install(self, state: object) -> None:
        """A new local instance holding ``state`` (see classes.fresh)."""
        old, self.obj = self.obj, classes.fresh(self.cls, state)
        self._on_instance(self, old, self.obj)

    def _encode_state(self) -> bytes:
        return self.host.encode(classes.get_state(self.obj),
                                 f"state of {classes.qualified_name(self.cls)}")


class GuestEntity(Entity):
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

        self.host.spawn(run())

    def close(self) -> None:
        fail_ops(list(self.machine.waiting),
                  errors.SiteClosedError("the local site was closed"))
        self.machine.waiting.clear()

    def fail(self, reason: str) -> None:
        super().fail(reason)
        self._do(self.machine.on_lost(reason))
