"""The ticket table: what :meth:`netobj.Site.offer` hands out (once, or for a time to live),
withdrawn by ``revoke``, looked up when a ticket is taken (here or by the site service)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from netobj import errors
from netobj.runtime.state import SiteState
from netobj.ticket import format_ticket, parse_ticket


@dataclass(slots=True)
class TicketEntry:
    value: object
    once: bool
    expires_at: float | None
    pins: list[object] = field(default_factory=list)


class Tickets:
    """Ticket key -> :class:`TicketEntry`; safe from any thread (under the site's lock)."""

    def __init__(self, state: SiteState, clock: Callable[[], float]) -> None:
        self._state = state
        self._clock = clock  # the loop's time
        self.entries: dict[str, TicketEntry] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def offer(self, value: object, once: bool, ttl: float | None) -> str:
        key = self._state.new_id()
        expires = None if ttl is None else self._clock() + ttl
        with self._state.lock:
            self.entries[key] = TicketEntry(value, once, expires)
        return format_ticket(self._state.address, self._state.id, key)

    def revoke(self, ticket: str) -> bool:
        t = parse_ticket(ticket)
        if t.site_id != self._state.id:
            raise errors.TicketError("that ticket was made by another site; only it can revoke it")
        with self._state.lock:
            return self.entries.pop(t.key, None) is not None

    def take_local(self, key: str) -> object:
        with self._state.lock:
            entry = self.entries.get(key)
            if entry is not None and entry.expires_at is not None:
                if self._clock() >= entry.expires_at:
                    del self.entries[key]
                    entry = None
            if entry is None:
                raise errors.UnknownEntityError("no offer with that ticket at this site")
            if entry.once:
                del self.entries[key]
            return entry.value
