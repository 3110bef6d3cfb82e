"""What a cached or replicated object's entity needs from its site: the public
:class:`EntityHost` protocol (the runtime implements it: netobj.runtime.entity_host)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from netobj.proxy import ProxyHost
from netobj.runtime.executor import Outcome
from netobj.var import Var
from netobj.wire import codec
from netobj.wire import netobj_pb2 as pb


class EntityHost(Protocol):
    """The site, as its cached and replicated objects see it. No member is private."""

    #: this site's id
    id: str
    #: what the entities' proxies call through (the site itself)
    proxy_host: ProxyHost

    @property
    def closing(self) -> bool:
        """The site is closing: cached state held here goes back home."""
        ...

    def call_on_loop(self, fn: Callable[..., object], *args: Any) -> bool:
        """Run ``fn(*args)`` on the site's loop (now, or soon from another thread); False if
        the site is not running."""
        ...
    def call_later(self, delay: float, fn: Callable[[], None]) -> None: ...
    def send(self, site_id: str, address: str, msg: pb.Mobile) -> bool:
        """Send ``msg`` to ``site_id`` (in order with everything else sent to it)."""
        ...
    def encode(self, value: object, root: str) -> bytes: ...
    def decode(self, data: bytes) -> object: ...
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...
    async def run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any: ...
    def send_outcomes(self, peer: Any, outcomes: list[Outcome]) -> None:
        """Reply to calls that arrived from ``peer`` (netobj.runtime.calls_in)."""
        ...
    def address_of(self, site_id: str) -> str: ...
    def remember_address(self, site_id: str, address: str) -> None: ...
    def notify_faults(self, home: str) -> None:
        """The fault state of entities homed at ``home`` may have changed."""
        ...
    def invoke(self, ref: codec.Ref, method: str, args: tuple[Any, ...],
               kwargs: dict[str, Any], oneway: bool) -> Var[Any]:
        """A remote call of the object's home (what a proxy does)."""
        ...
