"""The site: its public face, built from the runtime's parts (netobj.runtime).

One :class:`Site` per process is usual (several in one process work too, as in tests).

Each job is a part with its collaborators handed in at construction (as trio's Runner holds
its collaborators); a callback that points upward is handed in too, or registered (a
dispatch table entry, a link-state listener). No part imports this module.

* :mod:`~netobj.runtime.state`: who the site is, where it is in its life;
* :mod:`~netobj.runtime.loop`: the one way into the event loop from other threads;
* :mod:`~netobj.runtime.executor`: where methods run (lanes, the pool, tasks);
* :mod:`~netobj.runtime.links` and :mod:`~netobj.runtime.peers`: the link to each peer,
  and ``Peer.send``, the one sequenced send;
* :mod:`~netobj.runtime.dispatch`: envelopes in, to their handlers;
* :mod:`~netobj.runtime.refs` and :mod:`~netobj.runtime.tickets`: export/import tables
  and the codec hooks; offers;
* :mod:`~netobj.runtime.calls_out`, :mod:`~netobj.runtime.calls_in`: invocation;
* :mod:`~netobj.runtime.vars`, :mod:`~netobj.runtime.ports`: dataflow variables, ports;
* :mod:`~netobj.runtime.failures`: faults, kill and break;
* :mod:`netobj.mobile` (its table, through :mod:`~netobj.runtime.entity_host`): cached
  and replicated objects.

Threads: all tables are touched on the site's event-loop thread, except exports (offer and
marshalling may run on any thread), which take the site's lock. Calls made from another
thread are encoded there (so marshalling errors raise in the caller) and handed to the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, Final

from netobj import errors
from netobj.link import FaultState, LinkConfig
from netobj.mobile import MobileTable
from netobj.port import Port
from netobj.proxy import ProxyHost
from netobj.record import Record  # noqa: F401 - registers the RECORD tag decoder
from netobj.runtime.calls_in import SERVICE_KEY, CallsIn
from netobj.runtime.calls_out import FIRST_BATCH_ITEMS, MAX_BATCH_ITEMS, CallsOut, Outbox
from netobj.runtime.dispatch import Dispatcher
from netobj.runtime.entity_host import SiteEntityHost
from netobj.runtime.executor import Executor
from netobj.runtime.failures import Failures, FaultWatcher
from netobj.runtime.links import CARRIERS, Links
from netobj.runtime.loop import LoopGate, new_event_loop
from netobj.runtime.peers import Peer
from netobj.runtime.ports import Ports
from netobj.runtime.refs import PROTOCOLS, Refs
from netobj.runtime.state import SiteState
from netobj.runtime.tickets import Tickets
from netobj.runtime.vars import Vars
from netobj.ticket import parse_ticket
from netobj.transport.base import Transport
from netobj.var import Var
from netobj.wire import codec, tags

log = logging.getLogger("netobj.site")

__all__ = ["CARRIERS", "DEFAULT_MAX_WORKERS", "FIRST_BATCH_ITEMS", "MAX_BATCH_ITEMS",
           "PROTOCOLS", "SERVICE_KEY", "FaultWatcher", "Site", "new_event_loop"]

DEFAULT_MAX_WORKERS: Final = 32


class Site(ProxyHost):
    """A netobj site: ``async with Site() as site`` or ``Site.background()``.

    ``transport``: the carrier this site listens on, ``"tcp"`` (the default: length-prefixed
    frames on a plain TCP stream) or ``"grpc"`` (one bidirectional gRPC stream per site pair,
    for HTTP/2 infrastructure); a site dials each peer on the carrier its address names, so
    the two mix. A :class:`~netobj.transport.base.Transport` instance carries everything
    (``netobj.testing.SimNetwork`` does this).
    """

    # Set per instance to the part's bound method: what proxies and fault watchers call (no
    # extra frame on the hot path). port_send is a method too, for the class's readers.
    _invoke: Callable[..., Var[Any]]
    _spawn: Callable[[Coroutine[Any, Any, Any]], None]

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        transport: Transport | str | None = None,
        link_config: LinkConfig | None = None,
        executor: str = "threads",
        max_workers: int = DEFAULT_MAX_WORKERS,
        entropy: Callable[[int], bytes] | None = None,
    ) -> None:
        if executor not in ("threads", "inline"):
            raise ValueError("executor must be 'threads' or 'inline'")
        self._host = host
        self._port = port
        self._state = state = SiteState(entropy or os.urandom)
        self.id = state.id
        self.messages_sent: Counter[str] = Counter()
        self.messages_received: Counter[str] = Counter()
        self._gate = gate = LoopGate(state)
        self._executor = Executor(gate, executor, max_workers, f"netobj-{self.id[:6]}")
        self._mobiles = mobiles = MobileTable()
        self._refs = refs = Refs(state, self, mobiles)
        self._tickets = Tickets(state, gate.time)
        self._outbox = outbox = Outbox(gate)
        peers: dict[str, Peer] = {}  # the table of Links, read by the dispatcher
        self._dispatch = dispatch = Dispatcher(peers, self.messages_received)
        self._links = links = Links(state, transport, link_config or LinkConfig(), peers,
                                    self.messages_sent, dispatch.on_envelope, outbox.flush_all)
        self._vars = vars_ = Vars(state, gate, refs, links, self)
        self._failures = failures = Failures(state, gate, refs, links, mobiles, vars_.fail, self)
        self._ports = ports = Ports(state, gate, refs, links, self, failures.failed)
        refs.attach(vars_, ports)
        self._calls_out = calls_out = CallsOut(
            state, gate, links, outbox, refs.ref_hook, refs.decoder, refs.lenient_decoder,
            failures.failed, failures.fail_fast_check)
        self._calls_in = calls_in = CallsIn(state, refs, self._executor,
                                            self._tickets.take_local, failures.failed)
        # a link failed for good: its calls fail, then the Vars it owned, then cached and
        # replicated objects take back what never left; fault watchers hear every change
        links.watch(on_perm_fail=calls_out.on_peer_failed)
        links.watch(on_perm_fail=vars_.on_peer_failed)
        links.watch(on_perm_fail=mobiles.on_peer_failed, on_change=failures.notify)
        mobiles.bind(SiteEntityHost(state, gate, refs, links, self._executor, self,
                                    calls_out.invoke, calls_in.send_outcomes, failures.notify))
        for kind, handler in (
            ("call", calls_in.on_call), ("reply", calls_out.on_reply),
            ("call_batch", calls_in.on_call_batch), ("reply_batch", calls_out.on_reply_batch),
            ("port_send", ports.on_port_send), ("var_register", vars_.on_register),
            ("var_bind", vars_.on_bind), ("var_redirect", vars_.on_redirect),
            ("var_need", vars_.on_need), ("mobile", mobiles.on_message),
            ("kill", failures.on_kill),
        ):
            dispatch.register(kind, handler)
        self._invoke = calls_out.invoke
        self.port_send = ports.port_send  # type: ignore[method-assign]
        self._spawn = self._executor.spawn
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None
        self._started = False

    @property
    def address(self) -> str:
        return self._state.address

    @property
    def calls_batched(self) -> int:
        return self._outbox.calls_batched

    def __repr__(self) -> str:
        state = ("closed" if self._state.closed else
                 ("running" if self._started else "new"))
        return (
            f"<Site {self.id[:8]} {self.address or '-'} {state} exports="
            f"{len(self._refs.exports)} tickets={len(self._tickets)} "
            f"links={len(self._links.peers)}>"
        )

    # -- lifetime -----------------------------------------------------------------------------

    async def start(self) -> Site:
        if self._started:
            raise RuntimeError("site already started")
        self._gate.bind()
        self._state.address = await self._links.transport.listen(
            self._host, self._port, self._links.on_connection)
        self._executor.start()
        self._started = True
        log.info("site %s listening on %s", self.id, self.address)
        return self

    async def aclose(self) -> None:
        state = self._state
        if state.closed or not self._started:
            state.closed = True
            return
        # Cached objects whose state is here go back to their homes (or on to the site
        # that asked next); then deliver what is already on its way (calls queued, replies,
        # port messages) before saying goodbye: a clean close loses nothing that was sent.
        state.closing = True
        self._mobiles.hand_back()
        await self._links.drain()
        state.closed = True
        self._calls_out.close()
        self._mobiles.close()
        await self._links.aclose()
        self._executor.close()
        log.info("site %s closed", self.id)

    async def __aenter__(self) -> Site:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @classmethod
    def background(cls, *args: Any, use_uvloop: bool = True, **kwargs: Any) -> Site:
        """Start a site whose event loop runs in a daemon thread; close it with ``close()``."""
        site = cls(*args, **kwargs)
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            loop = new_event_loop(use_uvloop)
            asyncio.set_event_loop(loop)

            async def main() -> None:
                try:
                    await site.start()
                except BaseException as exc:
                    ready.set_exception(exc)
                    return
                site._stop_event = stop = asyncio.Event()
                ready.set_result(None)
                await stop.wait()
                await site.aclose()

            try:
                loop.run_until_complete(main())
            finally:
                loop.close()

        thread = threading.Thread(target=run, name=f"netobj-site-{site.id[:6]}", daemon=True)
        site._thread = thread
        thread.start()
        ready.result(timeout=30)
        return site

    def close(self, timeout: float = 10.0) -> None:
        """Close a site started with :meth:`background` (from any other thread)."""
        if self._thread is None:
            raise RuntimeError("close() is for background sites; use 'await site.aclose()'")
        stop = self._stop_event
        if stop is not None:
            self._gate.wake(stop.set)
        self._thread.join(timeout)

    # -- offers and tickets -------------------------------------------------------------------

    def offer(self, value: object, *, once: bool = False, ttl: float | None = None) -> str:
        """Make a ticket for ``value``; safe from any thread.

        ``once=True``: the ticket can be taken one time. ``ttl``: it expires after that many
        seconds. Distributed entities are shared by reference, data is copied on each take.
        """
        self._gate.check_running()
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be positive")
        self._refs.encode(value, "offered value")  # refuse what cannot travel, now
        return self._tickets.offer(value, once, ttl)

    def revoke(self, ticket: str) -> bool:
        """Withdraw a ticket this site made; returns False if it was already gone."""
        return self._tickets.revoke(ticket)

    def take(self, ticket: str) -> Var[Any]:
        """Take a ticket: a Var bound to the entity's proxy (or the value) once it arrives."""
        t = parse_ticket(ticket)
        self._gate.check_running()
        if t.site_id == self.id:
            var: Var[Any] = Var()
            try:
                var._resolve(self._refs.local_value(self._tickets.take_local(t.key)))
            except errors.NetobjError as exc:
                var._reject(exc)
            return var
        service = codec.Ref(tags.KIND_OBJECT, "stationary", t.site_id, t.address, SERVICE_KEY)
        return self._invoke(service, "take", (t.key,), {}, False)

    # -- VarHost (netobj.var) -----------------------------------------------------------------

    def var_changed(self, var: Var[Any]) -> None:
        self._vars.var_changed(var)

    def var_remote_bind(self, var: Var[Any], value: object, failed: bool) -> Var[None]:
        return self._vars.var_remote_bind(var, value, failed)

    def var_need(self, var: Var[Any]) -> None:
        self._vars.var_need(var)

    # -- PortHost (netobj.port) ---------------------------------------------------------------

    def port_send(self, port: Port, message: object) -> None:
        """Send ``message`` to the remote port ``port`` proxies (each instance calls the ports
        part directly: see __init__)."""
        self._ports.port_send(port, message)

    # -- faults (DESIGN section 5) ------------------------------------------------------------

    def fault_ident(self, entity: object) -> tuple[str, str] | None:
        """(home site id, key) of a distributed entity known here, or None."""
        return self._failures.fault_ident(entity)

    def entity_fault_state(self, ident: tuple[str, str]) -> FaultState:
        """The fault state of the entity ``ident`` as seen here: ``perm_fail`` if it was
        killed, broken or lost, else the state of the link to its home."""
        return self._failures.entity_fault_state(ident)

    def watch_faults(self, ident: tuple[str, str],
                     push: Callable[[FaultState], None]) -> FaultWatcher:
        """Call ``push(state)`` (on this site's loop) whenever the entity's state changes."""
        return self._failures.watch(ident, push)

    def unwatch_faults(self, watcher: FaultWatcher) -> None:
        self._failures.unwatch(watcher)

    def kill(self, entity: object, reason: str = "") -> None:
        """Fail ``entity`` permanently on every site (Oz ``DP.kill``). The home applies it
        and tells every site it has a link to; operations on it then fail with
        :class:`~netobj.PermFailure`. Safe from any thread; returns at once."""
        self._failures.kill(entity, reason)

    def break_(self, entity: object, reason: str = "") -> None:
        """Fail ``entity`` permanently here only (Oz ``DP.break``): other sites are not told.
        Safe from any thread."""
        self._failures.break_(entity, reason)

    # -- introspection ------------------------------------------------------------------------

    def statistics(self) -> dict[str, Any]:
        """Counters for tests and tuning: protocol messages by kind, and per-link figures."""
        return {
            "messages_sent": dict(self.messages_sent),
            "messages_received": dict(self.messages_received),
            "calls_batched": self.calls_batched,
            "exports": len(self._refs.exports),
            "tickets": len(self._tickets),
            "links": {
                peer.peer_id: {"state": str(peer.link.state), **peer.link.stats}
                for peer in self._links.peers.values()
            },
        }

    def link_state(self, site_id: str) -> FaultState | None:
        return self._links.link_state(site_id)
