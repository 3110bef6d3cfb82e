"""Distributed dataflow variables (see netobj/protocols/variable.py): a Var of ours that
travels is exported (this site owns it: :class:`~netobj.protocols.variable.VarOwner`), one
of another site is imported (:class:`~netobj.protocols.variable.VarHolder`), and the
register / bind / redirect / need messages between them."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

from netobj import errors
from netobj.link import FaultState
from netobj.protocols.variable import VarHolder, VarOwner
from netobj.runtime.links import Links
from netobj.runtime.loop import LoopGate
from netobj.runtime.peers import Peer
from netobj.runtime.refs import Refs
from netobj.runtime.state import SiteState
from netobj.unify import unify
from netobj.var import _BOUND, _FAILED, _UNBOUND, Var, VarHost, _make_needed, deref
from netobj.wire import codec, frames, tags
from netobj.wire import netobj_pb2 as pb

log = logging.getLogger("netobj.site")


def _assign(var: Var[Any], value: object, failed: bool) -> None:
    """Apply an owner's decision to a Var here (owner: a winning request; holder: a redirect)."""
    if failed:
        assert isinstance(value, BaseException)
        var._settle(_FAILED, value)
        return
    if isinstance(value, Var):
        rep = deref(value)
        if isinstance(rep, Var):
            if rep is var:
                return
            if rep._state == _FAILED:
                var._settle(_FAILED, rep._value)
            else:
                var._link(rep)
            return
        value = rep
    var._settle(_BOUND, value)


def _forward_to(ack: Var[None]) -> Callable[[Var[Any]], None]:
    def forward(v: Var[Any]) -> None:
        if v.failed():
            ack._reject(v.exception())  # type: ignore[arg-type]
        else:
            ack._resolve(None)

    return forward


