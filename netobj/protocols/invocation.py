"""The caller's side of remote invocation (shared by the stationary and active protocols).

Theory of operation
-------------------
One :class:`Caller` per peer link. ``call`` allocates a ``call_id`` (1, 2, 3, ... per link,
never reused while the link lives) and returns the :class:`SendCall` action; the caller keeps
the waiting token (the result Var) in ``pending`` until the :class:`Reply` for that id arrives
or the link fails permanently. A oneway call has no pending entry.

States of a call id: ``pending`` --reply--> ``done``; ``pending`` --perm_fail--> ``failed``.
A reply for an id that is not pending (a duplicate the link should have dropped, or a reply
after the caller gave up) yields None and changes nothing.

Invariants (asserted in tests):
* every pending id was issued by this caller and is below ``next_id``;
* after ``on_perm_fail``, ``pending`` is empty and every token got exactly one Complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SendCall:
    call_id: int
    key: str
    method: str
    args: bytes
    oneway: bool


@dataclass(frozen=True, slots=True)
class Complete(Generic[T]):
    """Settle ``token``: with ``payload`` (encoded value or error) or with ``failure``."""

    token: T
    ok: bool
    payload: object
    failure: str = ""


class Caller(Generic[T]):
    """Outstanding calls to one peer site."""

    __slots__ = ("next_id", "pending")

    def __init__(self) -> None:
        self.next_id = 1
        self.pending: dict[int, T] = {}

    def __repr__(self) -> str:
        return f"<Caller pending={len(self.pending)} next_id={self.next_id}>"

    def call(self, token: T | None, key: str, method: str, args: bytes, oneway: bool) -> SendCall:
        call_id = self.next_id
        self.next_id += 1
        if not oneway:
            assert token is not None
            self.pending[call_id] = token
        return SendCall(call_id, key, method, args, oneway)

    def call_many(self, tokens: list[T]) -> int:
        """Allocate consecutive ids for a batch of calls (none oneway); returns the first."""
        first = self.next_id
        pending = self.pending
        for offset, token in enumerate(tokens):
            pending[first + offset] = token
        self.next_id = first + len(tokens)
        return first

    def on_replies(self, call_ids: list[int]) -> list[T | None]:
        """:meth:`on_reply` for several ids at once."""
        pop = self.pending.pop
        return [pop(call_id, None) for call_id in call_ids]

    def on_reply(self, call_id: int) -> T | None:
        """The token waiting for ``call_id`` (now settled by the caller), or None if unknown."""
        return self.pending.pop(call_id, None)

    def on_perm_fail(self, reason: str) -> list[Complete[T]]:
        out = [Complete(token, False, b"", reason) for token in self.pending.values()]
        self.pending.clear()
        return out
