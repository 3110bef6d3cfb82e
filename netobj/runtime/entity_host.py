"""What cached and replicated objects (netobj.mobile) get from their site: the runtime's
side of the public ``netobj.mobile.host.EntityHost`` protocol (matched structurally, so the
runtime does not import netobj.mobile)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from netobj.link import FaultState
from netobj.proxy import ProxyHost
from netobj.runtime.executor import Executor, Outcome
from netobj.runtime.links import Links
from netobj.runtime.loop import LoopGate
from netobj.runtime.refs import Refs
from netobj.runtime.state import SiteState
from netobj.var import Var
from netobj.wire import netobj_pb2 as pb

log = logging.getLogger("netobj.site")


def _mobile_frame(seq: int, msg: pb.Mobile) -> bytes:
    data: bytes = pb.Envelope(seq=seq, mobile=msg).SerializeToString()
    return data


class SiteEntityHost:
    """The EntityHost of one site, built from its runtime parts."""

    def __init__(self, state: SiteState, gate: LoopGate, refs: Refs, links: Links,
                 executor: Executor, proxy_host: ProxyHost,
                 invoke: Callable[..., Var[Any]],
                 send_outcomes: Callable[[Any, list[Outcome]], None],
                 notify_faults: Callable[[str], None]) -> None:
        self._state = state
        self._gate = gate
        self._refs = refs
        self._links = links
        self._executor = executor
        self.id = state.id
        self.proxy_host = proxy_host  # what the entities' proxies call through: the site
        self.invoke = invoke
        self.send_outcomes = send_outcomes
        self.notify_faults = notify_faults
        self.spawn = executor.spawn
        self.run_blocking = executor.run_blocking
        self.address_of = links.address_of
        self.remember_address = links.remember_address
        self.encode = refs.encode
        self.decode = refs.decode
        self.call_on_loop = gate.call

    @property
    def closing(self) -> bool:
        return self._state.closing

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        assert self._gate.loop is not None
        self._gate.loop.call_later(delay, fn)

    def send(self, site_id: str, address: str, msg: pb.Mobile) -> bool:
        """Send a cached or replicated object's message to ``site_id``, in order."""
        if self._state.closed:
            return False
        links = self._links
        if site_id not in links.peers and not address:
            log.warning("no address known for site %s", site_id[:8])
            return False
        peer = links.peer_for(site_id, address)
        if peer.link.state is FaultState.PERM_FAIL:
            return False
        kind = "mobile." + pb.Mobile.Op.Name(msg.op).lower()
        return peer.try_send(kind, _mobile_frame, msg)

