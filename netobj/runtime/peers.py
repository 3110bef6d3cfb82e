"""A peer: the :class:`~netobj.link.Link` to one site, the calls waiting for its replies
(:class:`~netobj.protocols.invocation.Caller`) and the outbox of calls not yet sent.

:meth:`Peer.send` is the only sequenced send of the runtime. Its invariant is per-link
FIFO: calls queued in the outbox (they leave together at the end of the loop iteration, see
:mod:`netobj.runtime.calls_out`) go before any other message on the link; then the message
takes the link's next sequence number and is counted in ``messages_sent`` by kind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from netobj import errors
from netobj.link import Link
from netobj.protocols.invocation import Caller
from netobj.var import Var

#: A call waiting in the outbox: (result var, key, method, args, kwargs or None, oneway),
#: the arguments already in wire form.
Outgoing = tuple[Var[Any], str, str, Any, "dict[str, Any] | None", bool]


class Peer:
    """One peer site, from this site's point of view."""

    __slots__ = ("caller", "flush", "flushing", "link", "outbox", "peer_id", "sent")

    def __init__(self, link: Link, sent: Counter[str],
                 flush: Callable[[Peer], None]) -> None:
        self.link = link
        self.peer_id = link.peer_id
        self.caller: Caller[Var[Any]] = Caller()
        self.outbox: list[Outgoing] = []
        self.flushing = False  # the outbox is being sent (by ``flush``)
        self.flush = flush  # sends the whole outbox (netobj.runtime.calls_out)
        self.sent = sent

    def __repr__(self) -> str:
        return f"<Peer {self.peer_id[:8]} outbox={len(self.outbox)} {self.link!r}>"

    @property
    def peer_address(self) -> str:
        return self.link.peer_address

    def send(self, kind: str, build: Callable[..., bytes], *args: Any,
             more: bool = False) -> None:
        """Send one sequenced envelope, ``build(seq, *args)``, after the queued calls.

        Raises :class:`~netobj.errors.EntityFailure` (nothing sent) when the link failed
        permanently or has too many unacknowledged messages."""
        if self.outbox and not self.flushing:
            self.flush(self)
        link = self.link
        seq = link.next_seq()
        if more:
            link.send_sequenced(seq, build(seq, *args), True)
        else:
            link.send_sequenced(seq, build(seq, *args))
        self.sent[kind] += 1

    def try_send(self, kind: str, build: Callable[..., bytes], *args: Any) -> bool:
        """:meth:`send`, False instead of the failure when it cannot be sent."""
        try:
            self.send(kind, build, *args)
        except errors.EntityFailure:
            return False
        return True
