"""Export and import tables, and the codec hooks that turn entities into references and
references back into entities (proxies, cached and replicated objects, Vars, ports).

* ``exports``: key -> :class:`Export` (an object of ours that other sites may reference,
  with its home protocol machine and serial lane). Keys carry 128 random bits.
* ``imports``: (site id, key) -> proxy, weakly: one proxy per entity per site.

Vars and ports have their own tables (:mod:`netobj.runtime.vars`, :mod:`netobj.runtime.ports`),
cached and replicated objects theirs (netobj.mobile): those parts are attached here once the
site is built, so that this module imports none of them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Final, Protocol

from netobj import classes, errors
from netobj.port import Port
from netobj.protocols.scheduling import ActiveHome, StationaryHome
from netobj.proxy import Proxy, ProxyHost, proxy_ref
from netobj.runtime.executor import Call, Invocation, Lane
from netobj.runtime.state import SiteState
from netobj.var import Var
from netobj.wire import codec, tags
from netobj.wire import netobj_pb2 as pb

PROTOCOLS: Final = {"stationary": StationaryHome, "active": ActiveHome}


class MobileEntity(Protocol):
    """What the runtime asks of the entity of a cached or replicated object (netobj.mobile)."""

    ref: codec.Ref
    obj: object

    def fault_state(self) -> str | None: ...
    def fail(self, reason: str) -> None: ...
    def kill(self, reason: str) -> None: ...
    def hand_back(self) -> None: ...
    def close(self) -> None: ...
    def remote_call(self, peer: Any, calls: list[Call], is_async: bool) -> None: ...
    def on_message(self, peer: Any, msg: pb.Mobile) -> None: ...
    def on_undelivered(self, site_id: str, msg: pb.Mobile) -> None: ...
    def on_site_failed(self, site_id: str, reason: str) -> None: ...


class Mobiles(Protocol):
    """The table of cached and replicated objects known here (netobj.mobile.table)."""

    def get(self, ident: tuple[str, str]) -> MobileEntity | None: ...
    def new_home(self, ref: codec.Ref, obj: object) -> MobileEntity: ...
    def guest_ref(self, obj: object) -> codec.Ref | None: ...
    def import_ref(self, ref: codec.Ref) -> Proxy: ...


class VarRefs(Protocol):
    def var_ref(self, var: Var[Any]) -> codec.Ref | codec.Tagged: ...
    def import_var(self, ref: codec.Ref) -> Var[Any]: ...
    def determined_var(self, content: Any, failed: bool) -> Var[Any]: ...


class PortRefs(Protocol):
    def port_ref(self, port: Port) -> codec.Ref: ...
    def import_port(self, ref: codec.Ref) -> Port: ...


@dataclass(slots=True)
class Export:
    key: str
    obj: object
    protocol: str
    machine: StationaryHome[Invocation] | ActiveHome[Invocation]
    lane: Lane | None = None
    mobile: MobileEntity | None = None  # cached and replicated objects: the home's entity


class Refs:
    """Entities to references and back, for one site."""

    def __init__(self, state: SiteState, host: ProxyHost, mobiles: Mobiles) -> None:
        self._state = state
        self._host = host  # the site: what proxies call through
        self._mobiles = mobiles
        self.exports: dict[str, Export] = {}
        self.export_keys: dict[int, str] = {}
        self.imports: weakref.WeakValueDictionary[tuple[str, str], Proxy] = (
            weakref.WeakValueDictionary())
        self._vars: VarRefs | None = None
        self._ports: PortRefs | None = None
        extra: dict[int, Any] = {tags.BOUND_VAR: self._bound_var_from_wire,
                                 tags.FAILED: self._failed_var_from_wire}
        self.decoder = codec.Decoder(self.resolve_ref, extra=extra)
        self.lenient_decoder = codec.Decoder(self.resolve_ref, lenient=True, extra=extra)

    def attach(self, vars_: VarRefs, ports: PortRefs) -> None:
        self._vars = vars_
        self._ports = ports

    # -- encoding ------------------------------------------------------------------------

    def encode(self, value: object, root: str) -> bytes:
        return codec.encode(value, self.ref_hook, root=root)

    def decode(self, data: bytes) -> object:
        return self.decoder.decode(data)

    def export(self, obj: object, protocol: str) -> str:
        state = self._state
        with state.lock:
            key = self.export_keys.get(id(obj))
            if key is not None and self.exports[key].obj is obj:
                return key
            key = state.new_id()
            machine: StationaryHome[Invocation] | ActiveHome[Invocation] = (
                ActiveHome() if protocol == "active" else StationaryHome()
            )
            export = Export(key, obj, protocol, machine)
            if protocol in classes.MOBILE_PROTOCOLS:
                ref = codec.Ref(tags.KIND_OBJECT, protocol, state.id, state.address, key,
                                classes.qualified_name(type(obj)))
                export.mobile = self._mobiles.new_home(ref, obj)
            self.exports[key] = export
            self.export_keys[id(obj)] = key
            return key

    def export_of(self, obj: object) -> Export | None:
        with self._state.lock:
            key = self.export_keys.get(id(obj))
            export = self.exports.get(key) if key is not None else None
        return export if export is not None and export.obj is obj else None

    def ref_hook(self, value: object) -> codec.Ref | codec.Tagged | None:
        if isinstance(value, Proxy):
            return proxy_ref(value)
        if isinstance(value, Var):
            assert self._vars is not None
            return self._vars.var_ref(value)
        if isinstance(value, Port):
            assert self._ports is not None
            return self._ports.port_ref(value)
        protocol = getattr(type(value), "__netobj_protocol__", None)
        if protocol in PROTOCOLS:
            if not self._state.address:
                raise errors.SiteClosedError("the site is not started")
            key = self.export(value, protocol)
            return codec.Ref(tags.KIND_OBJECT, protocol, self._state.id, self._state.address,
                             key)
        if protocol in classes.MOBILE_PROTOCOLS:
            guest = self._mobiles.guest_ref(value)
            if guest is not None:  # the local copy of a guest
                return guest
            if not self._state.address:
                raise errors.SiteClosedError("the site is not started")
            export = self.exports[self.export(value, protocol)]
            assert export.mobile is not None
            return export.mobile.ref
        return None

    # -- decoding ------------------------------------------------------------------------

    def resolve_ref(self, ref: codec.Ref) -> object:
        if ref.kind == tags.KIND_VAR:
            assert self._vars is not None
            return self._vars.import_var(ref)
        if ref.kind == tags.KIND_PORT:
            assert self._ports is not None
            return self._ports.import_port(ref)
        if ref.kind == tags.KIND_OBJECT and ref.protocol in classes.MOBILE_PROTOCOLS:
            return self._mobiles.import_ref(ref)
        if ref.kind != tags.KIND_OBJECT or ref.protocol not in PROTOCOLS:
            raise errors.ProtocolError(f"unsupported reference kind {ref.kind}/{ref.protocol}")
        if ref.site_id == self._state.id:
            export = self.exports.get(ref.key)
            if export is None:
                raise errors.UnknownEntityError("no entity with that key at this site")
            return export.obj
        ident = (ref.site_id, ref.key)
        proxy = self.imports.get(ident)
        if proxy is None:
            proxy = Proxy(self._host, ref)
            self.imports[ident] = proxy
        return proxy

    def _bound_var_from_wire(self, content: Any) -> Var[Any]:
        assert self._vars is not None
        return self._vars.determined_var(content, False)

    def _failed_var_from_wire(self, content: Any) -> Var[Any]:
        assert self._vars is not None
        return self._vars.determined_var(content, True)

    def local_value(self, value: object) -> object:
        """What taking an offer of ours yields here: the object itself, except for cached
        and replicated objects, which are used through their home proxy."""
        if getattr(type(value), "__netobj_protocol__", None) in classes.MOBILE_PROTOCOLS:
            ref = self.ref_hook(value)
            assert isinstance(ref, codec.Ref)
            return self._mobiles.import_ref(ref)
        return value
