"""Decorators that choose an object's distribution protocol, and runtime helpers."""

from __future__ import annotations

from typing import Any, TypeVar

from netobj import classes
from netobj.link import FaultState
from netobj.mobile import MobileProxy
from netobj.port import Port
from netobj.proxy import Proxy, proxy_ref, proxy_site
from netobj.var import Var

C = TypeVar("C", bound=type)


def _mark(cls: C, protocol: str) -> C:
    if not isinstance(cls, type):
        raise TypeError(f"@netobj.{protocol} decorates a class")
    cls.__netobj_protocol__ = protocol  # type: ignore[attr-defined]
    return cls


def stationary(cls: C) -> C:
    """The object stays at its home site; every call travels there and back (RMI)."""
    return _mark(cls, "stationary")


def active(cls: C) -> C:
    """An asynchronous object: executes one call at a time, to completion, in arrival order."""
    return _mark(cls, "active")


def cached(cls: C) -> C:
    """Mobile state (Mozart's default): the state moves to the site that calls a method, and
    the method runs there. The class must be decorated on every site that uses it."""
    cls = _mark(cls, "cached")
    classes.register(cls)
    return cls


def replicated(cls: C) -> C:
    """Copies at every reading site: methods marked ``@netobj.reads`` run on the local copy;
    the others run at the home, after every copy has been invalidated."""
    cls = _mark(cls, "replicated")
    classes.register(cls)
    return cls


reads = classes.reads


def protocol_of(obj: Any) -> str | None:
    """The distribution protocol of an object or proxy (None for plain values)."""
    if isinstance(obj, Proxy):
        return proxy_ref(obj).protocol
    protocol: str | None = getattr(type(obj), "__netobj_protocol__", None)
    return protocol


def fault_state(entity: Any) -> str:
    """``"ok"``, ``"temp_fail"`` or ``"perm_fail"`` of an entity here: for a proxy (object,
    Var or Port owned elsewhere), the state of the link to its home; otherwise ``"ok"``."""
    site: Any = None
    home = ""
    if isinstance(entity, MobileProxy):
        state: str | None = object.__getattribute__(entity, "_netobj_m").fault_state()
        if state is not None:
            return state
    if isinstance(entity, Proxy):
        site, home = proxy_site(entity), proxy_ref(entity).site_id
    elif isinstance(entity, Port) and entity._remote is not None:
        site, home = entity._remote[0], entity._remote[1].site_id
    elif isinstance(entity, Var):
        ext = entity._ext
        if ext is not None and ext.host is not None and not ext.owned and ext.order:
            site, home = ext.host, ext.order[0]
    if site is None:
        return FaultState.OK.value
    link_state: FaultState | None = site.link_state(home)
    return (link_state or FaultState.OK).value
