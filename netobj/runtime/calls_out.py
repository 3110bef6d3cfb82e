"""The caller's side of invocation (as Pyro5's client, Cap'n Proto's questions): a call
out is queued in its peer's outbox, calls queued in one loop iteration leave together
(consecutive calls to one entity as one CallBatch), and replies settle their Vars."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final

from netobj import errors
from netobj.link import FaultState
from netobj.runtime.links import Links
from netobj.runtime.loop import LoopGate
from netobj.runtime.peers import Outgoing, Peer
from netobj.runtime.state import SiteState
from netobj.var import Var, resolve_many
from netobj.wire import batches, codec, frames
from netobj.wire import netobj_pb2 as pb

log = logging.getLogger("netobj.site")
_get_ident = threading.get_ident
_SCALARS = codec.SCALARS

#: Most calls (outcomes) in one CallBatch (ReplyBatch); a batch is also split when its
#: encoding would pass codec.MAX_VALUE_BYTES.
MAX_BATCH_ITEMS: Final = 1024
#: The first batch of a burst is small, so the callee can start on it at once; each next
#: one doubles, up to MAX_BATCH_ITEMS, so that a long burst costs few frames.
FIRST_BATCH_ITEMS: Final = 64

#: A fail-fast call's watch: (var, site id, after seconds, first check).
FailFast = Callable[[Var[Any], str, float, bool], None]


class Outbox:
    """Sends a peer's queued calls in order, batched (``Peer.flush`` is :meth:`flush_all`)."""

    def __init__(self, gate: LoopGate) -> None:
        self._gate = gate
        self.calls_batched = 0

    def flush_all(self, peer: Peer) -> None:
        """Keep per-link FIFO: queued calls go before any other message on the link."""
        if peer.outbox:
            self.flush(peer, True)

    def flush(self, peer: Peer, everything: bool = False,
              limit: int = FIRST_BATCH_ITEMS) -> None:
        """Send queued calls in order: consecutive calls to one entity as one CallBatch.

        About ``limit`` calls per loop iteration (unless ``everything``): the writer can put
        the first batch on the wire, and the callee start on it, while later ones are still
        encoded; the limit doubles with each iteration of a long burst.
        """
        box = peer.outbox
        if not box:
            return
        if everything:
            limit = MAX_BATCH_ITEMS
        n = len(box)
        i = 0
        peer.flushing = True
        try:
            while i < n:
                key, oneway = box[i][1], box[i][5]
                j = i + 1
                if not oneway:
                    while j < n and j - i < limit and box[j][1] == key and not box[j][5]:
                        j += 1
                self._send_group(peer, box[i:j], more=j < n)
                i = j
                if not everything and i >= limit and i < n:
                    del box[:i]
                    assert self._gate.loop is not None
                    self._gate.loop.call_soon(self.flush, peer, False,
                                              min(2 * limit, MAX_BATCH_ITEMS))
                    return
        finally:
            peer.flushing = False
        del box[:n]
        if box:  # calls made by Var callbacks that ran while the ones above were sent
            assert self._gate.loop is not None
            self._gate.loop.call_soon(self.flush, peer)

    def _send_group(self, peer: Peer, group: list[Outgoing], more: bool = False) -> None:
        var, key, method, args, kwargs, oneway = group[0]
        try:
            if len(group) == 1:
                data = codec.dump(codec.call_args_tree(args, kwargs), "arguments")
            else:
                arity = len(args)
                for out in group:
                    if out[2] != method or out[4] is not None or len(out[3]) != arity:
                        arity = -1
                        break
                if arity >= 0:  # uniform: one method, same arity, no kwargs
                    data = codec.dump(batches.uniform_calls([out[3] for out in group]),
                                      "call batch")
                    self._send_batch(peer, group, data, method, arity, more)
                    return
                data = codec.dump(batches.mixed_calls([(out[2], out[3], out[4])
                                                       for out in group]), "call batch")
        except errors.MarshalError as exc:
            if len(group) == 1:
                var._reject(exc)
            else:  # too big together: halve until each part fits (or a single call fails)
                half = len(group) // 2
                self._send_group(peer, group[:half], more=True)
                self._send_group(peer, group[half:], more=more)
            return
        if len(group) > 1:
            self._send_batch(peer, group, data, "", 0, more)
            return
        caller = peer.caller
        call_id = caller.call(None if oneway else var, key, method, data, oneway).call_id
        try:
            peer.send("call", frames.call, call_id, key, method, data, oneway, more=more)
        except errors.EntityFailure as exc:
            caller.on_reply(call_id)
            var._reject(exc)

    def _send_batch(self, peer: Peer, group: list[Outgoing], data: bytes, method: str,
                    arity: int, more: bool = False) -> None:
        caller = peer.caller
        first_id = caller.call_many([out[0] for out in group])
        try:
            peer.send("call_batch", frames.call_batch, group[0][1], first_id, data, len(group),
                      method, arity, more=more)
        except errors.EntityFailure as exc:
            caller.on_replies(list(range(first_id, first_id + len(group))))
            for out in group:
                out[0]._reject(exc)
            return
        self.calls_batched += len(group)


