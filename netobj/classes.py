"""The allow-list of classes whose instances may carry mobile state (cached and replicated
objects), and how their state is read and written.

No code crosses the wire: a reference to a cached or replicated object names its class by its
qualified name (``module.QualName``), and the receiving site looks that name up among the
classes *it* has decorated with the same protocol. A class that is missing there (its module
not imported) or not decorated is refused with :class:`~netobj.errors.MarshalError` naming it.

State travels as data encoded by the netobj codec (so it may hold Vars, Ports and references
to other distributed objects): ``obj.__getstate__()`` / ``obj.__setstate__(state)`` when the
class defines them, else the instance ``__dict__``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar

from netobj import errors

F = TypeVar("F", bound=Callable[..., Any])

MOBILE_PROTOCOLS: Final = frozenset({"cached", "replicated"})

_registry: dict[str, type] = {}
_lock = threading.Lock()


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(cls: type) -> None:
    """Allow instances of ``cls`` (already marked with its protocol) to be rebuilt here.

    A later class with the same qualified name replaces an earlier one (a reloaded module)."""
    with _lock:
        _registry[qualified_name(cls)] = cls


def resolve(name: str, protocol: str) -> type:
    """The class registered here as ``name`` with ``protocol``, or MarshalError saying why not."""
    cls = _registry.get(name)
    if cls is not None:
        actual = getattr(cls, "__netobj_protocol__", None)
        if actual == protocol:
            return cls
        raise errors.MarshalError(
            f"class {name!r} is decorated with @netobj.{actual} on this site, not "
            f"@netobj.{protocol}: both sites must use the same protocol")
    module, _, qual = name.rpartition(".")
    found: object = None
    mod = sys.modules.get(module)
    if mod is not None and "<" not in qual:
        found = mod
        for part in qual.split("."):
            found = getattr(found, part, None)
    if isinstance(found, type):
        raise errors.MarshalError(
            f"class {name!r} is not decorated with @netobj.{protocol} on this site: its "
            "instances cannot receive mobile state here")
    raise errors.MarshalError(
        f"class {name!r} is unknown on this site: import the module that defines it "
        f"(decorated with @netobj.{protocol}) before taking the object")


def reads(fn: F) -> F:
    """Mark a method of a ``@netobj.replicated`` class as a read: it runs on the local copy."""
    fn.__netobj_reads__ = True  # type: ignore[attr-defined]
    return fn


def is_read(cls: type, name: str) -> bool:
    return bool(getattr(getattr(cls, name, None), "__netobj_reads__", False))


def _custom(cls: type, name: str) -> bool:
    return getattr(cls, name, None) is not getattr(object, name, None)


def get_state(obj: object) -> object:
    cls = type(obj)
    if _custom(cls, "__getstate__"):
        return obj.__getstate__()
    try:
        return dict(vars(obj))
    except TypeError:
        raise errors.MarshalError(
            f"{qualified_name(cls)} has no __dict__: define __getstate__ and __setstate__"
        ) from None


def fresh(cls: type, state: object) -> object:
    """A new instance of ``cls`` holding ``state``.

    Attributes are set one by one on a new instance rather than through ``__dict__``: on
    CPython an instance whose ``__dict__`` was never asked for keeps the fast attribute
    layout, which is what local calls on a cached object run on."""
    obj: Any = object.__new__(cls)
    if _custom(cls, "__setstate__"):
        obj.__setstate__(state)
        return obj
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise errors.ProtocolError(f"state of {qualified_name(cls)} must be a dict of names")
    setattr_ = object.__setattr__
    for name, value in state.items():
        setattr_(obj, name, value)
    return obj


def clear_state(obj: object) -> None:
    """The state left this site: forget it (so that stale direct use fails loudly)."""
    if not _custom(type(obj), "__setstate__"):
        try:
            vars(obj).clear()
        except TypeError:
            pass


def blank(cls: type) -> object:
    """An instance with no state yet (``__init__`` is not run: the state arrives)."""
    return object.__new__(cls)
