"""Decorators that choose an object's distribution protocol, and runtime helpers.

The fault API (``fault_state``, ``fault_stream``, ``on_fault``, ``fail_fast``) lives in
:mod:`netobj.faults`; it is re-exported here, and from ``netobj``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from netobj import classes
from netobj.faults import FaultHandle as FaultHandle
from netobj.faults import FaultStream as FaultStream
from netobj.faults import fail_fast as fail_fast
from netobj.faults import fault_state as fault_state
from netobj.faults import fault_stream as fault_stream
from netobj.faults import on_fault as on_fault
from netobj.proxy import Proxy, proxy_ref

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