class CallsOut:
    """Calls out (``invoke``, what proxies call) and their replies in."""

    def __init__(self, state: SiteState, gate: LoopGate, links: Links, outbox: Outbox,
                 ref_hook: codec.RefHook, decoder: codec.Decoder, lenient: codec.Decoder,
                 failed: dict[tuple[str, str], str], fail_fast: FailFast) -> None:
        self._decoder = decoder
        self._lenient_decoder = lenient
        self._state = state
        self._gate = gate
        self._links = links
        self._peers = links.peers
        self._outbox = outbox
        self._ref_hook = ref_hook
        self._failed = failed  # entities failed for good here (netobj.runtime.failures)
        self._fail_fast = fail_fast
        # The outboxes, by peer site id, while their link may still send: invoke's fast
        # path appends to a non-empty one (its flush is already scheduled).
        self._forming: dict[str, list[Outgoing]] = {}

    def invoke(
        self, ref: codec.Ref, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
        oneway: bool, fail_after: float | None = None,
    ) -> Var[Any]:
        var: Var[Any] = Var()
        if self._failed:
            failure = self._failed.get((ref.site_id, ref.key))
            if failure is not None:
                var._reject(errors.PermFailure(failure))
                return var
        gate = self._gate
        on_loop = _get_ident() == gate.thread
        if fail_after is not None:
            peer = self._peers.get(ref.site_id)
            link = peer.link if peer is not None else None
            if fail_after <= 0 and link is not None and (
                    not link.connected or link.state is FaultState.TEMP_FAIL):
                var._reject(errors.TempFailure(
                    f"site {link.peer_address} is unreachable now (fail-fast call; link "
                    f"{link.state.value}, {'connected' if link.connected else 'no connection'})"))
                return var  # not sent: it will not run later either
            gate.call(self._fail_fast, var, ref.site_id, fail_after, True)
        elif on_loop and not kwargs and not oneway:
            # Fast path: data arguments, on the loop, a batch already forming for that site.
            box = self._forming.get(ref.site_id)
            if box:
                for a in args:
                    if type(a) not in _SCALARS:
                        break
                else:
                    box.append((var, ref.key, method, args, None, False))
                    return var
        if gate.loop is None or self._state.closed:
            gate.check_running()
        wire_args, wire_kwargs = codec.args_to_wire(args, kwargs, self._ref_hook)
        if on_loop:
            self._send_call(var, ref, method, wire_args, wire_kwargs, oneway)
        elif not gate.post(self._send_call, var, ref, method, wire_args, wire_kwargs, oneway):
            raise errors.SiteClosedError("the site is closed")
        if oneway:
            var._resolve(None)
        return var

    def _send_call(
        self, var: Var[Any], ref: codec.Ref, method: str, args: Sequence[Any],
        kwargs: dict[str, Any] | None, oneway: bool,
    ) -> None:
        """Queue a call; calls queued in one loop iteration leave together (Outbox.flush)."""
        if self._state.closed:
            var._reject(errors.SiteClosedError("the local site was closed"))
            return
        peer = self._peers.get(ref.site_id)
        if peer is None:
            peer = self._links.peer_for(ref.site_id, ref.address)
        link = peer.link
        if link.state is FaultState.PERM_FAIL:
            var._reject(errors.PermFailure(
                f"site {link.peer_address} failed permanently: {link.perm_reason}"))
            return
        box = peer.outbox
        if not box:
            self._forming[peer.peer_id] = box
            assert self._gate.loop is not None
            self._gate.loop.call_soon(self._outbox.flush, peer)
        box.append((var, ref.key, method, args, kwargs, oneway))

    # -- replies in ----------------------------------------------------------------------

    def on_reply(self, peer: Peer, reply: pb.Reply) -> None:
        var = peer.caller.on_reply(reply.call_id)
        if var is None:
            log.debug("reply for unknown call %d from %s", reply.call_id, peer.peer_address)
            return
        try:
            if reply.WhichOneof("outcome") == "value":
                var._resolve(self._decoder.decode(reply.value))
            else:
                var._reject(codec.decode_exception(reply.error))
        except errors.NetobjError as exc:
            var._reject(exc)

    def on_reply_batch(self, peer: Peer, batch: pb.ReplyBatch) -> None:
        caller = peer.caller
        uniform = not batch.outcomes
        lenient = False
        try:
            items = self._decoder.decode(batch.values if uniform else batch.outcomes)
        except errors.NetobjError:
            lenient = True  # isolate the outcomes that do not decode
            try:
                items = self._lenient_decoder.decode(
                    batch.values if uniform else batch.outcomes)
            except errors.NetobjError as exc:
                log.warning("dropping malformed reply batch from %s: %s",
                            peer.peer_address, exc)
                return
        if type(items) is not list:
            log.warning("dropping malformed reply batch from %s", peer.peer_address)
            return
        if uniform:
            first = batch.first_call_id
            tokens = caller.on_replies(list(range(first, first + len(items))))
            if lenient:
                for var, value in zip(tokens, items, strict=True):
                    bad = codec.find_unresolved(value)
                    if var is not None and bad is not None:
                        var._reject(bad)
            resolve_many(zip(tokens, items, strict=True))
            return
        parsed = batches.parse_outcomes(items)
        if parsed is None:
            log.warning("dropping malformed reply batch from %s", peer.peer_address)
            return
        ids, oks, values = parsed
        tokens = caller.on_replies(ids)
        for var, ok, value in zip(tokens, oks, values, strict=True):
            if var is None:
                continue
            if lenient:
                bad = codec.find_unresolved(value)
                if bad is not None:
                    var._reject(bad)
                    continue
            if ok is True:
                var._resolve(value)
            elif isinstance(value, BaseException):
                var._reject(value)
            else:
                var._reject(errors.ProtocolError("malformed outcome"))

    # -- failures ------------------------------------------------------------------------

    def on_peer_failed(self, peer: Peer, reason: str) -> None:
        self._forming.pop(peer.peer_id, None)
        waiting = list(peer.outbox)
        peer.outbox.clear()
        for out in waiting:
            out[0]._reject(errors.PermFailure(reason))
        for c in peer.caller.on_perm_fail(reason):
            c.token._reject(errors.PermFailure(reason))

    def close(self) -> None:
        """The site closed: calls not sent, and calls waiting for replies, fail."""
        closing = errors.SiteClosedError("the local site was closed")
        for peer in self._peers.values():
            waiting = list(peer.outbox)
            peer.outbox.clear()
            for out in waiting:
                out[0]._reject(errors.SiteClosedError("the local site was closed"))
        self._forming.clear()
        for peer in self._peers.values():
            for c in peer.caller.on_perm_fail(str(closing)):
                c.token._reject(errors.SiteClosedError("the local site was closed"))
