"""The distributed dataflow-variable protocol, sans-IO (after Mozart's, TOPLAS'99).

Theory of operation
-------------------
A Var belongs to no site until it is first sent; the sending site becomes its *owner* and
names it with a key. Every other site that receives it holds a *proxy* and registers with
the owner once (VarRegister). The owner decides the binding:

* a proxy's bind is a request (VarBind) to the owner; the first request to reach the owner
  while the Var is free wins, and the owner applies it;
* when the owner's Var changes (bound, failed, or linked to another Var), the owner sends
  VarRedirect to every holder, the requester included - so a bind from a proxy site costs
  1 + n messages for n holders;
* a request that arrives when the Var is no longer free is ignored: its site gets (or has
  had) the winner's VarRedirect and re-runs its unification against that value, which
  succeeds if the two agree and fails with UnificationError if not;
* a holder that registers after the change gets the VarRedirect at once.

Links between sites are FIFO, so a holder's registration always precedes its requests.

Roles and tables:
* :class:`VarOwner` - per owned key, the set of holder sites;
* :class:`VarHolder` - per proxy key, the requests waiting for the owner's redirect.

Invariants (asserted in tests): a holder appears once per key; every redirect goes to
registered holders only; every pending request is answered exactly once (by a redirect, or
by the owner's permanent failure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

T = TypeVar("T")

#: Most holder sites one owned Var records.
MAX_HOLDERS: Final = 100_000


@dataclass(frozen=True, slots=True)
class SendRedirect:
    key: str
    site: str


class VarOwner:
    """The owner's side: holders of each owned Var."""

    __slots__ = ("holders",)

    def __init__(self) -> None:
        self.holders: dict[str, set[str]] = {}

    def __repr__(self) -> str:
        return f"<VarOwner vars={len(self.holders)}>"

    def on_export(self, key: str) -> None:
        self.holders.setdefault(key, set())

    def on_register(self, key: str, site: str, changed: bool) -> list[SendRedirect]:
        """``site`` holds ``key``; ``changed``: the Var is no longer free (send it now)."""
        holders = self.holders.get(key)
        if holders is None:
            return []
        if len(holders) < MAX_HOLDERS:
            holders.add(site)
        return [SendRedirect(key, site)] if changed else []

    def on_bind_request(self, key: str, free: bool) -> bool:
        """Apply this request? Only the first one that finds the Var free wins."""
        return key in self.holders and free

    def on_changed(self, key: str) -> list[SendRedirect]:
        return [SendRedirect(key, site) for site in sorted(self.holders.get(key, ()))]

    def on_site_failed(self, site: str) -> None:
        for holders in self.holders.values():
            holders.discard(site)


@dataclass(slots=True)
class _Pending(Generic[T]):
    value: object
    ack: T
    failed: bool


@dataclass(slots=True)
class VarHolder(Generic[T]):
    """A proxy site's side: bind requests that wait for the owner's redirect."""

    pending: dict[tuple[str, str], list[_Pending[T]]] = field(default_factory=dict)

    def on_bind(self, owner: str, key: str, value: object, ack: T, failed: bool) -> None:
        self.pending.setdefault((owner, key), []).append(_Pending(value, ack, failed))

    def on_redirect(self, owner: str, key: str) -> list[_Pending[T]]:
        """The owner's answer arrived: these requests re-run against it."""
        return self.pending.pop((owner, key), [])

    def on_owner_failed(self, owner: str) -> list[_Pending[T]]:
        out: list[_Pending[T]] = []
        for ident in [i for i in self.pending if i[0] == owner]:
            out.extend(self.pending.pop(ident))
        return out