class Vars:
    """The site's variable tables and messages. ``host``: what a distributed Var calls back
    (the site, :class:`~netobj.var.VarHost`)."""

    def __init__(self, state: SiteState, gate: LoopGate, refs: Refs, links: Links,
                 host: VarHost) -> None:
        self._state = state
        self._gate = gate
        self._refs = refs
        self._links = links
        self._host = host
        self.exports: dict[str, Var[Any]] = {}
        self.imports: weakref.WeakValueDictionary[tuple[str, str], Var[Any]] = (
            weakref.WeakValueDictionary())
        # Vars that were determined when first sent: identity only, no protocol (weak).
        self._seen: weakref.WeakValueDictionary[str, Var[Any]] = weakref.WeakValueDictionary()
        self.owner = VarOwner()
        self.holder: VarHolder[Var[None]] = VarHolder()

    # -- references ------------------------------------------------------------------------

    def var_ref(self, var: Var[Any]) -> codec.Ref | codec.Tagged:
        state = self._state
        readonly = var._ext is not None and var._ext.readonly
        rep = deref(var)
        if not isinstance(rep, Var) or rep._state == _FAILED:
            # Determined: it travels with its value, and keeps its identity (owner, key).
            ident = var._ext.order if var._ext is not None else None
            if ident is None or not ident[0]:
                key = state.new_id()
                ident = (state.id, key)
                vext = var._ext_()
                vext.order = ident
                vext.address = state.address
                self._seen[key] = var
            if isinstance(rep, Var):
                return codec.Tagged(tags.FAILED, [rep._value, *ident])
            return codec.Tagged(tags.BOUND_VAR, [rep, *ident])
        ext = rep._ext_()
        if ext.host is None:  # first sent: this site owns it from now on
            if not state.address:
                raise errors.SiteClosedError("the site is not started")
            with state.lock:
                if ext.host is None:
                    key = state.new_id()
                    ext.order = (state.id, key)
                    ext.address = state.address
                    ext.owned = True
                    self.exports[key] = rep
                    self.owner.on_export(key)
                    ext.host = self._host
        assert ext.order is not None
        owner, key = ext.order
        if readonly:
            protocol = "readonly"
        elif not ext.needed and (ext.need is not None or ext.remote_need):
            protocol = "byneed"
        else:
            protocol = ""
        return codec.Ref(tags.KIND_VAR, protocol, owner, ext.address, key)

    def import_var(self, ref: codec.Ref) -> Var[Any]:
        if ref.protocol not in ("", "byneed", "readonly"):
            raise errors.ProtocolError(f"unsupported variable protocol {ref.protocol!r}")
        if ref.site_id == self._state.id:
            var = self.exports.get(ref.key)
            if var is None:
                raise errors.UnknownEntityError("no variable with that key at this site")
        else:
            ident = (ref.site_id, ref.key)
            var = self.imports.get(ident)
            if var is None:
                var = Var()
                ext = var._ext_()
                ext.order = ident
                ext.address = ref.address
                ext.remote_need = ref.protocol == "byneed"
                ext.host = self._host
                self.imports[ident] = var
                peer = self._links.peer_for(ref.site_id, ref.address)
                peer.try_send("var_register", frames.var_register, ref.key)
        return var.read_only() if ref.protocol == "readonly" else var

    def determined_var(self, content: Any, failed: bool) -> Var[Any]:
        """A Var that arrives determined: the same Var as before when known here."""
        if not (isinstance(content, list | tuple) and len(content) == 3
                and isinstance(content[1], str) and isinstance(content[2], str)
                and (not failed or isinstance(content[0], BaseException))):
            raise errors.ProtocolError("malformed determined variable on the wire")
        value, owner, key = content
        me = self._state.id
        var: Var[Any] | None
        if owner == me:
            var = self.exports.get(key) or self._seen.get(key)
        else:
            var = self.imports.get((owner, key))
        if var is None:
            var = Var()
            var._ext_().order = (owner, key)
            if owner != me:
                self.imports[(owner, key)] = var
        if var._state == _UNBOUND and owner != me:  # only the owner decides its own
            _assign(var, value, failed)
        return var

    # -- VarHost (netobj.var), through the site ------------------------------------------

    def var_changed(self, var: Var[Any]) -> None:
        ext = var._ext
        if ext is None or not ext.owned or ext.host is not self._host:
            return
        self._gate.call(self._broadcast, var)

    def _redirect_payload(self, var: Var[Any]) -> tuple[bytes, bool]:
        if var._state == _FAILED:
            return codec.encode_exception(var._value), True
        try:
            return self._refs.encode(var._value, "value"), False
        except errors.MarshalError as exc:
            return codec.encode_exception(exc), True

    def _broadcast(self, var: Var[Any]) -> None:
        if self._state.closed or var._state == _UNBOUND:
            return
        assert var._ext is not None and var._ext.order is not None
        key = var._ext.order[1]
        sends = self.owner.on_changed(key)
        if not sends:
            return
        payload, failed = self._redirect_payload(var)
        peers = self._links.peers
        for send in sends:
            peer = peers.get(send.site)
            if peer is not None:
                peer.try_send("var_redirect", frames.var_redirect, key, payload, failed)

    def var_remote_bind(self, var: Var[Any], value: object, failed: bool) -> Var[None]:
        ack: Var[None] = Var()
        if not self._gate.call(self._remote_bind, var, value, failed, ack):
            ack._reject(errors.SiteClosedError("the site is closed"))
        return ack

    def _remote_bind(self, var: Var[Any], value: object, failed: bool,
                     ack: Var[None]) -> None:
        ext = var._ext
        assert ext is not None and ext.order is not None
        owner, key = ext.order
        if self._state.closed:
            ack._reject(errors.SiteClosedError("the site is closed"))
            return
        peer = self._links.peer_for(owner, ext.address)
        link = peer.link
        if link.state is FaultState.PERM_FAIL:
            ack._reject(errors.PermFailure(f"the variable's owner failed: {link.perm_reason}"))
            return
        try:
            if failed:
                assert isinstance(value, BaseException)
                payload = codec.encode_exception(value)
            else:
                payload = self._refs.encode(value, "value")
        except errors.NetobjError as exc:
            ack._reject(exc)
            return
        self.holder.on_bind(owner, key, (var, value), ack, failed)
        if not peer.try_send("var_bind", frames.var_bind, key, payload, failed):
            for pending in self.holder.on_owner_failed(owner):
                pending.ack._reject(errors.PermFailure("the variable's owner failed"))

    def var_need(self, var: Var[Any]) -> None:
        self._gate.call(self._need, var)

    def _need(self, var: Var[Any]) -> None:
        ext = var._ext
        if ext is None or ext.order is None or self._state.closed:
            return
        owner, key = ext.order
        self._links.peer_for(owner, ext.address).try_send("var_need", frames.var_need, key)

    # -- messages in -----------------------------------------------------------------------

    def on_register(self, peer: Peer, msg: pb.VarRegister) -> None:
        var = self.exports.get(msg.key)
        if var is None:
            log.debug("register for unknown variable from %s", peer.peer_address)
            return
        if self.owner.on_register(msg.key, peer.peer_id, var._state != _UNBOUND):
            payload, failed = self._redirect_payload(var)
            peer.try_send("var_redirect", frames.var_redirect, msg.key, payload, failed)

    def on_bind(self, peer: Peer, msg: pb.VarBind) -> None:
        var = self.exports.get(msg.key)
        if var is None:
            log.debug("bind for unknown variable from %s", peer.peer_address)
            return
        if not self.owner.on_bind_request(msg.key, var._state == _UNBOUND):
            return  # lost: the requester has, or will get, the winner's redirect
        try:
            if msg.failed:
                _assign(var, codec.decode_exception(msg.value), True)
            else:
                _assign(var, self._refs.decoder.decode(msg.value), False)
        except errors.NetobjError as exc:
            log.warning("bad bind request from %s: %s", peer.peer_address, exc)

    def on_redirect(self, peer: Peer, msg: pb.VarRedirect) -> None:
        owner, key = peer.peer_id, msg.key
        var = self.imports.get((owner, key))
        try:
            value: object = (codec.decode_exception(msg.value) if msg.failed
                             else self._refs.decoder.decode(msg.value))
        except errors.NetobjError as exc:
            value, msg_failed = exc, True
        else:
            msg_failed = msg.failed
        if var is not None:
            _assign(var, value, msg_failed)
        for pending in self.holder.on_redirect(owner, key):
            target: Var[Any]
            wanted: object
            target, wanted = pending.value  # type: ignore[misc]
            if pending.failed:
                if target.failed():
                    pending.ack._resolve(None)
                else:
                    pending.ack._reject(errors.UnificationError(
                        f"cannot fail {target!r}: it was determined first"))
                continue
            try:
                again = unify(target, wanted)
            except errors.UnificationError as exc:
                pending.ack._reject(exc)
                continue
            if again is None:
                pending.ack._resolve(None)
            else:
                again.add_done_callback(_forward_to(pending.ack))

    def on_need(self, peer: Peer, msg: pb.VarNeed) -> None:
        var = self.exports.get(msg.key)
        if var is not None:
            _make_needed(var)

    # -- failures --------------------------------------------------------------------------

    def fail(self, ident: tuple[str, str], reason: str) -> None:
        """The Var ``ident`` (if it is one) failed for good here (killed, broken)."""
        home, key = ident
        var = self.exports.get(key) if home == self._state.id else self.imports.get(ident)
        if var is not None and var._state == _UNBOUND:
            var._reject(errors.PermFailure(reason))

    def on_peer_failed(self, peer: Peer, reason: str) -> None:
        owner = peer.peer_id
        for (site_id, _), var in list(self.imports.items()):
            if site_id == owner and var._state == _UNBOUND:
                var._reject(errors.PermFailure(f"the variable's owner failed: {reason}"))
        for pending in self.holder.on_owner_failed(owner):
            pending.ack._reject(errors.PermFailure(f"the variable's owner failed: {reason}"))
        self.owner.on_site_failed(owner)
