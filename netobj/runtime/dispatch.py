"""Incoming sequenced envelopes to their handlers: a table from the envelope's kind (its
``body`` oneof) to the part that handles it, filled in by the parts when the site is built."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from netobj.link import Link
from netobj.runtime.peers import Peer
from netobj.wire import netobj_pb2 as pb

log = logging.getLogger("netobj.site")

Handler = Callable[[Peer, Any], None]


class Dispatcher:
    """``on_envelope`` is what every link calls, in sequence order, for each envelope."""

    __slots__ = ("_handlers", "_peers", "_received")

    def __init__(self, peers: dict[str, Peer], received: Counter[str]) -> None:
        self._peers = peers
        self._received = received
        self._handlers: dict[str | None, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        if kind not in pb.Envelope.DESCRIPTOR.fields_by_name:
            raise ValueError(f"no envelope kind {kind!r}")
        self._handlers[kind] = handler

    def on_envelope(self, link: Link, env: pb.Envelope) -> None:
        kind = env.WhichOneof("body")
        self._received[kind or "?"] += 1
        handler = self._handlers.get(kind)
        if handler is None:
            log.warning("ignoring unexpected sequenced %s from %s", kind, link.peer_address)
            return
        handler(self._peers[link.peer_id], getattr(env, kind))
