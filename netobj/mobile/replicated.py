"""A replicated object at one site: the master at its home, a copy elsewhere."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from netobj import classes, errors
from netobj.mobile.entity import Entity, GuestEntity, OnInstance
from netobj.mobile.host import EntityHost
from netobj.mobile.ops import OP, Op, fail_ops, run_ops
from netobj.protocols import replicated as rep
from netobj.runtime.executor import Call, Outcome, run_calls, run_calls_async
from netobj.var import Var
from netobj.wire import codec
from netobj.wire import netobj_pb2 as pb

if TYPE_CHECKING:
    from netobj.runtime.peers import Peer

log = logging.getLogger("netobj.mobile")


class ReplicaHomeEntity(Entity):
    """A replicated object at its home: the master state, the readers and the write rounds."""

    def __init__(self, host: EntityHost, on_instance: OnInstance, ref: codec.Ref, cls: type,
                 obj: object) -> None:
        super().__init__(host, on_instance, ref, cls, obj)
        # tokens: ("local", Op) for calls made here; ("remote", (link, calls, is_async))
        self.machine: rep.ReplicaHome[tuple[str, Any]] = rep.ReplicaHome()
        self._set_free(True)

    def _call(self, name: str, op: Op) -> None:
        if classes.is_read(self.cls, name):
            self._do(self.machine.on_read(("local", op)))
        else:
            self._do(self.machine.on_write(("local", op)))

    def remote_call(self, peer: Peer, calls: list[Call], is_async: bool) -> None:
        """Calls that arrived for the object (writes; a read sent here runs as one too)."""
        self.remote_write(peer, calls, is_async)

    def remote_write(self, link: Peer, calls: list[Any], is_async: bool) -> None:
        self._do(self.machine.on_write(("remote", (link, calls, is_async))))

    def _do(self, actions: list[rep.HomeAction[tuple[str, Any]]],
            replies: Callable[[], None] | None = None) -> None:
        for action in actions:
            if isinstance(action, rep.SendCommit):
                self._commit(action.sites, action.version)
                if replies is not None:  # the replies go after the COMMITs
                    replies()
                    replies = None
            elif isinstance(action, rep.SendInvalidate):
                self._send(action.site, OP.INVALIDATE)
            elif isinstance(action, rep.Apply):
                self._when_no_inline_calls(functools.partial(self._start_apply, action.ops))
            elif isinstance(action, rep.Run):
                ops = [token[1] for token in action.ops]
                self.host.spawn(run_ops(self.host, self.obj, ops))
        if replies is not None:
            replies()
        self._set_free(self.machine.free)

    def _start_apply(self, tokens: list[tuple[str, Any]]) -> None:
        self.host.spawn(self._apply(tokens))

    def _commit(self, sites: list[str], version: int) -> None:
        try:
            data, failed, status = self._encode_state(), False, ""
        except errors.MarshalError as exc:
            log.error("the state of %s cannot travel to its replicas: %s", self, exc)
            data, failed, status = b"", True, str(exc)
        for site in sites:
            self._send(site, OP.COMMIT, req=version, state=data, failed=failed, status=status)

    async def _apply(self, tokens: list[tuple[str, Any]]) -> None:
        local: list[Op] = []
        remote: list[tuple[Peer, list[Outcome]]] = []
        shadows: list[tuple[Op, Var[Any]]] = []
        try:
            for kind, item in tokens:
                if kind == "local":
                    fn, args, kwargs, _ = item
                    shadow: Var[Any] = Var()  # settled now, passed on after the COMMITs
                    await run_ops(self.host, self.obj, [(fn, args, kwargs, shadow)])
                    shadows.append((item, shadow))
                    local.append(item)
                else:
                    link, calls, is_async = item
                    remote.append((link, await self._run_calls(calls, is_async)))
        finally:
            def replies() -> None:
                for op, shadow in shadows:
                    if shadow.failed():
                        op[3]._reject(shadow._value)
                    else:
                        op[3]._resolve(shadow._value)
                for link, outcomes in remote:
                    self.host.send_outcomes(link, outcomes)

            self._do(self.machine.on_applied(), replies)

    async def _run_calls(self, calls: list[Any], is_async: bool) -> list[Outcome]:
        if is_async:
            return await run_calls_async(calls)
        result: list[Outcome] = await self.host.run_blocking(run_calls, calls)
        return result

    def on_message(self, link: Peer, msg: pb.Mobile) -> None:
        if msg.op == OP.SUBSCRIBE:
            self._do(self.machine.on_subscribe(link.peer_id))
        elif msg.op == OP.INVALID:
            self._do(self.machine.on_invalid(link.peer_id))
        else:
            log.warning("unexpected mobile op %d for a replicated home from %s", msg.op,
                        link.peer_address)

    def on_site_failed(self, site_id: str, reason: str) -> None:
        self._do(self.machine.on_site_failed(site_id))

    def fault_state(self) -> str | None:
        return None


class ReplicaEntity(GuestEntity):
    """A replicated object away from its home: the local copy; writes go home."""

    def __init__(self, host: EntityHost, on_instance: OnInstance, ref: codec.Ref,
                 cls: type) -> None:
        super().__init__(host, on_instance, ref, cls, classes.blank(cls))
        self.machine: rep.ReplicaProxy[Op] = rep.ReplicaProxy()
        self._lost_reported = False
        self._incoming: object = None
        self.commits = 0

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Var[Any]:
        if classes.is_read(self.cls, name):
            return super().call(name, args, kwargs)
        return self.host.invoke(self.ref, name, args, kwargs, False)

    def _call(self, name: str, op: Op) -> None:
        self._do(self.machine.on_read(op))

    def _do(self, actions: list[rep.ReplicaAction[Op]]) -> None:
        for action in actions:
            if isinstance(action, rep.Run):
                self._spawn_run(action.ops)
            elif isinstance(action, rep.Install):
                self._install(self._incoming)
                self._incoming = None
                self.commits += 1
            elif isinstance(action, rep.SendSubscribe):
                self._send(self.ref.site_id, OP.SUBSCRIBE)
            elif isinstance(action, rep.SendInvalid):  # once no read runs on the old copy
                self._when_no_inline_calls(self._send_invalid)
            elif isinstance(action, rep.Fail):
                fail_ops(action.ops, errors.PermFailure(
                    f"replicated object {classes.qualified_name(self.cls)} failed: "
                    f"{action.reason}"))
        self._set_free(self.machine.free)
        if self.machine.state == rep.LOST and not self._lost_reported:
            self._lost_reported = True
            self.host.notify_faults(self.ref.site_id)


    def _send_invalid(self) -> None:
        self._send(self.ref.site_id, OP.INVALID)

    def on_message(self, link: Peer, msg: pb.Mobile) -> None:
        try:
            if msg.op == OP.INVALIDATE:
                self._do(self.machine.on_invalidate())
            elif msg.op == OP.COMMIT:
                if msg.failed:
                    self._do(self.machine.on_lost(msg.status or "the state could not travel"))
                    return
                try:
                    self._incoming = self.host.decode(msg.state)
                except errors.NetobjError as exc:
                    self._do(self.machine.on_lost(f"the state could not be decoded here: {exc}"))
                    return
                self._do(self.machine.on_commit(msg.req))
            else:
                log.warning("unexpected mobile op %d for a replica from %s", msg.op,
                            link.peer_address)
        except rep.ProtocolViolation as exc:
            log.warning("protocol violation from %s: %s", link.peer_address, exc)

    def on_site_failed(self, site_id: str, reason: str) -> None:
        if site_id == self.ref.site_id:
            self._do(self.machine.on_lost(f"its home site failed: {reason}"))

    def fault_state(self) -> str | None:
        return "perm_fail" if self.machine.state == rep.LOST else None
