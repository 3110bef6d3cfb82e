"""The table of peers (one :class:`~netobj.runtime.peers.Peer` per site we have a link
to), the carriers that reach them, links made on demand or accepted, and their state changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Final

from netobj import handshake
from netobj.link import FaultState, Link, LinkConfig
from netobj.runtime.peers import Peer
from netobj.runtime.state import SiteState
from netobj.transport.base import Connection, Transport
from netobj.wire import netobj_pb2 as pb

log = logging.getLogger("netobj.site")
CARRIERS: Final = frozenset({"grpc", "tcp"})

#: Called for each envelope a link delivers, in order.
OnEnvelope = Callable[[Link, pb.Envelope], None]
#: Told when a peer failed for good: (peer, reason).
OnPermFail = Callable[[Peer, str], None]


class Links:
    """Peers by site id, their carriers, and what is known of sites' addresses."""

    def __init__(self, state: SiteState, transport: Transport | str | None,
                 config: LinkConfig, peers: dict[str, Peer], sent: Counter[str],
                 on_envelope: OnEnvelope,
                 flush: Callable[[Peer], None]) -> None:
        # A Transport instance carries everything (the simulated network does this); a carrier
        # name ("tcp", the default, or "grpc") is what this site listens on, and it dials each
        # peer on the carrier its address names ("tcp:HOST:PORT" or "HOST:PORT").
        self._fixed = transport if isinstance(transport, Transport) else None
        carrier = "tcp" if transport is None else transport
        if self._fixed is None and carrier not in CARRIERS:
            raise ValueError(f"transport must be a Transport or one of {sorted(CARRIERS)}")
        self._state = state
        self._carriers: dict[str, Transport] = {}
        self.transport = self._fixed or self._carrier(str(carrier))
        self.config = config
        self._sent = sent
        self._on_envelope = on_envelope
        self._flush = flush
        self.peers = peers  # site id -> Peer
        self._addresses: dict[str, str] = {}
        self._on_perm_fail: list[OnPermFail] = []
        self._on_change: list[Callable[[str], None]] = []

    def watch(self, on_perm_fail: OnPermFail | None = None,
              on_change: Callable[[str], None] | None = None) -> None:
        """Be told of links that fail for good (``on_perm_fail``, in the order registered),
        then of every state change (``on_change(site_id)``)."""
        if on_perm_fail is not None:
            self._on_perm_fail.append(on_perm_fail)
        if on_change is not None:
            self._on_change.append(on_change)

    # -- finding and making peers --------------------------------------------------------

    def peer_for(self, site_id: str, address: str) -> Peer:
        peer = self.peers.get(site_id)
        if peer is None:
            peer = self._new_peer(site_id, address)
            peer.link.start_dialing()
        return peer

    def _carrier(self, name: str) -> Transport:
        transport = self._carriers.get(name)
        if transport is None:
            if name == "tcp":
                from netobj.transport.tcp import TcpTransport

                transport = TcpTransport()
            else:
                from netobj.transport.grpc_transport import GrpcTransport

                transport = GrpcTransport()
            self._carriers[name] = transport
        return transport

    def _transport_for(self, address: str) -> Transport:
        if self._fixed is not None:
            return self._fixed
        return self._carrier("tcp" if address.startswith("tcp:") else "grpc")

    def _new_peer(self, site_id: str, address: str) -> Peer:
        link = Link(
            our_id=self._state.id,
            our_address=self._state.address,
            peer_id=site_id,
            peer_address=address,
            transport=self._transport_for(address),
            config=self.config,
            on_envelope=self._on_envelope,
            on_state=self._on_link_state,
        )
        peer = self.peers[site_id] = Peer(link, self._sent, self._flush)
        return peer

    # -- addresses ---------------------------------------------------------------------

    def address_of(self, site_id: str) -> str:
        peer = self.peers.get(site_id)
        if peer is not None:
            return peer.link.peer_address
        return self._addresses.get(site_id, "")

    def remember_address(self, site_id: str, address: str) -> None:
        if site_id and address:
            self._addresses.setdefault(site_id, address)

    def link_state(self, site_id: str) -> FaultState | None:
        peer = self.peers.get(site_id)
        return None if peer is None else peer.link.state

    # -- links in ------------------------------------------------------------------------

    async def on_connection(self, conn: Connection) -> None:
        if self._state.closed:
            await conn.close("site closed")
            return
        me = self._state
        hello = await handshake.accept(conn, our_id=me.id, our_address=me.address,
                                       max_frame_bytes=self.transport.max_frame_bytes,
                                       timeout_s=self.config.handshake_timeout_s)
        if hello is None:
            return
        peer = self.peers.get(hello.site_id)
        if peer is None:
            peer = self._new_peer(hello.site_id, hello.address)
        await peer.link.accept(conn, hello)

    def _on_link_state(self, link: Link, old: FaultState, new: FaultState, reason: str) -> None:
        if new is FaultState.PERM_FAIL:
            peer = self.peers.get(link.peer_id)
            if peer is not None:
                for fn in self._on_perm_fail:
                    fn(peer, reason)
        for change in self._on_change:
            change(link.peer_id)

    # -- closing -------------------------------------------------------------------------

    async def drain(self) -> None:
        """Deliver what is already on its way (the outboxes first)."""
        for peer in list(self.peers.values()):
            if peer.outbox:
                peer.flush(peer)
        await asyncio.gather(*(peer.link.drain(self.config.close_drain_s)
                               for peer in self.peers.values()
                               if peer.link.connected or peer.link.first_dial))

    async def aclose(self) -> None:
        await asyncio.gather(
            *(peer.link.aclose(goodbye="site closed") for peer in self.peers.values()),
            return_exceptions=True,
        )
        await self.transport.aclose()
        for carrier in self._carriers.values():
            if carrier is not self.transport:
                await carrier.aclose()
