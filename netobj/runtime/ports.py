"""Ports (netobj.port) across sites: a port of ours that travels is exported; one of
another site is a proxy whose ``send`` becomes a sequenced ``port_send`` message."""

from __future__ import annotations

import contextlib
import logging
import weakref
from typing import Any

from netobj import errors
from netobj.link import FaultState
from netobj.port import Port
from netobj.runtime.links import Links
from netobj.runtime.loop import LoopGate
from netobj.runtime.peers import Peer
from netobj.runtime.refs import Refs
from netobj.runtime.state import SiteState
from netobj.wire import codec, frames, tags
from netobj.wire import netobj_pb2 as pb

log = logging.getLogger("netobj.site")


class Ports:
    """The site's port tables. ``host``: what a port proxy calls back (the site)."""

    def __init__(self, state: SiteState, gate: LoopGate, refs: Refs, links: Links,
                 host: Any, failed: dict[tuple[str, str], str]) -> None:
        self._state = state
        self._gate = gate
        self._refs = refs
        self._links = links
        self._host = host
        self._failed = failed  # entities failed for good here (netobj.runtime.failures)
        self.exports: dict[str, Port] = {}
        self.imports: weakref.WeakValueDictionary[tuple[str, str], Port] = (
            weakref.WeakValueDictionary())

    def port_ref(self, port: Port) -> codec.Ref:
        if port._remote is not None:
            ref: codec.Ref = port._remote[1]
            return ref
        state = self._state
        with state.lock:
            if port._owner is None:
                if not state.address:
                    raise errors.SiteClosedError("the site is not started")
                key = state.new_id()
                self.exports[key] = port
                port._owner = (self._host, key)
        host, key = port._owner
        return codec.Ref(tags.KIND_PORT, "", host.id, host.address, key)

    def import_port(self, ref: codec.Ref) -> Port:
        if ref.site_id == self._state.id:
            port = self.exports.get(ref.key)
            if port is None:
                raise errors.UnknownEntityError("no port with that key at this site")
            return port
        ident = (ref.site_id, ref.key)
        port = self.imports.get(ident)
        if port is None:
            port = Port()
            port._remote = (self._host, ref)
            self.imports[ident] = port
        return port

    def port_send(self, port: Port, message: object) -> None:
        assert port._remote is not None
        ref: codec.Ref = port._remote[1]
        self._gate.check_running()
        payload = self._refs.encode(message, "message")  # MarshalError here, in the sender
        if not self._gate.call(self._send, ref, payload):
            raise errors.SiteClosedError("the site is closed")

    def _send(self, ref: codec.Ref, payload: bytes) -> None:
        if self._state.closed or (ref.site_id, ref.key) in self._failed:
            return  # a failed port: the message is lost, as Oz does
        peer = self._links.peer_for(ref.site_id, ref.address)
        if peer.link.state is FaultState.PERM_FAIL:
            log.debug("dropping a message to a port of failed site %s", ref.address)
            return
        peer.try_send("port_send", frames.port_send, ref.key, payload)

    def on_port_send(self, peer: Peer, msg: pb.PortSend) -> None:
        port = self.exports.get(msg.key)
        if port is None or (self._state.id, msg.key) in self._failed:
            log.debug("message for unknown port from %s", peer.peer_address)
            return
        try:
            message = self._refs.decoder.decode(msg.message)
        except errors.NetobjError as exc:
            log.warning("dropping undecodable port message from %s: %s", peer.peer_address, exc)
            return
        with contextlib.suppress(errors.SiteClosedError):  # closed port: dropped
            port.send(message)
