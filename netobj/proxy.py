"""Proxies: the local stand-in for an entity whose home is another site.

A proxy has no ordinary attributes: every public attribute name is a remote method, and
``proxy.name(*args, **kwargs)`` returns a :class:`~netobj.var.Var` at once. Runtime helpers
are module functions (``netobj.fault_state(p)``); internal state lives under the reserved
``_netobj_`` prefix. Names starting with ``_`` are never forwarded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netobj.wire.codec import Ref

if TYPE_CHECKING:
    from netobj.link import FaultState

if TYPE_CHECKING:
    from netobj.var import Var


class ProxyHost:
    """What a proxy needs from its site (implemented by netobj.site.Site)."""

    def _invoke(self, ref: Ref, method: str, args: tuple[Any, ...],
                kwargs: dict[str, Any], oneway: bool,
                fail_after: float | None = None) -> Var[Any]:
        raise NotImplementedError

    def link_state(self, site_id: str) -> FaultState | None:
        raise NotImplementedError


#: Most distinct method names a proxy keeps ready-made RemoteMethods for.
MAX_CACHED_METHODS = 64


class Proxy:
    __slots__ = ("__weakref__", "_netobj_methods", "_netobj_ref", "_netobj_site")

    def __init__(self, site: ProxyHost, ref: Ref) -> None:
        object.__setattr__(self, "_netobj_site", site)
        object.__setattr__(self, "_netobj_ref", ref)
        object.__setattr__(self, "_netobj_methods", {})

    def __getattribute__(self, name: str) -> Any:
        # Every public name is a remote method. Overriding __getattribute__ (not __getattr__)
        # spares the failed ordinary lookup, which costs more than the rest of a call.
        if name[0] == "_":
            if name.startswith("_netobj_") or (name.startswith("__") and name.endswith("__")):
                return object.__getattribute__(self, name)
            raise AttributeError(
                f"{name!r}: names starting with '_' are not forwarded to remote objects"
            )
        methods: dict[str, RemoteMethod] = object.__getattribute__(self, "_netobj_methods")
        method = methods.get(name)
        if method is None:
            method = RemoteMethod(self, name)
            if len(methods) < MAX_CACHED_METHODS:
                methods[name] = method
        return method

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("proxies have no settable attributes; call a method instead")

    def __repr__(self) -> str:
        ref: Ref = object.__getattribute__(self, "_netobj_ref")
        return f"<Proxy {ref.protocol} {ref.key[:6]}… at {ref.address} site={ref.site_id[:8]}>"

    def __reduce__(self) -> Any:
        raise TypeError("proxies cannot be pickled; pass them through netobj calls or offer()")


class RemoteMethod:
    __slots__ = ("_invoke", "_name", "_proxy", "_ref")

    def __init__(self, proxy: Proxy, name: str) -> None:
        self._proxy = proxy
        self._name = name
        self._ref: Ref = object.__getattribute__(proxy, "_netobj_ref")
        self._invoke = object.__getattribute__(proxy, "_netobj_site")._invoke

    def __call__(self, *args: Any, **kwargs: Any) -> Var[Any]:
        return self._invoke(self._ref, self._name, args, kwargs, False)  # type: ignore[no-any-return]

    def oneway(self, *args: Any, **kwargs: Any) -> None:
        """Send the call without asking for a reply (nothing comes back, not even errors)."""
        self._invoke(self._ref, self._name, args, kwargs, True)

    def __repr__(self) -> str:
        return f"<RemoteMethod {self._name} of {self._proxy!r}>"


def proxy_ref(p: Proxy) -> Ref:
    ref: Ref = object.__getattribute__(p, "_netobj_ref")
    return ref


def proxy_site(p: Proxy) -> ProxyHost:
    site: ProxyHost = object.__getattribute__(p, "_netobj_site")
    return site


class FailFast:
    """A view of a proxy whose calls fail fast (see :func:`netobj.fail_fast`)."""

    __slots__ = ("_after", "_proxy")

    def __init__(self, proxy: Proxy, after: float) -> None:
        self._proxy = proxy
        self._after = after

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        ref = proxy_ref(self._proxy)
        invoke = proxy_site(self._proxy)._invoke
        after = self._after

        def call(*args: Any, **kwargs: Any) -> Var[Any]:
            return invoke(ref, name, args, kwargs, False, after)

        call.__name__ = name
        return call

    def __repr__(self) -> str:
        return f"<fail-fast {self._after}s view of {self._proxy!r}>"
