"""Faults (DESIGN section 5): entities failed for good here (killed, broken), the
watchers of fault states (netobj.fault_stream, netobj.on_fault), kill and break, and the
watch of fail-fast calls."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from netobj import errors
from netobj.link import FaultState
from netobj.port import Port
from netobj.proxy import Proxy, proxy_ref
from netobj.runtime.links import Links
from netobj.runtime.loop import LoopGate
from netobj.runtime.peers import Peer
from netobj.runtime.refs import Mobiles, Refs
from netobj.runtime.state import SiteState
from netobj.var import Var
from netobj.wire import codec
from netobj.wire import netobj_pb2 as pb

log = logging.getLogger("netobj.site")


def _kill_frame(seq: int, home: str, key: str, reason: str) -> bytes:
    data: bytes = pb.Envelope(seq=seq, kill=pb.Kill(home=home, key=key, reason=reason)
                              ).SerializeToString()
    return data


class FaultWatcher:
    """One subscription to an entity's fault state (netobj.fault_stream, netobj.on_fault)."""

    __slots__ = ("ident", "last", "push")

    def __init__(self, ident: tuple[str, str], last: FaultState,
                 push: Callable[[FaultState], None] | None) -> None:
        self.ident = ident
        self.last = last
        self.push = push

    def check(self, failures: Failures) -> None:
        state = failures.entity_fault_state(self.ident)
        if state is not self.last and self.push is not None:
            self.last = state
            self.push(state)


class Failures:
    """``failed``: (home site id, key) -> reason, for entities failed for good here."""

    def __init__(self, state: SiteState, gate: LoopGate, refs: Refs, links: Links,
                 mobiles: Mobiles, fail_var: Callable[[tuple[str, str], str], None],
                 host: object) -> None:
        self._state = state
        self._gate = gate
        self._refs = refs
        self._links = links
        self._mobiles = mobiles
        self._fail_var = fail_var  # netobj.runtime.vars: Vars.fail
        self._host = host  # the site: the owner of its ports
        self.failed: dict[tuple[str, str], str] = {}
        self._watchers: dict[str, set[FaultWatcher]] = {}

    # -- fault states ----------------------------------------------------------------------

    def fault_ident(self, entity: object) -> tuple[str, str] | None:
        """(home site id, key) of a distributed entity known here, or None."""
        if isinstance(entity, Proxy):
            ref = proxy_ref(entity)
            return (ref.site_id, ref.key)
        if isinstance(entity, Port):
            if entity._remote is not None:
                pref: codec.Ref = entity._remote[1]
                return (pref.site_id, pref.key)
            if entity._owner is not None and entity._owner[0] is self._host:
                return (self._state.id, entity._owner[1])
            return None
        if isinstance(entity, Var):
            ext = entity._ext
            if ext is not None and ext.order is not None and ext.order[0]:
                return (ext.order[0], ext.order[1])
            return None
        if getattr(type(entity), "__netobj_protocol__", None) is not None:
            export = self._refs.export_of(entity)
            if export is not None:
                return (self._state.id, export.key)
        return None

    def entity_fault_state(self, ident: tuple[str, str]) -> FaultState:
        """The fault state of the entity ``ident`` as seen here: ``perm_fail`` if it was
        killed, broken or lost, else the state of the link to its home."""
        if ident in self.failed:
            return FaultState.PERM_FAIL
        mobile = self._mobiles.get(ident)
        if mobile is not None and mobile.fault_state() == "perm_fail":
            return FaultState.PERM_FAIL
        if ident[0] == self._state.id:
            return FaultState.OK
        return self._links.link_state(ident[0]) or FaultState.OK

    def watch(self, ident: tuple[str, str], push: Callable[[FaultState], None]) -> FaultWatcher:
        """Call ``push(state)`` (on this site's loop) whenever the entity's state changes."""
        watcher = FaultWatcher(ident, self.entity_fault_state(ident), push)
        self._gate.call(self._add_watcher, watcher)
        return watcher

    def unwatch(self, watcher: FaultWatcher) -> None:
        watcher.push = None
        self._gate.call(self._remove_watcher, watcher)

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

    def notify(self, home: str) -> None:
        """Entities homed at ``home`` may have changed state: tell their watchers."""
        for watcher in list(self._watchers.get(home, ())):
            watcher.check(self)

    def fail_fast_check(self, var: Var[Any], site_id: str, after: float,
                        first: bool = False) -> None:
        """A fail-fast call: TempFailure once its link has been seen down ``after`` seconds
        after the call (or later while it is pending); checked again while it waits."""
        if var.done() or self._state.closed:
            return
        peer = self._links.peers.get(site_id)
        link = peer.link if peer is not None else None
        down = link is not None and (not link.connected or link.state is FaultState.TEMP_FAIL)
        if down and (not first or after <= 0):
            var._reject(errors.TempFailure(
                f"site {link.peer_address if link else site_id[:8]} is unreachable now "
                f"(fail-fast call; link {link.state.value if link else '?'})"))
            return
        assert self._gate.loop is not None
        self._gate.loop.call_later(after if first and after > 0 else max(min(after, 1.0), 0.05),
                                   self.fail_fast_check, var, site_id, after)

    # -- kill and break --------------------------------------------------------------------

    def _ident(self, entity: object) -> tuple[str, str]:
        ident = self.fault_ident(entity)
        if ident is None:
            raise TypeError(f"{type(entity).__name__} is not a distributed entity of this site")
        self._gate.check_running()
        return ident

    def kill(self, entity: object, reason: str) -> None:
        self._gate.call(self._kill, self._ident(entity), reason or "killed (site.kill)")

    def break_(self, entity: object, reason: str) -> None:
        self._gate.call(self.fail_entity, self._ident(entity),
                        reason or "broken here (site.break_)")

    def _kill(self, ident: tuple[str, str], reason: str) -> None:
        home, key = ident
        if home != self._state.id:
            peer = self._links.peer_for(home, self._links.address_of(home))
            peer.try_send("kill", _kill_frame, home, key, reason)
            return
        if ident in self.failed:
            return
        export = self._refs.exports.get(key)
        if export is not None and export.mobile is not None:
            export.mobile.kill(reason)
        self.fail_entity(ident, reason)
        for peer in list(self._links.peers.values()):
            if peer.link.state is not FaultState.PERM_FAIL:
                peer.try_send("kill", _kill_frame, home, key, reason)

    def fail_entity(self, ident: tuple[str, str], reason: str) -> None:
        """The local effects of the permanent failure of entity ``ident``."""
        if ident in self.failed:
            return
        self.failed[ident] = reason
        self._fail_var(ident, reason)
        mobile = self._mobiles.get(ident)
        if mobile is not None:
            mobile.fail(reason)
        self.notify(ident[0])

    def on_kill(self, peer: Peer, msg: pb.Kill) -> None:
        reason = msg.reason or "killed"
        if msg.home == self._state.id:
            self._kill((self._state.id, msg.key), reason)  # a request: the home applies it
        elif msg.home == peer.peer_id:
            self.fail_entity((msg.home, msg.key), reason)  # the home says it is killed
        else:
            log.warning("ignoring a kill of another site's entity from %s", peer.peer_address)
