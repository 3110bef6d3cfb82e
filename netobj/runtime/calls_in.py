"""The callee's side of invocation (as Pyro5's server, Cap'n Proto's answers): calls in are
checked, scheduled by the object's home protocol machine, run by the executor, and their
outcomes go back as one Reply or as ReplyBatches."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, Final

from netobj import errors
from netobj.protocols.scheduling import QueueFull
from netobj.runtime.calls_out import MAX_BATCH_ITEMS
from netobj.runtime.executor import Call, Executor, Invocation, Outcome, failure
from netobj.runtime.peers import Peer
from netobj.runtime.refs import Export, Refs
from netobj.runtime.state import SiteState
from netobj.wire import batches, codec, frames
from netobj.wire import netobj_pb2 as pb

log = logging.getLogger("netobj.site")

#: Key of the built-in site service (too short to collide with a 22-character entity key).
SERVICE_KEY: Final = "site"

_UNKNOWN = "no entity with that key at this site (unknown, revoked or collected)"


def _split_args(a: object) -> tuple[list[Any], dict[str, Any]] | None:
    if type(a) is list:
        if len(a) == 1 and type(a[0]) is list:
            return a[0], {}
        if len(a) == 2 and type(a[0]) is list and type(a[1]) is dict:
            return a[0], a[1]
    return None


class CallsIn:
    """Calls in, and the outcomes back to their callers."""

    def __init__(self, state: SiteState, refs: Refs, executor: Executor,
                 take_local: Callable[[str], object],
                 failed: dict[tuple[str, str], str]) -> None:
        self._state = state
        self._exports = refs.exports
        self._decoder = refs.decoder
        self._lenient_decoder = refs.lenient_decoder
        self._ref_hook = refs.ref_hook
        self._executor = executor
        self._take_local = take_local  # the site service's take (netobj.runtime.tickets)
        self._failed = failed  # entities failed for good here (netobj.runtime.failures)
        self._is_async_cache: dict[tuple[type, str], bool] = {}

    def _reply_error(self, peer: Peer, call_id: int, exc: BaseException) -> None:
        self.send_outcomes(peer, [(call_id, False, False, exc)])

    def _resolve_method(self, export: Export,
                        method: str) -> tuple[Callable[..., Any], bool] | BaseException:
        """The bound method to run for ``method`` and whether it is ``async def``."""
        obj = export.obj
        if method.startswith("_"):
            return AttributeError(
                f"refused: {method!r} is private (names starting with '_' cannot be called "
                "remotely)")
        fn = getattr(obj, method, None)
        if fn is None or not callable(fn):
            return AttributeError(f"{type(obj).__name__!r} object has no method {method!r}")
        cache_key = (type(obj), method)
        is_async = self._is_async_cache.get(cache_key)
        if is_async is None:
            is_async = inspect.iscoroutinefunction(fn)
            self._is_async_cache[cache_key] = is_async
        return fn, is_async

    # -- calls in ------------------------------------------------------------------------

    def on_call(self, peer: Peer, call: pb.Call) -> None:
        call_id, oneway = call.call_id, call.oneway
        export = self._exports.get(call.key)
        if export is None:
            if call.key == SERVICE_KEY:
                self._on_service_call(peer, call)
            elif not oneway:
                self._reply_error(peer, call_id, errors.UnknownEntityError(_UNKNOWN))
            return
        resolved = self._resolve_method(export, call.method)
        error: BaseException | None = None
        if isinstance(resolved, BaseException):
            error = resolved
        else:
            try:
                split = _split_args(self._decoder.decode(call.args))
            except errors.NetobjError as exc:
                error = exc
            else:
                if split is None:
                    error = errors.ProtocolError("malformed call arguments")
        if error is not None:
            if not oneway:
                self._reply_error(peer, call_id, error)
            return
        fn, is_async = resolved  # type: ignore[misc]
        args, kwargs = split  # type: ignore[misc]
        self._schedule(export, Invocation(peer, [(call_id, call.method, fn, args, kwargs,
                                                  oneway)]), is_async)

    def on_call_batch(self, peer: Peer, batch: pb.CallBatch) -> None:
        first_id, count = batch.first_call_id, batch.count
        if not 0 < count <= MAX_BATCH_ITEMS:
            log.warning("dropping call batch with %d calls from %s", count, peer.peer_address)
            return
        export = self._exports.get(batch.key)
        problem: BaseException | None = None
        lenient = False
        items: object = None
        if export is None:
            problem = errors.UnknownEntityError(_UNKNOWN)
        elif batch.method and not batch.calls:
            items = []  # uniform calls without arguments
        else:
            try:
                items = self._decoder.decode(batch.calls)
            except errors.NetobjError:
                lenient = True  # isolate the calls whose arguments do not decode
                try:
                    items = self._lenient_decoder.decode(batch.calls)
                except errors.NetobjError as exc:
                    problem = exc
            if problem is None and type(items) is not list:
                problem = errors.ProtocolError("malformed call batch")
        if problem is None and export is not None and batch.method:
            self._on_uniform_batch(peer, export, batch, items, lenient)  # type: ignore[arg-type]
            return
        if problem is not None or export is None:
            self.send_outcomes(peer, [(first_id + k, False, False, problem)
                                      for k in range(count)])
            return
        assert isinstance(items, list)
        self._on_mixed_batch(peer, export, first_id, count, items, lenient)

    def _on_mixed_batch(self, peer: Peer, export: Export, first_id: int, count: int,
                        items: list[Any], lenient: bool) -> None:
        methods: dict[str, tuple[Callable[..., Any], bool] | BaseException] = {}
        refused: list[Outcome] = []
        run: list[Call] = []
        parsed = batches.parse_mixed_calls(items, count)
        for call_id, (method, args, kwargs) in enumerate(parsed, first_id):
            resolved = methods.get(method)
            if resolved is None:
                resolved = methods[method] = self._resolve_method(export, method)
            if isinstance(resolved, BaseException):
                refused.append((call_id, False, False, resolved))
                continue
            if lenient:
                bad = codec.find_unresolved(args) or codec.find_unresolved(kwargs)
                if bad is not None:
                    refused.append((call_id, False, False, bad))
                    continue
            fn, is_async = resolved
            call = (call_id, method, fn, args, kwargs, False)
            if is_async:
                if run:
                    self._schedule(export, Invocation(peer, run), False)
                    run = []
                self._schedule(export, Invocation(peer, [call]), True)
            else:
                run.append(call)
        if run:
            self._schedule(export, Invocation(peer, run), False)
        # calls the batch announced but did not carry well-formed
        malformed = errors.ProtocolError("malformed call batch")
        refused.extend((k, False, False, malformed)
                       for k in range(first_id + len(parsed), first_id + count))
        if refused:
            self.send_outcomes(peer, refused)

    def _on_uniform_batch(self, peer: Peer, export: Export, batch: pb.CallBatch,
                          items: list[Any], lenient: bool) -> None:
        """``count`` calls of ``method``, each with ``arity`` positional arguments."""
        first_id, count, method, arity = (batch.first_call_id, batch.count, batch.method,
                                          batch.arity)
        resolved = self._resolve_method(export, method)
        args = batches.parse_uniform_calls(items, count, arity)
        if args is None:
            resolved = errors.ProtocolError("malformed uniform call batch")
        if isinstance(resolved, BaseException):
            self.send_outcomes(peer, [(first_id + k, False, False, resolved)
                                      for k in range(count)])
            return
        assert args is not None
        fn, is_async = resolved
        calls: list[Call] = [(first_id + k, method, fn, a, {}, False)
                             for k, a in enumerate(args)]
        if lenient:
            refused: list[Outcome] = []
            good: list[Call] = []
            for call in calls:
                bad = codec.find_unresolved(call[3])
                if bad is None:
                    good.append(call)
                else:
                    refused.append((call[0], False, False, bad))
            calls = good
            if refused:
                self.send_outcomes(peer, refused)
        if is_async:
            for call in calls:
                self._schedule(export, Invocation(peer, [call]), True)
        elif calls:
            self._schedule(export, Invocation(peer, calls), False)

    def _schedule(self, export: Export, inv: Invocation, is_async: bool) -> None:
        if self._failed:
            lost = self._failed.get((self._state.id, export.key))
            if lost is not None:
                self.send_outcomes(inv.peer, [(c[0], c[5], False, errors.PermFailure(lost))
                                              for c in inv.calls])
                return
        if export.mobile is not None:  # cached and replicated objects: netobj.mobile
            export.mobile.remote_call(inv.peer, inv.calls, is_async)
            return
        try:
            starts = export.machine.on_call(inv, is_async)
        except QueueFull as exc:
            self.send_outcomes(inv.peer, [(c[0], c[5], False, errors.TempFailure(str(exc)))
                                          for c in inv.calls])
            return
        for start in starts:
            self._start(export, start.invocation, start.on_lane)

    def _on_service_call(self, peer: Peer, call: pb.Call) -> None:
        try:
            if call.method != "take":
                raise AttributeError(f"the site service has no method {call.method!r}")
            split = _split_args(self._decoder.decode(call.args))
            if split is None or len(split[0]) != 1 or not isinstance(split[0][0], str):
                raise errors.ProtocolError("malformed take request")
            value = self._take_local(split[0][0])
        except Exception as exc:
            self._reply_error(peer, call.call_id, exc)
            return
        self.send_outcomes(peer, [(call.call_id, False, True, value)])

    def _start(self, export: Export, inv: Invocation, on_lane: bool) -> None:
        lane = export.lane
        if lane is None:
            lane = export.lane = self._executor.lane(export, self._finish)
        self._executor.start_invocation(lane, inv, on_lane)

    def _finish(self, export: Export, inv: Invocation, outcomes: list[Outcome]) -> None:
        try:
            self.send_outcomes(inv.peer, outcomes)
        finally:  # the object goes on whatever happened to the replies
            for start in export.machine.on_done(inv):
                self._start(export, start.invocation, start.on_lane)

    # -- outcomes out --------------------------------------------------------------------

    def send_outcomes(self, peer: Peer, outcomes: list[Outcome]) -> None:
        """Reply to finished calls: one Reply, or ReplyBatches (split to fit the size limit)."""
        scalars = codec.SCALARS
        if len(outcomes) > 1 and self._send_uniform_outcomes(peer, outcomes):
            return
        hook = self._ref_hook
        triples: list[tuple[int, bool, Any]] = []
        for call_id, oneway, ok, value in outcomes:
            if oneway:
                if not ok:
                    log.warning("oneway call %d from %s failed: %r", call_id,
                                peer.peer_address, value)
                continue
            if ok:
                if type(value) not in scalars:
                    try:
                        value = codec.value_to_wire(value, hook, "result")
                    except errors.MarshalError as exc:
                        ok, value = False, codec.encode_exception_tag(exc)
                    except Exception as exc:  # the result's own code raised
                        ok, value = False, codec.encode_exception_tag(errors.MarshalError(
                            f"the result could not be encoded: {type(exc).__name__}: "
                            f"{errors.safe_str(exc)}"))
            else:
                value = codec.encode_exception_tag(failure(value))
            triples.append((call_id, ok, value))
        if triples:
            self._send_items(peer, batches.outcomes(triples))

    def _send_uniform_outcomes(self, peer: Peer, outcomes: list[Outcome]) -> bool:
        """Consecutive ids that all returned data: one ReplyBatch of bare values."""
        first = outcomes[0][0]
        scalars = codec.SCALARS
        values = []
        expected = first
        for call_id, oneway, ok, value in outcomes:
            if call_id != expected or oneway or not ok or type(value) not in scalars:
                return False
            values.append(value)
            expected += 1
        try:
            data = codec.dump(values, "reply batch")
        except errors.MarshalError:
            return False  # too big as one: the general path splits it
        peer.try_send("reply_batch", frames.reply_batch, b"", first, data)
        return True

    def _send_items(self, peer: Peer, items: list[Any]) -> None:
        """Send a flat outcome list [call_id, ok, value, ...] as one Reply or ReplyBatch."""
        try:
            if len(items) == 3:
                data = codec.dump(items[2], "result")
            else:
                data = codec.dump(items, "reply batch")
        except errors.MarshalError as exc:
            if len(items) == 3:
                items[1:] = [False, codec.encode_exception_tag(exc)]
                data = codec.dump(items[2])
            else:
                half = len(items) // 6 * 3
                self._send_items(peer, items[:half])
                self._send_items(peer, items[half:])
                return
        try:  # (Peer.send itself, not try_send: one frame less per reply)
            if len(items) == 3:
                peer.send("reply", frames.reply_value if items[1] else frames.reply_error,
                          items[0], data)
            else:
                peer.send("reply_batch", frames.reply_batch, data)
        except errors.EntityFailure:
            pass  # the link failed: the caller hears of it from its side
