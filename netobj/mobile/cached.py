"""A cached object (migratory protocol) at one site: the proxy side everywhere, and the
manager at the home."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from netobj import classes, errors
from netobj.mobile.entity import GuestEntity, OnInstance
from netobj.mobile.host import EntityHost
from netobj.mobile.ops import OP, Op, fail_ops
from netobj.protocols import migratory as mig
from netobj.wire import codec
from netobj.wire import netobj_pb2 as pb

if TYPE_CHECKING:
    from netobj.runtime.peers import Peer

log = logging.getLogger("netobj.mobile")


class CachedEntity(GuestEntity):
    """A cached object at one site: the migratory proxy, and the manager at the home."""

    def __init__(self, host: EntityHost, on_instance: OnInstance, ref: codec.Ref, cls: type,
                 obj: object, home: bool) -> None:
        super().__init__(host, on_instance, ref, cls, obj)
        self.machine: mig.MigratoryProxy[Op] = mig.MigratoryProxy(holding=home)
        self.manager = mig.MigratoryManager(host.id) if home else None
        self._set_free(self.machine.free)
        self._incoming: object = None
        self.moves_in = 0  # tokens received here (statistics)
        self._relayed: set[tuple[str, int]] = set()  # PUTs the home sent for closing sites
        self._lost_reported = False

    def _call(self, name: str, op: Op) -> None:
        self._do(self.machine.on_access(op))

    # proxy side ---------------------------------------------------------------------------

    def _do(self, actions: list[mig.ProxyAction[Op]]) -> None:
        for action in actions:
            if isinstance(action, mig.Run):
                self._spawn_run(action.ops)
            elif isinstance(action, mig.Install):
                self._install(self._incoming)
                self._incoming = None
                self.moves_in += 1
            elif isinstance(action, mig.SendGet):
                if self.manager is not None:
                    self._manage(self.manager.on_get(self.host.id, action.req))
                else:
                    self._send(self.ref.site_id, OP.GET, req=action.req)
            elif isinstance(action, mig.SendPut):
                self._ship(action)
            elif isinstance(action, mig.SendStatus):
                if self.manager is not None:
                    self._manage(self.manager.on_status(self.host.id, action.req,
                                                        action.status, action.held,
                                                        action.dead))
                else:
                    self._send(self.ref.site_id, OP.STATUS, req=action.req,
                               status=action.status, req2=action.held + 1,
                               site_id=action.dead)
            elif isinstance(action, mig.Fail):
                fail_ops(action.ops, errors.PermFailure(
                    f"cached object {classes.qualified_name(self.cls)} failed: {action.reason}"))
        self._set_free(self.machine.free)
        if self.machine.failure and not self._lost_reported:
            self._lost_reported = True
            self.host.notify_faults(self.ref.site_id)

    def _ship(self, action: mig.SendPut) -> None:
        self._when_no_inline_calls(lambda: self._ship_now(action))

    def _ship_now(self, action: mig.SendPut) -> None:
        if action.failure:
            self._send(action.site, OP.PUT, req=action.req, failed=True, status=action.failure)
            return
        try:
            data = self._encode_state()
        except errors.MarshalError as exc:
            log.error("the state of %s cannot travel; the object fails: %s", self, exc)
            self._do(self.machine.on_state_unmarshallable(action.site, action.req, str(exc)))
            return
        classes.clear_state(self.obj)
        self._send(action.site, OP.PUT, req=action.req, state=data)

    def _run_lane(self) -> asyncio.Lock | None:
        return self.lane()  # def methods one batch at a time

    def _after_run(self) -> None:
        if self.host.closing and self.manager is None:
            self.hand_back()

    def hand_back(self) -> None:
        """This site is closing: give the state back to the home if it is here and idle
        (else it goes on to its successor as usual, or is lost with the site)."""
        if self.manager is not None:
            return
        if self.inline_calls_running():
            self._when_no_inline_calls(self.hand_back)
            return
        req = self.machine.on_hand_back()
        if req < 0:
            return
        self._set_free(self.machine.free)
        try:
            data = self._encode_state()
        except errors.MarshalError as exc:
            log.error("cannot hand the state of %s back to its home: %s", self, exc)
            return
        classes.clear_state(self.obj)
        self._send(self.ref.site_id, OP.RETURN, req=req, state=data)

    def kill(self, reason: str) -> None:
        """(Home.) Killed: the manager tells every site in the chain (and any later GET)."""
        if self.manager is not None and not self.manager.lost:
            self._manage(self.manager._declare_lost(reason))

    def _on_return(self, site: str, req: int, state: bytes) -> None:
        """(Home.) A closing site handed back the state it held for ``req``."""
        assert self.manager is not None
        if self.manager.lost:  # too late: it failed meanwhile
            self._send(site, OP.LOST, status=self.manager.lost)
            return
        nxt = self.manager.on_return(site, req)
        if nxt is None:
            self._incoming = self.host.decode(state)
            self._do(self.machine.on_adopt())
            self.manager.adopted(self.machine.req)
        elif nxt[0] == self.host.id:
            self._incoming = self.host.decode(state)
            self._do(self.machine.on_put(nxt[1]))
        else:  # passed on by the home; taken back if it cannot be delivered (on_undelivered)
            self._relayed.add(nxt)
            self._send(nxt[0], OP.PUT, req=nxt[1], state=state)

    # manager side (home only) -------------------------------------------------------------

    def _manage(self, actions: list[mig.ManagerAction]) -> None:
        me = self.host.id
        for action in actions:
            if isinstance(action, mig.SendForward):
                if action.site == me:
                    self._do(self.machine.on_forward(action.req, action.succ, action.succ_req))
                else:
                    self._send(action.site, OP.FORWARD, req=action.req, site_id=action.succ,
                               address=self.host.address_of(action.succ) if action.succ
                               else "", req2=action.succ_req)
            elif isinstance(action, mig.SendInquire):
                if action.site == me:
                    self._do(self.machine.on_inquire())
                else:
                    self._send(action.site, OP.INQUIRE)
            elif isinstance(action, mig.SendLost):
                if action.site == me:
                    self._do(self.machine.on_lost(action.reason))
                else:
                    self._send(action.site, OP.LOST, status=action.reason)

    # events --------------------------------------------------------------------------------

    def on_message(self, link: Peer, msg: pb.Mobile) -> None:
        op = msg.op
        try:
            if op == OP.PUT:
                failure = ""
                if msg.failed:
                    failure = msg.status or "the object's state could not travel"
                else:
                    try:
                        self._incoming = self.host.decode(msg.state)
                    except errors.NetobjError as exc:
                        failure = f"the object's state could not be decoded here: {exc}"
                self._do(self.machine.on_put(msg.req, failure))
                if self.host.closing:
                    self.hand_back()
            elif op == OP.FORWARD:
                self.host.remember_address(msg.site_id, msg.address)
                self._do(self.machine.on_forward(msg.req, msg.site_id, msg.req2))
            elif op == OP.INQUIRE:
                self._do(self.machine.on_inquire())
            elif op == OP.LOST:
                self._do(self.machine.on_lost(msg.status or "lost"))
            elif self.manager is not None and op == OP.GET:
                self._manage(self.manager.on_get(link.peer_id, msg.req))
            elif self.manager is not None and op == OP.RETURN:
                self._on_return(link.peer_id, msg.req, msg.state)
            elif self.manager is not None and op == OP.STATUS:
                self._manage(self.manager.on_status(link.peer_id, msg.req, msg.status,
                                                    int(msg.req2) - 1, msg.site_id))
            else:
                log.warning("unexpected %s for cached object from %s",
                            OP.Op.Name(op) if op in OP.Op.values() else op, link.peer_address)
        except mig.ProtocolViolation as exc:
            log.warning("protocol violation from %s: %s", link.peer_address, exc)

    def on_undelivered(self, site_id: str, msg: pb.Mobile) -> None:
        """A message of ours to ``site_id`` (now failed) was never written anywhere."""
        if msg.op != OP.PUT or msg.failed:
            return
        if self.manager is not None and (site_id, msg.req) in self._relayed:
            # state the home passed on for a closing site: place it again, past the dead one
            self._relayed.discard((site_id, msg.req))
            if not self.manager.lost:
                self._on_return(site_id, msg.req, msg.state)  # marks the site dead too
            return
        try:
            state = self.host.decode(msg.state)
        except errors.NetobjError:  # pragma: no cover - we encoded it ourselves
            log.exception("cannot take back the state of %s", self)
            return
        self._incoming = state
        self._do(self.machine.on_put_undelivered(site_id, msg.req))

    def on_site_failed(self, site_id: str, reason: str) -> None:
        if self.manager is not None:
            self._manage(self.manager.on_site_failed(site_id))
            self._do(self.machine.on_site_failed(site_id))
        elif site_id == self.ref.site_id:
            self._do(self.machine.on_lost(f"its home site failed: {reason}"))
        else:
            self._do(self.machine.on_site_failed(site_id))

    def fault_state(self) -> str | None:
        return "perm_fail" if self.machine.state == mig.LOST else None
