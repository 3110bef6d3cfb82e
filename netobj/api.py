"""Decorators that choose an object's distribution protocol, and runtime helpers."""

from __future__ import annotations

from typing import Any, TypeVar

from netobj.link import FaultState
from netobj.proxy import Proxy, proxy_ref, proxy_site

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


def protocol_of(obj: Any) -> str | None:
    """The distribution protocol of an object or proxy (None for plain values)."""
    if isinstance(obj, Proxy):
        return proxy_ref(obj).protocol
    protocol: str | None = getattr(type(obj), "__netobj_protocol__", None)
    return protocol


def fault_state(entity: Any) -> str:
    """``"ok"``, ``"temp_fail"`` or ``"perm_fail"`` for a proxy; local entities are ``"ok"``."""
    if not isinstance(entity, Proxy):
        return FaultState.OK.value
    state = proxy_site(entity).link_state(proxy_ref(entity).site_id)
    return (state or FaultState.OK).value
