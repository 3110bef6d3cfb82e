"""The site: entity tables, tickets, dispatch and executors; glues protocols to links.

One :class:`Site` per process is usual (several in one process work too, as in tests).

Tables, named from this site's point of view:

* ``_exports``: key -> :class:`_Export` (an object of ours that other sites may reference,
  with its home protocol machine and serial lane). Keys carry 128 random bits.
* ``_tickets``: ticket key -> :class:`_TicketEntry` (what an offer hands out, once / ttl).
* ``_imports``: (site id, key) -> proxy, weakly: one proxy per entity per site.
* ``_links``: peer site id -> :class:`~netobj.link.Link`; ``_callers`` beside it.

Threads: all tables are touched on the site's event-loop thread, except exports (offer and
marshalling may run on any thread), which take ``_lock``. Calls made from another thread are
encoded there (so marshalling errors raise in the caller) and handed to the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import os
import threading
import weakref
from base64 import urlsafe_b64encode
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from netobj import classes, errors
from netobj.link import FaultState, HandshakeError, Link, LinkConfig, read_hello
from netobj.mobile import CachedEntity, Entity, ReplicaEntity, ReplicaHomeEntity
from netobj.port import Port
from netobj.protocols.invocation import Caller
from netobj.protocols.scheduling import ActiveHome, QueueFull, StationaryHome
from netobj.protocols.variable import VarHolder, VarOwner
from netobj.proxy import Proxy, ProxyHost, proxy_ref
from netobj.record import Record  # noqa: F401 - registers the RECORD tag decoder
from netobj.runtime.executor import Call, Outcome, failure, run_calls, run_calls_async
from netobj.ticket import format_ticket, parse_ticket
from netobj.transport.base import Connection, ConnectionLost, Transport
from netobj.unify import unify
from netobj.var import _BOUND, _FAILED, _UNBOUND, Var, _make_needed, deref, resolve_many
from netobj.wire import codec, frames, tags
from netobj.wire import netobj_pb2 as pb

log = logging.getLogger("netobj.site")
_get_ident = threading.get_ident
_SCALARS = codec.SCALARS

#: Key of the built-in site service (too short to collide with a 22-character entity key).
SERVICE_KEY: Final = "site"
PROTOCOLS: Final = {"stationary": StationaryHome, "active": ActiveHome}
DEFAULT_MAX_WORKERS: Final = 32
CARRIERS: Final = frozenset({"grpc", "tcp"})
#: Most calls (outcomes) in one CallBatch (ReplyBatch); a batch is also split when its
#: encoding would pass codec.MAX_VALUE_BYTES.
MAX_BATCH_ITEMS: Final = 1024
#: The first batch of a burst is small, so the callee can start on it at once; each next
#: one doubles, up to MAX_BATCH_ITEMS, so that a long burst costs few frames.
FIRST_BATCH_ITEMS: Final = 64


def _new_id(entropy: Callable[[int], bytes]) -> str:
    return urlsafe_b64encode(entropy(16)).rstrip(b"=").decode("ascii")


# Hot-path records are plain tuples (a dataclass costs several times more per call).
#: An incoming call ready to run, and a finished one: see netobj.runtime.executor.
_Call = Call
#: A call waiting in the outbox: (result var, key, method, args, kwargs or None, oneway),
#: the arguments already in wire form.
_Outgoing = tuple[Var[Any], str, str, Sequence[Any], dict[str, Any] | None, bool]


@dataclass(slots=True)
class _Invocation:
    """What the home protocol machines schedule: one async call, or a run of def calls that
    arrived together (executed one after the other on the object's lane, as if one by one)."""

    link: Link
    calls: list[_Call]


@dataclass(slots=True)
class _Export:
    key: str
    obj: object
    protocol: str
    machine: StationaryHome[_Invocation] | ActiveHome[_Invocation]
    lane: _Lane | None = None
    mobile: Entity | None = None  # cached and replicated objects: the home's entity


@dataclass(slots=True)
class _TicketEntry:
    value: object
    once: bool
    expires_at: float | None
    pins: list[object] = field(default_factory=list)


class _Lane:
    """The serial lane of one object: its ``def`` calls, one at a time, off the event loop."""

    __slots__ = ("_active", "_lock", "_queue", "export", "site")

    def __init__(self, site: Site, export: _Export) -> None:
        self.site = site
        self.export = export
        self._queue: deque[_Invocation] = deque()
        self._lock = threading.Lock()
        self._active = False

    def submit(self, inv: _Invocation) -> None:
        with self._lock:
            self._queue.append(inv)
            if self._active:
                return
            self._active = True
        self.site._submit_lane(self)

    def drain(self) -> None:
        site, export = self.site, self.export
        while True:
            with self._lock:
                if not self._queue:
                    self._active = False
                    return
                inv = self._queue.popleft()
            site._lane_done(export, inv, run_calls(inv.calls))


class Site(ProxyHost):
    """A netobj site: ``async with Site() as site`` or ``Site.background()``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        transport: Transport | str | None = None,
        link_config: LinkConfig | None = None,
        executor: str = "threads",
        max_workers: int = DEFAULT_MAX_WORKERS,
        entropy: Callable[[int], bytes] | None = None,
    ) -> None:
        if executor not in ("threads", "inline"):
            raise ValueError("executor must be 'threads' or 'inline'")
        self._host = host
        self._port = port
        # A Transport instance carries everything (the simulated network does this); a carrier
        # name ("grpc", the default, or "tcp") is what this site listens on, and it dials each
        # peer on the carrier its address names ("tcp:HOST:PORT" or "HOST:PORT").
        self._fixed_transport = transport if isinstance(transport, Transport) else None
        carrier = "grpc" if transport is None else transport
        if self._fixed_transport is None and carrier not in CARRIERS:
            raise ValueError(f"transport must be a Transport or one of {sorted(CARRIERS)}")
        self._carriers: dict[str, Transport] = {}
        self._transport = self._fixed_transport or self._carrier(str(carrier))
        self._link_config = link_config or LinkConfig()
        self._executor_mode = executor
        self._max_workers = max_workers
        self._entropy = entropy or os.urandom
        self.id = _new_id(self._entropy)
        self.address = ""
        self._lock = threading.RLock()
        self._exports: dict[str, _Export] = {}
        self._export_keys: dict[int, str] = {}
        self._tickets: dict[str, _TicketEntry] = {}
        self._imports: weakref.WeakValueDictionary[tuple[str, str], Proxy] = (
            weakref.WeakValueDictionary()
        )
        self._links: dict[str, Link] = {}
        self._callers: dict[str, Caller[Var[Any]]] = {}
        extra: dict[int, Callable[[Any], object]] = {
            tags.BOUND_VAR: self._bound_var_from_wire, tags.FAILED: self._failed_var_from_wire}
        # Vars that were determined when first sent: identity only, no protocol (weak).
        self._var_seen: weakref.WeakValueDictionary[str, Var[Any]] = (
            weakref.WeakValueDictionary())
        self._decoder = codec.Decoder(self._resolve_ref, extra=extra)
        self._lenient_decoder = codec.Decoder(self._resolve_ref, lenient=True, extra=extra)
        # dataflow variables and ports (see netobj/protocols/variable.py)
        self._var_exports: dict[str, Var[Any]] = {}
        self._var_imports: weakref.WeakValueDictionary[tuple[str, str], Var[Any]] = (
            weakref.WeakValueDictionary())
        self._var_owner = VarOwner()
        self._var_holder: VarHolder[Var[None]] = VarHolder()
        self._port_exports: dict[str, Port] = {}
        # cached and replicated objects (netobj.mobile): (home site id, key) -> entity, the
        # home's own included; and the local instances of those homed elsewhere, by id()
        self._mobiles: dict[tuple[str, str], Entity] = {}
        self._mobile_by_obj: dict[int, Entity] = {}
        self._addresses: dict[str, str] = {}
        # faults: entities failed for good here (killed, broken), by (home, key), and the
        # watchers of fault states (fault_stream, on_fault), by home site id
        self._entity_failures: dict[tuple[str, str], str] = {}
        self._watchers: dict[str, set[FaultWatcher]] = {}
        self._port_imports: weakref.WeakValueDictionary[tuple[str, str], Port] = (
            weakref.WeakValueDictionary())
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._done_lock = threading.Lock()
        self._done: deque[tuple[_Export, _Invocation, list[Outcome]]] = deque()
        self._outbox: dict[str, list[_Outgoing]] = {}
        # The same lists, by peer site id, while their link may still send: _invoke's fast
        # path appends to a non-empty one (its flush is already scheduled).
        self._forming: dict[str, list[_Outgoing]] = {}
        self._done_scheduled = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None
        self._started = False
        self._closing = False  # aclose has begun: cached state held here goes home
        self._closed = False
        self._is_async_cache: dict[tuple[type, str], bool] = {}
        self.messages_sent: Counter[str] = Counter()
        self.calls_batched = 0
        self.messages_received: Counter[str] = Counter()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._started else "new")
        return (
            f"<Site {self.id[:8]} {self.address or '-'} {state} exports={len(self._exports)} "
            f"tickets={len(self._tickets)} links={len(self._links)}>"
        )

    # -- lifetime -----------------------------------------------------------------------------

    async def start(self) -> Site:
        if self._started:
            raise RuntimeError("site already started")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.address = await self._transport.listen(self._host, self._port, self._on_connection)
        if self._executor_mode == "threads":
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._max_workers, thread_name_prefix=f"netobj-{self.id[:6]}"
            )
        self._started = True
        log.info("site %s listening on %s", self.id, self.address)
        return self

    async def aclose(self) -> None:
        if self._closed or not self._started:
            self._closed = True
            return
        # Cached objects whose state is here go back to their homes (or on to the site
        # that asked next); then deliver what is already on its way (calls queued, replies,
        # port messages) before saying goodbye: a clean close loses nothing that was sent.
        self._closing = True
        for entity in list(self._mobiles.values()):
            if isinstance(entity, CachedEntity):
                entity.hand_back()
        for link in list(self._links.values()):
            self._flush_before(link)
        await asyncio.gather(*(link.drain(self._link_config.close_drain_s)
                               for link in self._links.values()
                               if link.connected or link.first_dial))
        self._closed = True
        closing = errors.SiteClosedError("the local site was closed")
        for box in self._outbox.values():
            for out in box:
                out[0]._reject(errors.SiteClosedError("the local site was closed"))
        self._outbox.clear()
        self._forming.clear()
        for entity in self._mobiles.values():
            entity.close()
        for caller in self._callers.values():
            for c in caller.on_perm_fail(str(closing)):
                c.token._reject(errors.SiteClosedError("the local site was closed"))
        await asyncio.gather(
            *(link.aclose(goodbye="site closed") for link in self._links.values()),
            return_exceptions=True,
        )
        await self._transport.aclose()
        for carrier in self._carriers.values():
            if carrier is not self._transport:
                await carrier.aclose()
        for task in list(self._tasks):
            task.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        log.info("site %s closed", self.id)

    async def __aenter__(self) -> Site:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @classmethod
    def background(cls, *args: Any, use_uvloop: bool = True, **kwargs: Any) -> Site:
        """Start a site whose event loop runs in a daemon thread; close it with ``close()``."""
        site = cls(*args, **kwargs)
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            loop = new_event_loop(use_uvloop)
            asyncio.set_event_loop(loop)

            async def main() -> None:
                try:
                    await site.start()
                except BaseException as exc:
                    ready.set_exception(exc)
                    return
                site._stop_event = stop = asyncio.Event()
                ready.set_result(None)
                await stop.wait()
                await site.aclose()

            try:
                loop.run_until_complete(main())
            finally:
                loop.close()

        thread = threading.Thread(target=run, name=f"netobj-site-{site.id[:6]}", daemon=True)
        site._thread = thread
        thread.start()
        ready.result(timeout=30)
        return site

    def close(self, timeout: float = 10.0) -> None:
        """Close a site started with :meth:`background` (from any other thread)."""
        if self._thread is None:
            raise RuntimeError("close() is for background sites; use 'await site.aclose()'")
        loop = self._loop
        stop = self._stop_event
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)

    def _check_running(self) -> asyncio.AbstractEventLoop:
        if self._closed:
            raise errors.SiteClosedError("the site is closed")
        if self._loop is None:
            raise errors.SiteClosedError("the site is not started")
        return self._loop

    def _on_loop(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- exports, offers and tickets -----------------------------------------------------------

    def _export(self, obj: object, protocol: str) -> str:
        with self._lock:
            key = self._export_keys.get(id(obj))
            if key is not None and self._exports[key].obj is obj:
                return key
            key = _new_id(self._entropy)
            machine: StationaryHome[_Invocation] | ActiveHome[_Invocation] = (
                ActiveHome() if protocol == "active" else StationaryHome()
            )
            export = _Export(key, obj, protocol, machine)
            export.lane = _Lane(self, export)
            if protocol in classes.MOBILE_PROTOCOLS:
                ref = codec.Ref(tags.KIND_OBJECT, protocol, self.id, self.address, key,
                                classes.qualified_name(type(obj)))
                entity: Entity = (
                    CachedEntity(self, ref, type(obj), obj, home=True) if protocol == "cached"
                    else ReplicaHomeEntity(self, ref, type(obj), obj))
                export.mobile = entity
                self._mobiles[(self.id, key)] = entity
            self._exports[key] = export
            self._export_keys[id(obj)] = key
            return key

    def _ref_hook(self, value: object) -> codec.Ref | codec.Tagged | None:
        if isinstance(value, Proxy):
            return proxy_ref(value)
        if isinstance(value, Var):
            return self._var_ref(value)
        if isinstance(value, Port):
            return self._port_ref(value)
        protocol = getattr(type(value), "__netobj_protocol__", None)
        if protocol in PROTOCOLS:
            if not self.address:
                raise errors.SiteClosedError("the site is not started")
            key = self._export(value, protocol)
            return codec.Ref(tags.KIND_OBJECT, protocol, self.id, self.address, key)
        if protocol in classes.MOBILE_PROTOCOLS:
            entity = self._mobile_by_obj.get(id(value))
            if entity is not None and entity.obj is value:  # the local copy of a guest
                return entity.ref
            if not self.address:
                raise errors.SiteClosedError("the site is not started")
            key = self._export(value, protocol)
            export = self._exports[key]
            assert export.mobile is not None
            return export.mobile.ref
        return None

    def _encode(self, value: object, root: str) -> bytes:
        return codec.encode(value, self._ref_hook, root=root)

    def _var_ref(self, var: Var[Any]) -> codec.Ref | codec.Tagged:
        readonly = var._ext is not None and var._ext.readonly
        rep = deref(var)
        if not isinstance(rep, Var) or rep._state == _FAILED:
            # Determined: it travels with its value, and keeps its identity (owner, key).
            ident = var._ext.order if var._ext is not None else None
            if ident is None or not ident[0]:
                key = _new_id(self._entropy)
                ident = (self.id, key)
                vext = var._ext_()
                vext.order = ident
                vext.address = self.address
                self._var_seen[key] = var
            if isinstance(rep, Var):
                return codec.Tagged(tags.FAILED, [rep._value, *ident])
            return codec.Tagged(tags.BOUND_VAR, [rep, *ident])
        ext = rep._ext_()
        if ext.host is None:  # first sent: this site owns it from now on
            if not self.address:
                raise errors.SiteClosedError("the site is not started")
            with self._lock:
                if ext.host is None:
                    key = _new_id(self._entropy)
                    ext.order = (self.id, key)
                    ext.address = self.address
                    ext.owned = True
                    self._var_exports[key] = rep
                    self._var_owner.on_export(key)
                    ext.host = self
        assert ext.order is not None
        owner, key = ext.order
        if readonly:
            protocol = "readonly"
        elif not ext.needed and (ext.need is not None or ext.remote_need):
            protocol = "byneed"
        else:
            protocol = ""
        return codec.Ref(tags.KIND_VAR, protocol, owner, ext.address, key)

    def _port_ref(self, port: Port) -> codec.Ref:
        if port._remote is not None:
            ref: codec.Ref = port._remote[1]
            return ref
        with self._lock:
            if port._owner is None:
                if not self.address:
                    raise errors.SiteClosedError("the site is not started")
                key = _new_id(self._entropy)
                self._port_exports[key] = port
                port._owner = (self, key)
        host, key = port._owner
        return codec.Ref(tags.KIND_PORT, "", host.id, host.address, key)

    def _resolve_ref(self, ref: codec.Ref) -> object:
        if ref.kind == tags.KIND_VAR:
            return self._import_var(ref)
        if ref.kind == tags.KIND_PORT:
            return self._import_port(ref)
        if ref.kind == tags.KIND_OBJECT and ref.protocol in classes.MOBILE_PROTOCOLS:
            return self._import_mobile(ref)
        if ref.kind != tags.KIND_OBJECT or ref.protocol not in PROTOCOLS:
            raise errors.ProtocolError(f"unsupported reference kind {ref.kind}/{ref.protocol}")
        if ref.site_id == self.id:
            export = self._exports.get(ref.key)
            if export is None:
                raise errors.UnknownEntityError("no entity with that key at this site")
            return export.obj
        ident = (ref.site_id, ref.key)
        proxy = self._imports.get(ident)
        if proxy is None:
            proxy = Proxy(self, ref)
            self._imports[ident] = proxy
        return proxy

    def _import_mobile(self, ref: codec.Ref) -> Proxy:
        """The proxy of a cached or replicated object (the home's own one at the home)."""
        ident = (ref.site_id, ref.key)
        entity = self._mobiles.get(ident)
        if entity is None:
            if ref.site_id == self.id:
                raise errors.UnknownEntityError("no entity with that key at this site")
            if not ref.cls:
                raise errors.MarshalError(f"a {ref.protocol} object arrived without its class")
            cls = classes.resolve(ref.cls, ref.protocol)
            if ref.protocol == "cached":
                entity = CachedEntity(self, ref, cls, classes.blank(cls), home=False)
            else:
                entity = ReplicaEntity(self, ref, cls)
            self._mobiles[ident] = entity
            self._mobile_by_obj[id(entity.obj)] = entity
            self._addresses.setdefault(ref.site_id, ref.address)
        return entity.proxy()

    def _local_value(self, value: object) -> object:
        """What taking an offer of ours yields here: the object itself, except for cached
        and replicated objects, which are used through their home proxy."""
        if getattr(type(value), "__netobj_protocol__", None) in classes.MOBILE_PROTOCOLS:
            ref = self._ref_hook(value)
            assert isinstance(ref, codec.Ref)
            return self._import_mobile(ref)
        return value

    # -- what netobj.mobile needs ------------------------------------------------------------

    def _mobile_send(self, site_id: str, address: str, msg: pb.Mobile) -> bool:
        if self._closed:
            return False
        if site_id not in self._links and not address:
            log.warning("no address known for site %s", site_id[:8])
            return False
        link = self._link_for(site_id, address)
        if link.state is FaultState.PERM_FAIL:
            return False
        kind = "mobile." + pb.Mobile.Op.Name(msg.op).lower()
        return self._send_var(
            link, kind, lambda seq: pb.Envelope(seq=seq, mobile=msg).SerializeToString())

    def _mobile_instance(self, entity: Entity, old: object, new: object) -> None:
        """``entity`` now keeps its state in ``new`` (a fresh instance per arrival)."""
        if self._mobile_by_obj.get(id(old)) is entity:
            del self._mobile_by_obj[id(old)]
        self._mobile_by_obj[id(new)] = entity

    def _address_of(self, site_id: str) -> str:
        link = self._links.get(site_id)
        if link is not None:
            return link.peer_address
        return self._addresses.get(site_id, "")

    def _remember_address(self, site_id: str, address: str) -> None:
        if site_id and address:
            self._addresses.setdefault(site_id, address)

    def _decode(self, data: bytes) -> object:
        return self._decoder.decode(data)

    async def _run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._pool is None:
            return fn(*args)
        assert self._loop is not None
        return await self._loop.run_in_executor(self._pool, fn, *args)

    def _on_mobile(self, link: Link, msg: pb.Mobile) -> None:
        entity = self._mobiles.get((msg.home, msg.key))
        if entity is None:
            log.debug("mobile message for unknown object from %s", link.peer_address)
            return
        entity.on_message(link, msg)

    def _import_var(self, ref: codec.Ref) -> Var[Any]:
        if ref.protocol not in ("", "byneed", "readonly"):
            raise errors.ProtocolError(f"unsupported variable protocol {ref.protocol!r}")
        if ref.site_id == self.id:
            var = self._var_exports.get(ref.key)
            if var is None:
                raise errors.UnknownEntityError("no variable with that key at this site")
        else:
            ident = (ref.site_id, ref.key)
            var = self._var_imports.get(ident)
            if var is None:
                var = Var()
                ext = var._ext_()
                ext.order = ident
                ext.address = ref.address
                ext.remote_need = ref.protocol == "byneed"
                ext.host = self
                self._var_imports[ident] = var
                link = self._link_for(ref.site_id, ref.address)
                self._send_var(link, "var_register",
                               lambda seq: frames.var_register(seq, ref.key))
        return var.read_only() if ref.protocol == "readonly" else var

    def _determined_var(self, content: Any, failed: bool) -> Var[Any]:
        """A Var that arrives determined: the same Var as before when known here."""
        if not (isinstance(content, list | tuple) and len(content) == 3
                and isinstance(content[1], str) and isinstance(content[2], str)
                and (not failed or isinstance(content[0], BaseException))):
            raise errors.ProtocolError("malformed determined variable on the wire")
        value, owner, key = content
        var: Var[Any] | None
        if owner == self.id:
            var = self._var_exports.get(key) or self._var_seen.get(key)
        else:
            var = self._var_imports.get((owner, key))
        if var is None:
            var = Var()
            var._ext_().order = (owner, key)
            if owner != self.id:
                self._var_imports[(owner, key)] = var
        if var._state == _UNBOUND and owner != self.id:  # only the owner decides its own
            _assign(var, value, failed)
        return var

    def _bound_var_from_wire(self, content: Any) -> Var[Any]:
        return self._determined_var(content, False)

    def _failed_var_from_wire(self, content: Any) -> Var[Any]:
        return self._determined_var(content, True)

    def _import_port(self, ref: codec.Ref) -> Port:
        if ref.site_id == self.id:
            port = self._port_exports.get(ref.key)
            if port is None:
                raise errors.UnknownEntityError("no port with that key at this site")
            return port
        ident = (ref.site_id, ref.key)
        port = self._port_imports.get(ident)
        if port is None:
            port = Port()
            port._remote = (self, ref)
            self._port_imports[ident] = port
        return port

    def _send_var(self, link: Link, kind: str, build: Callable[[int], bytes]) -> bool:
        """Send one sequenced variable/port message on ``link`` (after queued calls)."""
        self._flush_before(link)
        try:
            seq = link.next_seq()
        except errors.EntityFailure:
            return False
        link.send_sequenced(seq, build(seq))
        self.messages_sent[kind] += 1
        return True

    # -- VarHost (netobj.var) and PortHost (netobj.port) --------------------------------

    def var_changed(self, var: Var[Any]) -> None:
        ext = var._ext
        if ext is None or not ext.owned or ext.host is not self:
            return
        if self._on_loop():
            self._var_broadcast(var)
        elif self._loop is not None and not self._closed:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._var_broadcast, var)

    def _redirect_payload(self, var: Var[Any]) -> tuple[bytes, bool]:
        state = var._state
        if state == _FAILED:
            return codec.encode_exception(var._value), True
        try:
            return self._encode(var._value, "value"), False
        except errors.MarshalError as exc:
            return codec.encode_exception(exc), True

    def _var_broadcast(self, var: Var[Any]) -> None:
        if self._closed or var._state == _UNBOUND:
            return
        assert var._ext is not None and var._ext.order is not None
        key = var._ext.order[1]
        sends = self._var_owner.on_changed(key)
        if not sends:
            return
        payload, failed = self._redirect_payload(var)
        for send in sends:
            link = self._links.get(send.site)
            if link is not None:
                self._send_var(link, "var_redirect",
                               lambda seq: frames.var_redirect(seq, key, payload, failed))

    def var_remote_bind(self, var: Var[Any], value: object, failed: bool) -> Var[None]:
        ack: Var[None] = Var()
        if self._on_loop():
            self._var_remote_bind(var, value, failed, ack)
        elif self._loop is not None and not self._closed:
            self._loop.call_soon_threadsafe(self._var_remote_bind, var, value, failed, ack)
        else:
            ack._reject(errors.SiteClosedError("the site is closed"))
        return ack

    def _var_remote_bind(self, var: Var[Any], value: object, failed: bool,
                         ack: Var[None]) -> None:
        ext = var._ext
        assert ext is not None and ext.order is not None
        owner, key = ext.order
        if self._closed:
            ack._reject(errors.SiteClosedError("the site is closed"))
            return
        link = self._link_for(owner, ext.address)
        if link.state is FaultState.PERM_FAIL:
            ack._reject(errors.PermFailure(f"the variable's owner failed: {link.perm_reason}"))
            return
        try:
            if failed:
                assert isinstance(value, BaseException)
                payload = codec.encode_exception(value)
            else:
                payload = self._encode(value, "value")
        except errors.NetobjError as exc:
            ack._reject(exc)
            return
        self._var_holder.on_bind(owner, key, (var, value), ack, failed)
        if not self._send_var(link, "var_bind",
                              lambda seq: frames.var_bind(seq, key, payload, failed)):
            for pending in self._var_holder.on_owner_failed(owner):
                pending.ack._reject(errors.PermFailure("the variable's owner failed"))

    def var_need(self, var: Var[Any]) -> None:
        if self._on_loop():
            self._var_need(var)
        elif self._loop is not None and not self._closed:
            self._loop.call_soon_threadsafe(self._var_need, var)

    def _var_need(self, var: Var[Any]) -> None:
        ext = var._ext
        if ext is None or ext.order is None or self._closed:
            return
        owner, key = ext.order
        link = self._link_for(owner, ext.address)
        self._send_var(link, "var_need", lambda seq: frames.var_need(seq, key))

    def port_send(self, port: Port, message: object) -> None:
        assert port._remote is not None
        ref: codec.Ref = port._remote[1]
        loop = self._check_running()
        payload = self._encode(message, "message")  # MarshalError here, in the sender
        if self._on_loop():
            self._port_send(ref, payload)
        else:
            loop.call_soon_threadsafe(self._port_send, ref, payload)

    def _port_send(self, ref: codec.Ref, payload: bytes) -> None:
        if self._closed or (ref.site_id, ref.key) in self._entity_failures:
            return  # a failed port: the message is lost, as Oz does
        link = self._link_for(ref.site_id, ref.address)
        if link.state is FaultState.PERM_FAIL:
            log.debug("dropping a message to a port of failed site %s", ref.address)
            return
        key = ref.key
        self._send_var(link, "port_send", lambda seq: frames.port_send(seq, key, payload))

    # -- variable and port messages in ----------------------------------------------------

    def _on_var_register(self, link: Link, msg: pb.VarRegister) -> None:
        var = self._var_exports.get(msg.key)
        if var is None:
            log.debug("register for unknown variable from %s", link.peer_address)
            return
        if self._var_owner.on_register(msg.key, link.peer_id, var._state != _UNBOUND):
            payload, failed = self._redirect_payload(var)
            key = msg.key
            self._send_var(link, "var_redirect",
                           lambda seq: frames.var_redirect(seq, key, payload, failed))

    def _on_var_bind(self, link: Link, msg: pb.VarBind) -> None:
        var = self._var_exports.get(msg.key)
        if var is None:
            log.debug("bind for unknown variable from %s", link.peer_address)
            return
        if not self._var_owner.on_bind_request(msg.key, var._state == _UNBOUND):
            return  # lost: the requester has, or will get, the winner's redirect
        try:
            if msg.failed:
                _assign(var, codec.decode_exception(msg.value), True)
            else:
                _assign(var, self._decoder.decode(msg.value), False)
        except errors.NetobjError as exc:
            log.warning("bad bind request from %s: %s", link.peer_address, exc)

    def _on_var_redirect(self, link: Link, msg: pb.VarRedirect) -> None:
        owner, key = link.peer_id, msg.key
        var = self._var_imports.get((owner, key))
        try:
            value: object = (codec.decode_exception(msg.value) if msg.failed
                             else self._decoder.decode(msg.value))
        except errors.NetobjError as exc:
            value, msg_failed = exc, True
        else:
            msg_failed = msg.failed
        if var is not None:
            _assign(var, value, msg_failed)
        for pending in self._var_holder.on_redirect(owner, key):
            target: Var[Any]
            wanted: object
            target, wanted = pending.value  # type: ignore[misc]
            if pending.failed:
                if target.failed():
                    pending.ack._resolve(None)
                else:
                    pending.ack._reject(errors.UnificationError(
                        f"cannot fail {target!r}: it was determined first"))
                continue
            try:
                again = unify(target, wanted)
            except errors.UnificationError as exc:
                pending.ack._reject(exc)
                continue
            if again is None:
                pending.ack._resolve(None)
            else:
                again.add_done_callback(_forward_to(pending.ack))

    def _on_var_need(self, link: Link, msg: pb.VarNeed) -> None:
        var = self._var_exports.get(msg.key)
        if var is not None:
            _make_needed(var)

    def _on_port_send(self, link: Link, msg: pb.PortSend) -> None:
        port = self._port_exports.get(msg.key)
        if port is None or (self.id, msg.key) in self._entity_failures:
            log.debug("message for unknown port from %s", link.peer_address)
            return
        try:
            message = self._decoder.decode(msg.message)
        except errors.NetobjError as exc:
            log.warning("dropping undecodable port message from %s: %s", link.peer_address, exc)
            return
        with contextlib.suppress(errors.SiteClosedError):  # closed port: dropped
            port.send(message)

    def offer(self, value: object, *, once: bool = False, ttl: float | None = None) -> str:
        """Make a ticket for ``value``; safe from any thread.

        ``once=True``: the ticket can be taken one time. ``ttl``: it expires after that many
        seconds. Distributed entities are shared by reference, data is copied on each take.
        """
        loop = self._check_running()
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be positive")
        self._encode(value, "offered value")  # refuse what cannot travel, now
        key = _new_id(self._entropy)
        expires = None if ttl is None else loop.time() + ttl
        with self._lock:
            self._tickets[key] = _TicketEntry(value, once, expires)
        return format_ticket(self.address, self.id, key)

    def revoke(self, ticket: str) -> bool:
        """Withdraw a ticket this site made; returns False if it was already gone."""
        t = parse_ticket(ticket)
        if t.site_id != self.id:
            raise errors.TicketError("that ticket was made by another site; only it can revoke it")
        with self._lock:
            return self._tickets.pop(t.key, None) is not None

    def _take_local(self, key: str) -> object:
        with self._lock:
            entry = self._tickets.get(key)
            if entry is not None and entry.expires_at is not None:
                assert self._loop is not None
                if self._loop.time() >= entry.expires_at:
                    del self._tickets[key]
                    entry = None
            if entry is None:
                raise errors.UnknownEntityError("no offer with that ticket at this site")
            if entry.once:
                del self._tickets[key]
            return entry.value

    def take(self, ticket: str) -> Var[Any]:
        """Take a ticket: a Var bound to the entity's proxy (or the value) once it arrives."""
        t = parse_ticket(ticket)
        self._check_running()
        if t.site_id == self.id:
            var: Var[Any] = Var()
            try:
                var._resolve(self._local_value(self._take_local(t.key)))
            except errors.NetobjError as exc:
                var._reject(exc)
            return var
        service = codec.Ref(tags.KIND_OBJECT, "stationary", t.site_id, t.address, SERVICE_KEY)
        return self._invoke(service, "take", (t.key,), {}, False)

    # -- calls out --------------------------------------------------------------------------

    def _invoke(
        self, ref: codec.Ref, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
        oneway: bool, fail_after: float | None = None,
    ) -> Var[Any]:
        var: Var[Any] = Var()
        if self._entity_failures:
            failure = self._entity_failures.get((ref.site_id, ref.key))
            if failure is not None:
                var._reject(errors.PermFailure(failure))
                return var
        if fail_after is not None:
            link = self._links.get(ref.site_id)
            if fail_after <= 0 and link is not None and (
                    not link.connected or link.state is FaultState.TEMP_FAIL):
                var._reject(errors.TempFailure(
                    f"site {link.peer_address} is unreachable now (fail-fast call; link "
                    f"{link.state.value}, {'connected' if link.connected else 'no connection'})"))
                return var  # not sent: it will not run later either
            self._call_on_loop(self._fail_fast_check, var, ref.site_id, fail_after, True)
        elif not kwargs and not oneway and _get_ident() == self._loop_thread:
            # Fast path: data arguments, on the loop, a batch already forming for that site.
            box = self._forming.get(ref.site_id)
            if box:
                for a in args:
                    if type(a) not in _SCALARS:
                        break
                else:
                    box.append((var, ref.key, method, args, None, False))
                    return var
        loop = self._loop
        if loop is None or self._closed:
            loop = self._check_running()
        wire_args, wire_kwargs = codec.args_to_wire(args, kwargs, self._ref_hook)
        if _get_ident() == self._loop_thread:
            self._send_call(var, ref, method, wire_args, wire_kwargs, oneway)
        else:
            loop.call_soon_threadsafe(self._send_call, var, ref, method, wire_args, wire_kwargs,
                                      oneway)
        if oneway:
            var._resolve(None)
        return var

    def _send_call(
        self, var: Var[Any], ref: codec.Ref, method: str, args: Sequence[Any],
        kwargs: dict[str, Any] | None, oneway: bool,
    ) -> None:
        """Queue a call; calls queued in one loop iteration leave together (_flush_calls)."""
        if self._closed:
            var._reject(errors.SiteClosedError("the local site was closed"))
            return
        link = self._links.get(ref.site_id)
        if link is None:
            link = self._link_for(ref.site_id, ref.address)
        if link.state is FaultState.PERM_FAIL:
            var._reject(errors.PermFailure(
                f"site {link.peer_address} failed permanently: {link.perm_reason}"))
            return
        box = self._outbox.get(link.peer_id)
        if box is None:
            box = self._outbox[link.peer_id] = []
            self._forming[link.peer_id] = box
        if not box:
            assert self._loop is not None
            self._loop.call_soon(self._flush_calls, link)
        box.append((var, ref.key, method, args, kwargs, oneway))

    def _flush_calls(self, link: Link, everything: bool = False,
                     limit: int = FIRST_BATCH_ITEMS) -> None:
        """Send queued calls in order: consecutive calls to one entity as one CallBatch.

        About ``limit`` calls per loop iteration (unless ``everything``): the writer can put
        the first batch on the wire, and the callee start on it, while later ones are still
        encoded; the limit doubles with each iteration of a long burst.
        """
        box = self._outbox.get(link.peer_id)
        if not box:
            return
        if everything:
            limit = MAX_BATCH_ITEMS
        n = len(box)
        i = 0
        while i < n:
            key, oneway = box[i][1], box[i][5]
            j = i + 1
            if not oneway:
                while j < n and j - i < limit and box[j][1] == key and not box[j][5]:
                    j += 1
            self._send_group(link, box[i:j], more=j < n)
            i = j
            if not everything and i >= limit and i < n:
                del box[:i]
                assert self._loop is not None
                self._loop.call_soon(self._flush_calls, link, False,
                                     min(2 * limit, MAX_BATCH_ITEMS))
                return
        del box[:n]
        if box:  # calls made by Var callbacks that ran while the ones above were sent
            assert self._loop is not None
            self._loop.call_soon(self._flush_calls, link)

    def _send_group(self, link: Link, group: list[_Outgoing], more: bool = False) -> None:
        caller = self._callers[link.peer_id]
        var, key, method, args, kwargs, oneway = group[0]
        try:
            if len(group) == 1:
                data = codec.dump(codec.call_args_tree(args, kwargs), "arguments")
            else:
                arity = len(args)
                for out in group:
                    if out[2] != method or out[4] is not None or len(out[3]) != arity:
                        arity = -1
                        break
                if arity >= 0:  # uniform: one method, same arity, no kwargs
                    data = codec.dump([a for out in group for a in out[3]], "call batch")
                    self._send_batch(link, group, data, method, arity, more)
                    return
                flat: list[Any] = []
                append, extend = flat.append, flat.extend
                for out in group:
                    append(out[2])
                    if out[4] is None:
                        append(len(out[3]))
                        extend(out[3])
                    else:
                        append(-1 - len(out[3]))
                        extend(out[3])
                        append(out[4])
                data = codec.dump(flat, "call batch")
        except errors.MarshalError as exc:
            if len(group) == 1:
                var._reject(exc)
            else:  # too big together: halve until each part fits (or a single call fails)
                half = len(group) // 2
                self._send_group(link, group[:half], more=True)
                self._send_group(link, group[half:], more=more)
            return
        if len(group) > 1:
            self._send_batch(link, group, data, "", 0, more)
            return
        try:
            seq = link.next_seq()
        except errors.EntityFailure as exc:
            var._reject(exc)
            return
        sc = caller.call(None if oneway else var, key, method, data, oneway)
        link.send_sequenced(seq, frames.call(seq, sc.call_id, key, method, data, oneway), more)
        self.messages_sent["call"] += 1

    def _send_batch(self, link: Link, group: list[_Outgoing], data: bytes, method: str,
                    arity: int, more: bool = False) -> None:
        try:
            seq = link.next_seq()
        except errors.EntityFailure as exc:
            for out in group:
                out[0]._reject(exc)
            return
        first_id = self._callers[link.peer_id].call_many([out[0] for out in group])
        link.send_sequenced(
            seq, frames.call_batch(seq, group[0][1], first_id, data, len(group), method, arity),
            more)
        self.messages_sent["call_batch"] += 1
        self.calls_batched += len(group)

    def _flush_before(self, link: Link) -> None:
        """Keep per-link FIFO: queued calls go before any other message on the link."""
        if self._outbox.get(link.peer_id):
            self._flush_calls(link, everything=True)

    def _link_for(self, site_id: str, address: str) -> Link:
        link = self._links.get(site_id)
        if link is None:
            link = self._new_link(site_id, address)
            link.start_dialing()
        return link

    def _carrier(self, name: str) -> Transport:
        transport = self._carriers.get(name)
        if transport is None:
            if name == "tcp":
                from netobj.transport.tcp import TcpTransport

                transport = TcpTransport()
            else:
                from netobj.transport.grpc_transport import GrpcTransport

                transport = GrpcTransport()
            self._carriers[name] = transport
        return transport

    def _transport_for(self, address: str) -> Transport:
        if self._fixed_transport is not None:
            return self._fixed_transport
        return self._carrier("tcp" if address.startswith("tcp:") else "grpc")

    def _new_link(self, site_id: str, address: str) -> Link:
        link = Link(
            our_id=self.id,
            our_address=self.address,
            peer_id=site_id,
            peer_address=address,
            transport=self._transport_for(address),
            config=self._link_config,
            on_envelope=self._on_envelope,
            on_state=self._on_link_state,
        )
        self._links[site_id] = link
        self._callers[site_id] = Caller()
        return link

    # -- links in -----------------------------------------------------------------------------

    async def _on_connection(self, conn: Connection) -> None:
        if self._closed:
            await conn.close("site closed")
            return
        try:
            data = await asyncio.wait_for(conn.recv(), self._link_config.handshake_timeout_s)
            if data is None:  # closed before saying anything: a peer's probe, or a dial given up
                log.debug("connection from %s closed before its Hello", conn.peer)
                await conn.close("closed before Hello")
                return
            hello = read_hello(data, self._transport.max_frame_bytes)
        except (HandshakeError, ConnectionLost, TimeoutError) as exc:
            log.warning("closing connection from %s: %s", conn.peer, exc)
            await conn.close(str(exc))
            return
        if hello.expect_site_id and hello.expect_site_id != self.id:
            log.info("connection from %s wants site %s, which is not this incarnation",
                     conn.peer, hello.expect_site_id[:8])
            with contextlib.suppress(ConnectionLost):
                await conn.send(frames.hello(self.id, self.address, "", 0, wrong_incarnation=True))
            await conn.close("wrong incarnation")
            return
        link = self._links.get(hello.site_id)
        if link is None:
            link = self._new_link(hello.site_id, hello.address)
        await link.accept(conn, hello)

    def _on_envelope(self, link: Link, env: pb.Envelope) -> None:
        kind = env.WhichOneof("body")
        self.messages_received[kind or "?"] += 1
        if kind == "call":
            self._on_call(link, env.call)
        elif kind == "reply":
            self._on_reply(link, env.reply)
        elif kind == "call_batch":
            self._on_call_batch(link, env.call_batch)
        elif kind == "reply_batch":
            self._on_reply_batch(link, env.reply_batch)
        elif kind == "port_send":
            self._on_port_send(link, env.port_send)
        elif kind == "var_register":
            self._on_var_register(link, env.var_register)
        elif kind == "var_bind":
            self._on_var_bind(link, env.var_bind)
        elif kind == "var_redirect":
            self._on_var_redirect(link, env.var_redirect)
        elif kind == "var_need":
            self._on_var_need(link, env.var_need)
        elif kind == "mobile":
            self._on_mobile(link, env.mobile)
        elif kind == "kill":
            self._on_kill(link, env.kill)
        else:
            log.warning("ignoring unexpected sequenced %s from %s", kind, link.peer_address)

    def _on_link_state(self, link: Link, old: FaultState, new: FaultState, reason: str) -> None:
        if new is FaultState.PERM_FAIL:
            self._forming.pop(link.peer_id, None)
            for out in self._outbox.pop(link.peer_id, []):
                out[0]._reject(errors.PermFailure(reason))
            caller = self._callers.get(link.peer_id)
            if caller is not None:
                for c in caller.on_perm_fail(reason):
                    c.token._reject(errors.PermFailure(reason))
            owner = link.peer_id
            for (site_id, _), var in list(self._var_imports.items()):
                if site_id == owner and var._state == _UNBOUND:
                    var._reject(errors.PermFailure(f"the variable's owner failed: {reason}"))
            for pending in self._var_holder.on_owner_failed(owner):
                pending.ack._reject(errors.PermFailure(f"the variable's owner failed: {reason}"))
            self._var_owner.on_site_failed(owner)
            for data in link.undelivered():  # take back state that never left (a PUT)
                env = pb.Envelope.FromString(data)
                if env.WhichOneof("body") == "mobile":
                    taken = self._mobiles.get((env.mobile.home, env.mobile.key))
                    if taken is not None:
                        taken.on_undelivered(owner, env.mobile)
            for entity in list(self._mobiles.values()):
                entity.on_site_failed(owner, reason)
        self._notify_faults(link.peer_id)

    # -- calls in -----------------------------------------------------------------------------

    def _reply_error(self, link: Link, call_id: int, exc: BaseException) -> None:
        self._send_outcomes(link, [(call_id, False, False, exc)])

    def _resolve_method(self, export: _Export,
                        method: str) -> tuple[Callable[..., Any], bool] | BaseException:
        """The bound method to run for ``method`` and whether it is ``async def``."""
        obj = export.obj
        if method.startswith("_"):
            return AttributeError(
                f"refused: {method!r} is private (names starting with '_' cannot be called "
                "remotely)")
        fn = getattr(obj, method, None)
        if fn is None or not callable(fn):
            return AttributeError(f"{type(obj).__name__!r} object has no method {method!r}")
        cache_key = (type(obj), method)
        is_async = self._is_async_cache.get(cache_key)
        if is_async is None:
            is_async = inspect.iscoroutinefunction(fn)
            self._is_async_cache[cache_key] = is_async
        return fn, is_async

    @staticmethod
    def _split_args(a: object) -> tuple[list[Any], dict[str, Any]] | None:
        if type(a) is list:
            if len(a) == 1 and type(a[0]) is list:
                return a[0], {}
            if len(a) == 2 and type(a[0]) is list and type(a[1]) is dict:
                return a[0], a[1]
        return None

    def _on_call(self, link: Link, call: pb.Call) -> None:
        call_id, oneway = call.call_id, call.oneway
        export = self._exports.get(call.key)
        if export is None:
            if call.key == SERVICE_KEY:
                self._on_service_call(link, call)
            elif not oneway:
                self._reply_error(link, call_id, errors.UnknownEntityError(
                    "no entity with that key at this site (unknown, revoked or collected)"))
            return
        resolved = self._resolve_method(export, call.method)
        error: BaseException | None = None
        if isinstance(resolved, BaseException):
            error = resolved
        else:
            try:
                split = self._split_args(self._decoder.decode(call.args))
            except errors.NetobjError as exc:
                error = exc
            else:
                if split is None:
                    error = errors.ProtocolError("malformed call arguments")
        if error is not None:
            if not oneway:
                self._reply_error(link, call_id, error)
            return
        fn, is_async = resolved  # type: ignore[misc]
        args, kwargs = split  # type: ignore[misc]
        self._schedule(export, _Invocation(link, [(call_id, call.method, fn, args, kwargs,
                                                   oneway)]), is_async)

    def _on_call_batch(self, link: Link, batch: pb.CallBatch) -> None:
        first_id, count = batch.first_call_id, batch.count
        if not 0 < count <= MAX_BATCH_ITEMS:
            log.warning("dropping call batch with %d calls from %s", count, link.peer_address)
            return
        export = self._exports.get(batch.key)
        failure: BaseException | None = None
        lenient = False
        items: object = None
        if export is None:
            failure = errors.UnknownEntityError(
                "no entity with that key at this site (unknown, revoked or collected)")
        elif batch.method and not batch.calls:
            items = []  # uniform calls without arguments
        else:
            try:
                items = self._decoder.decode(batch.calls)
            except errors.NetobjError:
                lenient = True  # isolate the calls whose arguments do not decode
                try:
                    items = self._lenient_decoder.decode(batch.calls)
                except errors.NetobjError as exc:
                    failure = exc
            if failure is None and type(items) is not list:
                failure = errors.ProtocolError("malformed call batch")
        if failure is None and export is not None and batch.method:
            self._on_uniform_batch(link, export, batch, items, lenient)  # type: ignore[arg-type]
            return
        if failure is not None or export is None:
            self._send_outcomes(link, [(first_id + k, False, False, failure)
                                       for k in range(count)])
            return
        assert isinstance(items, list)
        methods: dict[str, tuple[Callable[..., Any], bool] | BaseException] = {}
        refused: list[Outcome] = []
        run: list[_Call] = []
        call_id = first_id - 1
        pos, end = 0, len(items)
        malformed = errors.ProtocolError("malformed call batch")
        while pos < end and call_id < first_id + count - 1:
            call_id += 1
            method = items[pos]
            n = items[pos + 1] if pos + 1 < end else None
            if type(method) is not str or type(n) is not int:
                break
            kwargs: dict[str, Any] = {}
            if n >= 0:
                args = items[pos + 2:pos + 2 + n]
                pos += 2 + n
            else:
                n = -1 - n
                args = items[pos + 2:pos + 2 + n]
                kw = items[pos + 2 + n] if pos + 2 + n < end else None
                pos += 3 + n
                if type(kw) is not dict:
                    break
                kwargs = kw
            if len(args) != n:
                break
            resolved = methods.get(method)
            if resolved is None:
                resolved = methods[method] = self._resolve_method(export, method)
            if isinstance(resolved, BaseException):
                refused.append((call_id, False, False, resolved))
                continue
            if lenient:
                bad = codec.find_unresolved(args) or codec.find_unresolved(kwargs)
                if bad is not None:
                    refused.append((call_id, False, False, bad))
                    continue
            fn, is_async = resolved
            call = (call_id, method, fn, args, kwargs, False)
            if is_async:
                if run:
                    self._schedule(export, _Invocation(link, run), False)
                    run = []
                self._schedule(export, _Invocation(link, [call]), True)
            else:
                run.append(call)
        else:
            call_id += 1  # every call parsed (or all ids used)
        if run:
            self._schedule(export, _Invocation(link, run), False)
        # calls the batch announced but did not carry well-formed
        refused.extend((k, False, False, malformed) for k in range(call_id, first_id + count))
        if refused:
            self._send_outcomes(link, refused)

    def _on_uniform_batch(self, link: Link, export: _Export, batch: pb.CallBatch,
                          items: list[Any], lenient: bool) -> None:
        """``count`` calls of ``method``, each with ``arity`` positional arguments."""
        first_id, count, method, arity = (batch.first_call_id, batch.count, batch.method,
                                          batch.arity)
        resolved = self._resolve_method(export, method)
        if len(items) != count * arity:
            resolved = errors.ProtocolError("malformed uniform call batch")
        if isinstance(resolved, BaseException):
            self._send_outcomes(link, [(first_id + k, False, False, resolved)
                                       for k in range(count)])
            return
        fn, is_async = resolved
        calls: list[_Call] = [
            (first_id + k, method, fn, items[k * arity:(k + 1) * arity], {}, False)
            for k in range(count)
        ]
        if lenient:
            refused: list[Outcome] = []
            good: list[_Call] = []
            for call in calls:
                bad = codec.find_unresolved(call[3])
                if bad is None:
                    good.append(call)
                else:
                    refused.append((call[0], False, False, bad))
            calls = good
            if refused:
                self._send_outcomes(link, refused)
        if is_async:
            for call in calls:
                self._schedule(export, _Invocation(link, [call]), True)
        elif calls:
            self._schedule(export, _Invocation(link, calls), False)

    def _schedule(self, export: _Export, inv: _Invocation, is_async: bool) -> None:
        if self._entity_failures:
            failure = self._entity_failures.get((self.id, export.key))
            if failure is not None:
                self._send_outcomes(inv.link, [(c[0], c[5], False, errors.PermFailure(failure))
                                               for c in inv.calls])
                return
        mobile = export.mobile
        if mobile is not None:
            if isinstance(mobile, ReplicaHomeEntity):
                mobile.remote_write(inv.link, inv.calls, is_async)
            else:
                self._send_outcomes(inv.link, [(c[0], c[5], False, errors.ProtocolError(
                    "a cached object is not called remotely: its state moves to the caller"))
                    for c in inv.calls])
            return
        try:
            starts = export.machine.on_call(inv, is_async)
        except QueueFull as exc:
            self._send_outcomes(inv.link, [(c[0], c[5], False, errors.TempFailure(str(exc)))
                                           for c in inv.calls])
            return
        for start in starts:
            self._start(export, start.invocation, start.on_lane)

    def _on_service_call(self, link: Link, call: pb.Call) -> None:
        try:
            if call.method != "take":
                raise AttributeError(f"the site service has no method {call.method!r}")
            split = self._split_args(self._decoder.decode(call.args))
            if split is None or len(split[0]) != 1 or not isinstance(split[0][0], str):
                raise errors.ProtocolError("malformed take request")
            value = self._take_local(split[0][0])
        except Exception as exc:
            self._reply_error(link, call.call_id, exc)
            return
        self._send_outcomes(link, [(call.call_id, False, True, value)])

    def _start(self, export: _Export, inv: _Invocation, on_lane: bool) -> None:
        if on_lane:
            assert export.lane is not None
            export.lane.submit(inv)
        else:
            self._spawn(self._run_async(export, inv))

    async def _run_async(self, export: _Export, inv: _Invocation) -> None:
        outcomes: list[Outcome] = []
        try:
            await run_calls_async(inv.calls, outcomes)
        finally:
            self._finish(export, inv, outcomes)

    def _submit_lane(self, lane: _Lane) -> None:
        if self._pool is not None:
            self._pool.submit(lane.drain)
        else:
            assert self._loop is not None
            self._loop.call_soon(lane.drain)

    def _lane_done(self, export: _Export, inv: _Invocation, outcomes: list[Outcome]) -> None:
        """Called by a lane when a run of def calls finished: on a worker thread, or inline."""
        if self._pool is None:
            self._finish(export, inv, outcomes)
            return
        with self._done_lock:
            self._done.append((export, inv, outcomes))
            if self._done_scheduled:
                return
            self._done_scheduled = True
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # loop closed: the site is gone
            self._loop.call_soon_threadsafe(self._drain_done)

    def _drain_done(self) -> None:
        with self._done_lock:
            done, self._done = self._done, deque()
            self._done_scheduled = False
        for export, inv, outcomes in done:
            try:
                self._finish(export, inv, outcomes)
            except Exception:  # a bug of ours: log it, and finish the other calls
                log.exception("finishing calls on %s failed", export.key)

    def _finish(self, export: _Export, inv: _Invocation, outcomes: list[Outcome]) -> None:
        try:
            self._send_outcomes(inv.link, outcomes)
        finally:  # the object goes on whatever happened to the replies
            for start in export.machine.on_done(inv):
                self._start(export, start.invocation, start.on_lane)

    def _send_outcomes(self, link: Link, outcomes: list[Outcome]) -> None:
        """Reply to finished calls: one Reply, or ReplyBatches (split to fit the size limit)."""
        scalars = codec.SCALARS
        if len(outcomes) > 1 and self._send_uniform_outcomes(link, outcomes):
            return
        hook = self._ref_hook
        items: list[Any] = []  # flat: call_id, ok, value, call_id, ok, value, ...
        for call_id, oneway, ok, value in outcomes:
            if oneway:
                if not ok:
                    log.warning("oneway call %d from %s failed: %r", call_id,
                                link.peer_address, value)
                continue
            if ok:
                if type(value) not in scalars:
                    try:
                        value = codec.value_to_wire(value, hook, "result")
                    except errors.MarshalError as exc:
                        ok, value = False, codec.encode_exception_tag(exc)
                    except Exception as exc:  # the result's own code raised
                        ok, value = False, codec.encode_exception_tag(errors.MarshalError(
                            f"the result could not be encoded: {type(exc).__name__}: "
                            f"{errors.safe_str(exc)}"))
            else:
                value = codec.encode_exception_tag(failure(value))
            items += (call_id, ok, value)
        if items:
            self._flush_before(link)
            self._send_items(link, items)

    def _send_uniform_outcomes(self, link: Link, outcomes: list[Outcome]) -> bool:
        """Consecutive ids that all returned data: one ReplyBatch of bare values."""
        first = outcomes[0][0]
        scalars = codec.SCALARS
        values = []
        expected = first
        for call_id, oneway, ok, value in outcomes:
            if call_id != expected or oneway or not ok or type(value) not in scalars:
                return False
            values.append(value)
            expected += 1
        try:
            data = codec.dump(values, "reply batch")
        except errors.MarshalError:
            return False  # too big as one: the general path splits it
        self._flush_before(link)
        try:
            seq = link.next_seq()
        except errors.EntityFailure:
            return True
        link.send_sequenced(seq, frames.reply_batch(seq, b"", first, data))
        self.messages_sent["reply_batch"] += 1
        return True

    def _send_items(self, link: Link, items: list[Any]) -> None:
        """Send a flat outcome list [call_id, ok, value, ...] as one Reply or ReplyBatch."""
        try:
            if len(items) == 3:
                data = codec.dump(items[2], "result")
            else:
                data = codec.dump(items, "reply batch")
        except errors.MarshalError as exc:
            if len(items) == 3:
                items[1:] = [False, codec.encode_exception_tag(exc)]
                data = codec.dump(items[2])
            else:
                half = len(items) // 6 * 3
                self._send_items(link, items[:half])
                self._send_items(link, items[half:])
                return
        try:
            seq = link.next_seq()
        except errors.EntityFailure:
            return
        if len(items) == 3:
            call_id, ok = items[0], items[1]
            envelope = (frames.reply_value if ok else frames.reply_error)(seq, call_id, data)
            self.messages_sent["reply"] += 1
        else:
            envelope = frames.reply_batch(seq, data)
            self.messages_sent["reply_batch"] += 1
        link.send_sequenced(seq, envelope)

    def _on_reply(self, link: Link, reply: pb.Reply) -> None:
        caller = self._callers.get(link.peer_id)
        var = caller.on_reply(reply.call_id) if caller is not None else None
        if var is None:
            log.debug("reply for unknown call %d from %s", reply.call_id, link.peer_address)
            return
        try:
            if reply.WhichOneof("outcome") == "value":
                var._resolve(self._decoder.decode(reply.value))
            else:
                var._reject(codec.decode_exception(reply.error))
        except errors.NetobjError as exc:
            var._reject(exc)

    def _on_reply_batch(self, link: Link, batch: pb.ReplyBatch) -> None:
        caller = self._callers.get(link.peer_id)
        if caller is None:
            return
        uniform = not batch.outcomes
        lenient = False
        try:
            items = self._decoder.decode(batch.values if uniform else batch.outcomes)
        except errors.NetobjError:
            lenient = True  # isolate the outcomes that do not decode
            try:
                items = self._lenient_decoder.decode(
                    batch.values if uniform else batch.outcomes)
            except errors.NetobjError as exc:
                log.warning("dropping malformed reply batch from %s: %s",
                            link.peer_address, exc)
                return
        if type(items) is not list:
            log.warning("dropping malformed reply batch from %s", link.peer_address)
            return
        if uniform:
            first = batch.first_call_id
            tokens = caller.on_replies(list(range(first, first + len(items))))
            if lenient:
                for var, value in zip(tokens, items, strict=True):
                    bad = codec.find_unresolved(value)
                    if var is not None and bad is not None:
                        var._reject(bad)
            resolve_many(zip(tokens, items, strict=True))
            return
        if len(items) % 3 or not all(type(i) is int for i in items[::3]):
            log.warning("dropping malformed reply batch from %s", link.peer_address)
            return
        tokens = caller.on_replies(items[::3])
        for var, ok, value in zip(tokens, items[1::3], items[2::3], strict=True):
            if var is None:
                continue
            if lenient:
                bad = codec.find_unresolved(value)
                if bad is not None:
                    var._reject(bad)
                    continue
            if ok is True:
                var._resolve(value)
            elif isinstance(value, BaseException):
                var._reject(value)
            else:
                var._reject(errors.ProtocolError("malformed outcome"))

    # -- introspection ------------------------------------------------------------------------

    # -- faults: per-entity state, watchers, kill and break (DESIGN section 5) -------------------

    def fault_ident(self, entity: object) -> tuple[str, str] | None:
        """(home site id, key) of a distributed entity known here, or None."""
        if isinstance(entity, Proxy):
            ref = proxy_ref(entity)
            return (ref.site_id, ref.key)
        if isinstance(entity, Port):
            if entity._remote is not None:
                pref: codec.Ref = entity._remote[1]
                return (pref.site_id, pref.key)
            if entity._owner is not None and entity._owner[0] is self:
                return (self.id, entity._owner[1])
            return None
        if isinstance(entity, Var):
            ext = entity._ext
            if ext is not None and ext.order is not None and ext.order[0]:
                return (ext.order[0], ext.order[1])
            return None
        if getattr(type(entity), "__netobj_protocol__", None) is not None:
            with self._lock:
                key = self._export_keys.get(id(entity))
                export = self._exports.get(key) if key is not None else None
            if export is not None and export.obj is entity:
                return (self.id, export.key)
        return None

    def entity_fault_state(self, ident: tuple[str, str]) -> FaultState:
        """The fault state of the entity ``ident`` as seen here: ``perm_fail`` if it was
        killed, broken or lost, else the state of the link to its home."""
        if ident in self._entity_failures:
            return FaultState.PERM_FAIL
        mobile = self._mobiles.get(ident)
        if mobile is not None and mobile.fault_state() == "perm_fail":
            return FaultState.PERM_FAIL
        if ident[0] == self.id:
            return FaultState.OK
        link = self._links.get(ident[0])
        return link.state if link is not None else FaultState.OK

    def watch_faults(self, ident: tuple[str, str],
                     push: Callable[[FaultState], None]) -> FaultWatcher:
        """Call ``push(state)`` (on this site's loop) whenever the entity's state changes."""
        watcher = FaultWatcher(ident, self.entity_fault_state(ident), push)
        self._call_on_loop(self._add_watcher, watcher)
        return watcher

    def unwatch_faults(self, watcher: FaultWatcher) -> None:
        watcher.push = None
        self._call_on_loop(self._remove_watcher, watcher)

    def _add_watcher(self, watcher: FaultWatcher) -> None:
        if watcher.push is None:
            return
        self._watchers.setdefault(watcher.ident[0], set()).add(watcher)
        watcher.check(self)  # a change between creation and registration

    def _remove_watcher(self, watcher: FaultWatcher) -> None:
        group = self._watchers.get(watcher.ident[0])
        if group is not None:
            group.discard(watcher)
            if not group:
                del self._watchers[watcher.ident[0]]

    def _notify_faults(self, home: str) -> None:
        for watcher in list(self._watchers.get(home, ())):
            watcher.check(self)

    def _fail_fast_check(self, var: Var[Any], site_id: str, after: float,
                         first: bool = False) -> None:
        """A fail-fast call: TempFailure once its link has been seen down ``after`` seconds
        after the call (or later while it is pending); checked again while it waits."""
        if var.done() or self._closed:
            return
        link = self._links.get(site_id)
        down = link is not None and (not link.connected or link.state is FaultState.TEMP_FAIL)
        if down and (not first or after <= 0):
            var._reject(errors.TempFailure(
                f"site {link.peer_address if link else site_id[:8]} is unreachable now "
                f"(fail-fast call; link {link.state.value if link else '?'})"))
            return
        assert self._loop is not None
        self._loop.call_later(after if first and after > 0 else max(min(after, 1.0), 0.05),
                              self._fail_fast_check, var, site_id, after)

    def _call_on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        if self._on_loop():
            fn(*args)
        elif self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(fn, *args)

    def kill(self, entity: object, reason: str = "") -> None:
        """Fail ``entity`` permanently on every site (Oz ``DP.kill``). The home applies it
        and tells every site it has a link to; operations on it then fail with
        :class:`~netobj.PermFailure`. Safe from any thread; returns at once."""
        ident = self.fault_ident(entity)
        if ident is None:
            raise TypeError(f"{type(entity).__name__} is not a distributed entity of this site")
        self._check_running()
        self._call_on_loop(self._kill, ident, reason or "killed (site.kill)")

    def break_(self, entity: object, reason: str = "") -> None:
        """Fail ``entity`` permanently here only (Oz ``DP.break``): other sites are not told.
        Safe from any thread."""
        ident = self.fault_ident(entity)
        if ident is None:
            raise TypeError(f"{type(entity).__name__} is not a distributed entity of this site")
        self._check_running()
        self._call_on_loop(self._fail_entity, ident, reason or "broken here (site.break_)")

    def _kill(self, ident: tuple[str, str], reason: str) -> None:
        home, key = ident
        if home != self.id:
            link = self._link_for(home, self._address_of(home))
            self._send_var(link, "kill", lambda seq: pb.Envelope(
                seq=seq, kill=pb.Kill(home=home, key=key, reason=reason)).SerializeToString())
            return
        if ident in self._entity_failures:
            return
        export = self._exports.get(key)
        if export is not None and isinstance(export.mobile, CachedEntity):
            export.mobile.kill(reason)
        self._fail_entity(ident, reason)
        for link in list(self._links.values()):
            if link.state is not FaultState.PERM_FAIL:
                self._send_var(link, "kill", lambda seq: pb.Envelope(
                    seq=seq, kill=pb.Kill(home=home, key=key, reason=reason)
                ).SerializeToString())

    def _fail_entity(self, ident: tuple[str, str], reason: str) -> None:
        """The local effects of the permanent failure of entity ``ident``."""
        if ident in self._entity_failures:
            return
        self._entity_failures[ident] = reason
        home, key = ident
        var = self._var_exports.get(key) if home == self.id else self._var_imports.get(ident)
        if var is not None and var._state == _UNBOUND:
            var._reject(errors.PermFailure(reason))
        mobile = self._mobiles.get(ident)
        if mobile is not None:
            mobile.fail(reason)
        self._notify_faults(home)

    def _on_kill(self, link: Link, msg: pb.Kill) -> None:
        reason = msg.reason or "killed"
        if msg.home == self.id:
            self._kill((self.id, msg.key), reason)  # a request: the home applies it
        elif msg.home == link.peer_id:
            self._fail_entity((msg.home, msg.key), reason)  # the home says it is killed
        else:
            log.warning("ignoring a kill of another site's entity from %s", link.peer_address)

    def statistics(self) -> dict[str, Any]:
        """Counters for tests and tuning: protocol messages by kind, and per-link figures."""
        return {
            "messages_sent": dict(self.messages_sent),
            "messages_received": dict(self.messages_received),
            "calls_batched": self.calls_batched,
            "exports": len(self._exports),
            "tickets": len(self._tickets),
            "links": {
                link.peer_id: {"state": str(link.state), **link.stats}
                for link in self._links.values()
            },
        }

    def link_state(self, site_id: str) -> FaultState | None:
        link = self._links.get(site_id)
        return None if link is None else link.state


def _assign(var: Var[Any], value: object, failed: bool) -> None:
    """Apply an owner's decision to a Var here (owner: a winning request; holder: a redirect)."""
    if failed:
        assert isinstance(value, BaseException)
        var._settle(_FAILED, value)
        return
    if isinstance(value, Var):
        rep = deref(value)
        if isinstance(rep, Var):
            if rep is var:
                return
            if rep._state == _FAILED:
                var._settle(_FAILED, rep._value)
            else:
                var._link(rep)
            return
        value = rep
    var._settle(_BOUND, value)


def _forward_to(ack: Var[None]) -> Callable[[Var[Any]], None]:
    def forward(v: Var[Any]) -> None:
        if v.failed():
            ack._reject(v.exception())  # type: ignore[arg-type]
        else:
            ack._resolve(None)

    return forward


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


class FaultWatcher:
    """One subscription to an entity's fault state (netobj.fault_stream, netobj.on_fault)."""

    __slots__ = ("ident", "last", "push")

    def __init__(self, ident: tuple[str, str], last: FaultState,
                 push: Callable[[FaultState], None] | None) -> None:
        self.ident = ident
        self.last = last
        self.push = push

    def check(self, site: Site) -> None:
        state = site.entity_fault_state(self.ident)
        if state is not self.last and self.push is not None:
            self.last = state
            self.push(state)
