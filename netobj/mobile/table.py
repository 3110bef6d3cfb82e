"""The cached and replicated objects known at one site: (home site id, key) -> entity (the
home's own included), and the local instances of those homed elsewhere, by id(). What the
runtime asks of them goes through here (netobj.runtime.refs.Mobiles)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from netobj import classes, errors
from netobj.mobile.cached import CachedEntity
from netobj.mobile.entity import Entity
from netobj.mobile.host import EntityHost
from netobj.mobile.replicated import ReplicaEntity, ReplicaHomeEntity
from netobj.proxy import Proxy
from netobj.wire import codec
from netobj.wire import netobj_pb2 as pb

if TYPE_CHECKING:
    from netobj.runtime.peers import Peer

log = logging.getLogger("netobj.mobile")


class MobileTable:
    """The entities of one site. ``bind(host)`` once the site's runtime is built."""

    def __init__(self) -> None:
        self._host: EntityHost | None = None
        self._entities: dict[tuple[str, str], Entity] = {}
        self._by_obj: dict[int, Entity] = {}

    def bind(self, host: EntityHost) -> None:
        self._host = host

    @property
    def host(self) -> EntityHost:
        assert self._host is not None, "MobileTable.bind was not called"
        return self._host

    def get(self, ident: tuple[str, str]) -> Entity | None:
        return self._entities.get(ident)

    def entities(self) -> list[Entity]:
        return list(self._entities.values())

    def _instance_changed(self, entity: Entity, old: object, new: object) -> None:
        """``entity`` now keeps its state in ``new`` (a fresh instance per arrival)."""
        if self._by_obj.get(id(old)) is entity:
            del self._by_obj[id(old)]
        self._by_obj[id(new)] = entity

    # -- references ----------------------------------------------------------------------

    def new_home(self, ref: codec.Ref, obj: object) -> Entity:
        """The home entity of ``obj``, an object of ours exported as ``ref``."""
        entity: Entity = (
            CachedEntity(self.host, self._instance_changed, ref, type(obj), obj, home=True)
            if ref.protocol == "cached"
            else ReplicaHomeEntity(self.host, self._instance_changed, ref, type(obj), obj))
        self._entities[(ref.site_id, ref.key)] = entity
        return entity

    def guest_ref(self, obj: object) -> codec.Ref | None:
        """The reference of ``obj`` if it is the local copy of an object homed elsewhere."""
        entity = self._by_obj.get(id(obj))
        return entity.ref if entity is not None and entity.obj is obj else None

    def import_ref(self, ref: codec.Ref) -> Proxy:
        """The proxy of a cached or replicated object (the home's own one at the home)."""
        ident = (ref.site_id, ref.key)
        entity = self._entities.get(ident)
        if entity is None:
            host = self.host
            if ref.site_id == host.id:
                raise errors.UnknownEntityError("no entity with that key at this site")
            if not ref.cls:
                raise errors.MarshalError(f"a {ref.protocol} object arrived without its class")
            cls = classes.resolve(ref.cls, ref.protocol)
            if ref.protocol == "cached":
                entity = CachedEntity(host, self._instance_changed, ref, cls,
                                      classes.blank(cls), home=False)
            else:
                entity = ReplicaEntity(host, self._instance_changed, ref, cls)
            self._entities[ident] = entity
            self._by_obj[id(entity.obj)] = entity
            host.remember_address(ref.site_id, ref.address)
        return entity.proxy()

    # -- events --------------------------------------------------------------------------

    def on_message(self, peer: Peer, msg: pb.Mobile) -> None:
        entity = self._entities.get((msg.home, msg.key))
        if entity is None:
            log.debug("mobile message for unknown object from %s", peer.peer_address)
            return
        entity.on_message(peer, msg)

    def on_peer_failed(self, peer: Peer, reason: str) -> None:
        owner = peer.peer_id
        for data in peer.link.undelivered():  # take back state that never left (a PUT)
            env = pb.Envelope.FromString(data)
            if env.WhichOneof("body") == "mobile":
                taken = self._entities.get((env.mobile.home, env.mobile.key))
                if taken is not None:
                    taken.on_undelivered(owner, env.mobile)
        for entity in list(self._entities.values()):
            entity.on_site_failed(owner, reason)

    def hand_back(self) -> None:
        """The site is closing: cached state held here goes back to its homes."""
        for entity in list(self._entities.values()):
            entity.hand_back()

    def close(self) -> None:
        for entity in self._entities.values():
            entity.close()
