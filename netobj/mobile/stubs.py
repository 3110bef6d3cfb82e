"""Generated proxy classes of cached and replicated objects: one real method per public
method of the class, so that a call that can run here is a plain method call on the local
instance plus a bound Var (no lookup hook, no message)."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

from netobj import classes
from netobj.proxy import Proxy
from netobj.runtime.executor import failure
from netobj.var import _BOUND, Var

assert _BOUND == 1  # the proxy template below writes the constant


class MobileProxy(Proxy):
    """Base of the generated proxy classes: ordinary attribute lookup (the methods are real;
    a name the class does not offer raises the usual AttributeError)."""

    __slots__ = ("_netobj_m",)
    __getattribute__ = object.__getattribute__
    _netobj_inline_codes: frozenset[Any] = frozenset()


_proxy_classes: dict[tuple[type, str], type[MobileProxy]] = {}
_proxy_lock = threading.Lock()


def methods_of(cls: type) -> dict[str, Callable[..., Any]]:
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
                for name, fn in methods_of(cls).items():
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
