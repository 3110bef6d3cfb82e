"""The migratory (cached, "mobile state") protocol, sans-IO (after Mozart 1.4's
``protocol_migratory.cc``).

Theory of operation
-------------------
A cached object has a *manager* at its home site and a *proxy* at every site that uses it, the
home included. The right to update the state - the *token*, which carries the state - is at
exactly one proxy at a time, or travelling between two. Methods run where the token is,
locally, in the invoking site.

Proxy states: ``EMPTY`` (no token, none asked for), ``REQUESTED`` (asked; operations wait),
``HERE`` (token held; operations run at once, with no message), ``LOST`` (the object failed
permanently; operations fail).

A move:

1. a proxy that needs the token sends ``GET(req)`` to the manager (``req`` counts its requests);
2. the manager appends ``(site, req)`` to its *chain* and sends ``FORWARD(site, req)`` to the
   previous last entry of the chain: requesters are thus served in the order the manager
   received their GETs;
3. that proxy sends ``PUT(req)`` with the state once it holds the token and no operation of its
   own is running.

So a move costs at most 3 messages, 2 when the home holds the token (the FORWARD is local),
and 0 when the token is already here. No chain passes through intermediate sites: each proxy
forwards at most once per request id, to the successor the manager named.

On arrival every operation waiting at the proxy runs, in arrival order, before the token can
leave again; operations that arrive while the token is here and a successor is named wait
for the next visit (so that a busy site cannot starve the others). The token never leaves
while an operation runs (``busy``). Nothing is lost or run twice: an operation is either
run once at a proxy holding the token or failed once.

The chain is trimmed without extra messages: a GET from a site proves that site passed the
token on for each of its earlier requests, so every entry up to its latest earlier entry is
dropped (the chain stays about as long as the number of sites taking turns).

Faults
------
* **Home dies** (the glue calls :meth:`MigratoryProxy.on_lost` on every proxy): the object is
  LOST everywhere, even on the proxy that holds the token (as Mozart's ``lostToken``).
* **A site in the chain dies** (the manager's :meth:`MigratoryManager.on_site_failed`): the
  manager runs an *inquiry*: every live site in the chain reports the status of its latest
  request (``holding``, ``passed``, ``waiting``). The token is alive if a live proxy holds it,
  or if it is in flight between two live proxies (a ``passed`` entry followed by a live
  ``waiting`` one). Dead entries after the token are skipped: their live predecessor gets a
  new FORWARD. Otherwise the token was at, or on its way to or from, the dead site: the object
  becomes LOST on every site (``LOST`` to each site in the chain, and to any later GET). It is
  never recreated from a stale copy.
* **A move in flight**: a PUT travels on a link that loses nothing while both sites live. If
  the sender dies after sending it, the receiver may still get it; if the manager has by then
  declared the object lost, the late token is discarded. A proxy whose successor's site has
  failed keeps the token (:meth:`MigratoryProxy.on_site_failed`) until the manager's inquiry
  names a new successor; if it had already shipped, the inquiry finds ``passed`` followed by
  a dead site and declares the object lost.
* **A PUT that never left** (queued for a site whose link failed before the PUT was written to
  any connection): the token comes back to its sender (:meth:`MigratoryProxy.on_put_undelivered`),
  which tells the manager (``SUCC_FAILED``); the inquiry then finds it ``holding``. A STATUS
  carries the request id whose token a proxy holds, so a token that came back for an entry
  the chain had already trimmed is still found. The manager also remembers which entry passes
  the token to the chain's head (``passed_from``): a token on its way from a dead site is lost.
* **A clean close** (:meth:`MigratoryProxy.on_hand_back`): a closing site that holds the token,
  idle and with no successor named, sends it home (``RETURN``); the manager passes it to the
  entry after that site's, or the home keeps it. A token that reaches a closing site later is
  handed back the same way. So closing a site loses no cached state.
* **A state that cannot travel** (not marshallable): the holder fails permanently with that
  error and passes the failure along the chain in place of the state (a ``failed`` PUT); each
  proxy that gets it fails its waiting operations and passes it on.

Invariants (asserted in tests): at most one proxy is ``HERE``; each proxy ships at most once
per request id; every operation handed to ``on_access`` is run exactly once or failed exactly
once; the manager's chain never names a site twice in a row.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

# shared with the other state machine; the glue names them through this module
from netobj.protocols.actions import Fail as Fail
from netobj.protocols.actions import Run as Run

T = TypeVar("T")

EMPTY: Final = "empty"
REQUESTED: Final = "requested"
HERE: Final = "here"
LOST: Final = "lost"

# statuses a proxy reports to an inquiry
HOLDING: Final = "holding"
PASSED: Final = "passed"
WAITING: Final = "waiting"
NONE: Final = "none"
SUCC_FAILED: Final = "succ_failed"  # not a status: "my successor's site failed"


class ProtocolViolation(Exception):
    """A message that the protocol cannot have produced (a bug or a hostile peer)."""


# -- actions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendGet:
    req: int


@dataclass(frozen=True, slots=True)
class SendPut:
    """Ship the state to ``site`` for its request ``req`` (the glue encodes the state; with
    ``failure`` set, the failure travels instead of the state)."""

    site: str
    req: int
    failure: str = ""


@dataclass(frozen=True, slots=True)
class SendStatus:
    """Proxy -> manager: the latest request ``req`` and its ``status``, and the request whose
    token is held here (``held``, -1 for none); with status ``SUCC_FAILED``, ``dead`` names
    the failed successor site."""

    req: int
    status: str
    dead: str = ""
    held: int = -1


@dataclass(frozen=True, slots=True)
class Install:
    """The state arrived: install it before running anything."""


@dataclass(frozen=True, slots=True)
class SendForward:
    """Manager -> proxy at ``site``: after your request ``req``, ship to (``succ``, ``succ_req``)
    (``succ`` "" = no successor: keep the token)."""

    site: str
    req: int
    succ: str
    succ_req: int


@dataclass(frozen=True, slots=True)
class SendInquire:
    site: str


@dataclass(frozen=True, slots=True)
class SendLost:
    site: str
    reason: str


ProxyAction = SendGet | SendPut | SendStatus | Run[T] | Fail[T] | Install
ManagerAction = SendForward | SendInquire | SendLost


class MigratoryProxy(Generic[T]):
    """One site's side of a cached object. ``T`` is the glue's operation token.

    ``held`` is the request id for which the token is here (-1: not here); ``requested``
    says that the latest request ``req`` is outstanding. Both can hold at once when a token
    came back (its PUT could not be delivered) after this proxy had asked again."""

    __slots__ = ("busy", "dead", "failure", "free", "held", "next_successor", "req",
                 "requested", "shipped", "successor", "waiting")

    def __init__(self, holding: bool = False) -> None:
        self.req = 0  # id of the latest request (0: the home's initial holding)
        self.held = 0 if holding else -1
        self.requested = False
        self.shipped = -1  # the request id whose token was last shipped
        self.successor: tuple[str, int] | None = None  # after the visit we hold (``held``)
        # after the visit we asked for, while still holding an older one (a returned token)
        self.next_successor: tuple[str, int] | None = None
        self.waiting: deque[T] = deque()
        self.busy = 0
        self.failure = ""
        self.dead: set[str] = set()
        self.free = holding  # here, no successor, nothing running or waiting: run inline

    def __repr__(self) -> str:
        return (f"<MigratoryProxy {self.state} req={self.req} held={self.held} "
                f"succ={self.successor} busy={self.busy} waiting={len(self.waiting)}>")

    @property
    def state(self) -> str:
        if self.failure:
            return LOST
        if self.held >= 0:
            return HERE
        return REQUESTED if self.requested else EMPTY

    def _update(self) -> None:
        self.free = (self.held >= 0 and self.successor is None and not self.busy
                     and not self.waiting and not self.failure)

    # -- events -----------------------------------------------------------------------------

    def on_access(self, op: T) -> list[ProxyAction[T]]:
        """An operation wants the state."""
        out: list[ProxyAction[T]] = []
        if self.failure:
            out.append(Fail([op], self.failure))
        elif self.held >= 0 and self.successor is None:
            self.busy += 1
            out.append(Run([op]))
        else:
            self.waiting.append(op)
            if self.held < 0 and not self.requested:
                out.append(self._request())
        self._update()
        return out

    def on_put(self, req: int, failure: str = "") -> list[ProxyAction[T]]:
        """The token arrived for request ``req`` (with ``failure``: the state could not travel)."""
        if self.failure:
            # Discarded (the object was declared lost); a poisoned token still travels on.
            return self._pass_failure() if failure else []
        if not self.requested or req != self.req or self.held >= 0:
            raise ProtocolViolation(f"token for request {req} in state {self.state} "
                                    f"(latest request {self.req})")
        self.requested = False
        if failure:
            return self._fail(failure, pass_on=True)
        return self._arrived(req)

    def on_put_undelivered(self, site: str, req: int) -> list[ProxyAction[T]]:
        """Our PUT to ``site`` (for its request ``req``) was never written to any connection
        and ``site`` failed: the token is still ours. Keep it; tell the manager."""
        self.dead.add(site)
        if self.failure or self.held >= 0 or self.shipped < 0:
            return []
        held = self.shipped
        self.shipped = -1
        if self.requested:  # a successor named so far is for the visit we asked for
            self.next_successor, self.successor = self.successor, None
        out = self._arrived(held)
        out.append(SendStatus(held, SUCC_FAILED, site))
        return out

    def on_forward(self, req: int, succ: str, succ_req: int) -> list[ProxyAction[T]]:
        """The manager names the successor after our request ``req`` ("" for none)."""
        if self.failure:
            if succ and self.shipped < req:
                # we hold a poisoned token: pass the failure on
                self.successor = (succ, succ_req)
                return self._pass_failure()
            return []
        if not (req == self.held or (req == self.req and self.requested)):
            # Stale: we already shipped for that request. Tell the manager (its inquiry may
            # have assumed otherwise).
            return [SendStatus(req, PASSED if self.shipped >= req else NONE, held=self.held)]
        named = (succ, succ_req) if succ and succ not in self.dead else None
        if req != self.held:  # for the visit we asked for, not the one we hold
            if self.held >= 0:
                self.next_successor = named
                return []
        self.successor = named
        out = self._maybe_ship() if named is not None else self._resume()
        self._update()
        return out

    def on_done(self, n: int = 1) -> list[ProxyAction[T]]:
        """``n`` operations handed out by Run finished."""
        if self.busy < n:
            raise ProtocolViolation("on_done without running operations")
        self.busy -= n
        out = self._maybe_ship()
        self._update()
        return out

    def on_site_failed(self, site: str) -> list[ProxyAction[T]]:
        """``site`` failed permanently: never ship to it. A successor there is forgotten; the
        manager hears of it (``SUCC_FAILED``) and names a new one."""
        self.dead.add(site)
        out: list[ProxyAction[T]] = []
        if self.successor is not None and self.successor[0] == site and not self.failure:
            self.successor = None
            out.append(SendStatus(self.held if self.held >= 0 else self.req, SUCC_FAILED,
                                  site))
            out.extend(self._resume())
        if self.next_successor is not None and self.next_successor[0] == site:
            self.next_successor = None
        self._update()
        return out

    def on_hand_back(self) -> int:
        """This site is closing: give the token (held, idle, no successor) back to the home.
        Returns the request id it was held for (the glue sends RETURN with the state), or -1
        when there is nothing to hand back now."""
        if (self.failure or self.held < 0 or self.busy or self.successor is not None
                or self.requested or self.waiting):
            return -1
        held = self.held
        self.shipped = held
        self.held = -1
        self._update()
        return held

    def on_adopt(self) -> list[ProxyAction[T]]:
        """(Home only.) A closing site handed the token back and nobody is waiting for it: hold
        it here, as if for a new request of ours."""
        self.req += 1
        self.requested = False
        return self._arrived(self.req)

    def on_inquire(self) -> list[ProxyAction[T]]:
        return [self._status()]

    def _status(self) -> SendStatus:
        if self.requested:
            status = WAITING
        elif self.held == self.req:
            status = HOLDING
        elif self.shipped >= 0 and self.shipped == self.req:
            status = PASSED
        else:
            status = NONE
        return SendStatus(self.req, status, held=self.held)

    def on_lost(self, reason: str) -> list[ProxyAction[T]]:
        """The object failed permanently (home died, or the manager says the token is lost)."""
        if self.failure:
            return []
        return self._fail(reason, pass_on=False)

    def on_state_unmarshallable(self, site: str, req: int,
                                reason: str) -> list[ProxyAction[T]]:
        """The glue could not encode the state for ``SendPut(site, req)``: the object fails
        here, and the failure travels to that successor in place of the state."""
        self.failure = reason
        ops = list(self.waiting)
        self.waiting.clear()
        out: list[ProxyAction[T]] = [Fail(ops, reason)] if ops else []
        out.append(SendPut(site, req, reason))
        self._update()
        return out

    # -- internals --------------------------------------------------------------------------

    def _arrived(self, req: int) -> list[ProxyAction[T]]:
        self.held = req
        if req == self.req and self.next_successor is not None:
            self.successor, self.next_successor = self.next_successor, None
        out: list[ProxyAction[T]] = [Install()]
        if self.waiting:
            ops = list(self.waiting)
            self.waiting.clear()
            self.busy += len(ops)
            out.append(Run(ops))
        out.extend(self._maybe_ship())
        self._update()
        return out

    def _resume(self) -> list[ProxyAction[T]]:
        """The token is here with no successor any more: what waited for it runs now."""
        if self.held < 0 or self.successor is not None or not self.waiting:
            return []
        ops = list(self.waiting)
        self.waiting.clear()
        self.busy += len(ops)
        return [Run(ops)]

    def _request(self) -> SendGet:
        self.req += 1
        self.requested = True
        return SendGet(self.req)

    def _maybe_ship(self) -> list[ProxyAction[T]]:
        if self.held < 0 or self.successor is None or self.busy:
            return []
        site, req = self.successor
        self.successor = None
        self.shipped = self.held
        self.held = -1
        out: list[ProxyAction[T]] = [SendPut(site, req)]
        if self.waiting and not self.requested:
            out.append(self._request())
        return out

    def _fail(self, reason: str, pass_on: bool) -> list[ProxyAction[T]]:
        self.failure = reason
        ops = list(self.waiting)
        self.waiting.clear()
        out: list[ProxyAction[T]] = [Fail(ops, reason)] if ops else []
        if pass_on:
            out.extend(self._pass_failure())
        self._update()
        return out

    def _pass_failure(self) -> list[ProxyAction[T]]:
        if self.successor is None:
            return []
        site, req = self.successor
        self.successor = None
        self.shipped = self.req
        return [SendPut(site, req, self.failure)]


class MigratoryManager:
    """The home's side of a cached object: the chain of requesters, and the fault inquiry."""

    __slots__ = ("chain", "dead", "home", "lost", "passed_from", "pending", "repairs",
                 "statuses")

    def __init__(self, home: str) -> None:
        self.home = home
        # entries (site, req): the token passes along them, left to right
        self.chain: deque[tuple[str, int]] = deque([(home, 0)])
        # the trimmed entry that passes (or passed) the token to chain[0]
        self.passed_from: tuple[str, int] | None = None
        self.lost = ""
        self.dead: set[str] = set()
        self.pending: set[str] = set()  # sites whose STATUS the inquiry still waits for
        self.statuses: dict[str, tuple[int, str, int]] = {}
        # re-forwards made by an inquiry: (site, req) -> the dead site they skip
        self.repairs: dict[tuple[str, int], str] = {}

    def __repr__(self) -> str:
        return f"<MigratoryManager chain={list(self.chain)} lost={self.lost!r}>"

    def on_get(self, site: str, req: int) -> list[ManagerAction]:
        if self.lost:
            return [SendLost(site, self.lost)]
        if site in self.dead:
            return []
        chain = self.chain
        # Trim: the requester passed the token on for each of its earlier requests.
        last_own = -1
        for i, (s, _) in enumerate(chain):
            if s == site:
                last_own = i
        if last_own >= 0 and last_own < len(chain) - 1:
            for _ in range(last_own + 1):
                self.passed_from = chain.popleft()
        elif last_own == len(chain) - 1:
            raise ProtocolViolation(f"GET {req} from {site}, which is last in the chain")
        prev_site, prev_req = chain[-1]
        chain.append((site, req))
        return [SendForward(prev_site, prev_req, site, req)]

    def on_return(self, site: str, req: int) -> tuple[str, int] | None:
        """A closing site handed back the token it held for ``req``. Returns the entry that
        gets it next (its request), or None when the home should keep it (then call
        :meth:`adopted` with the home proxy's request id)."""
        if self.lost:
            raise ProtocolViolation(f"RETURN for ({site}, {req}) of a lost object")
        chain = list(self.chain)
        if (site, req) not in chain:
            # Its entry was trimmed: it held the token, so it comes before every entry.
            self.chain.appendleft((site, req))
            chain.insert(0, (site, req))
        i = chain.index((site, req))
        for _ in range(i + 1):
            self.repairs.pop(self.chain.popleft(), None)  # it handed back: it sent nothing
        self.passed_from = (self.home, -1)  # the state now travels from the home
        self.dead.add(site)  # it closed: never forward to it again
        while self.chain and self.chain[0][0] in self.dead:
            self.chain.popleft()  # (cannot happen: a closing site does not request)
        return self.chain[0] if self.chain else None

    def adopted(self, req: int) -> None:
        self.chain = deque([(self.home, req)])
        self.passed_from = None

    def on_site_failed(self, site: str) -> list[ManagerAction]:
        """A site failed permanently: start (or restart) an inquiry if it is in the chain."""
        if self.lost or site in self.dead:
            return []
        self.dead.add(site)
        self.pending.discard(site)
        self.statuses.pop(site, None)
        if not any(s == site for s, _ in self.chain):
            return self._decide() if self.pending else []
        ask = {s for s, _ in self.chain if s not in self.dead}
        self.pending = set(ask)
        self.statuses = {}
        if not ask:  # nobody left to ask: decide on what we know
            return self._decide()
        return [SendInquire(s) for s in sorted(ask)]

    def on_status(self, site: str, req: int, status: str, held: int = -1,
                  dead: str = "") -> list[ManagerAction]:
        if self.lost:
            return []
        if status == SUCC_FAILED:
            # The proxy's successor failed (its PUT, if any, was never delivered).
            return self.on_site_failed(dead) if dead and dead != self.home else []
        repaired = self.repairs.pop((site, req), None)
        if repaired is not None and status == PASSED:
            # It shipped to the dead site before our new FORWARD reached it: lost there.
            return self._declare_lost(f"the object's state was sent to failed site {repaired}")
        if site not in self.pending:
            return []
        self.pending.discard(site)
        self.statuses[site] = (req, status, held)
        return self._decide() if not self.pending else []

    def _decide(self) -> list[ManagerAction]:
        chain = list(self.chain)
        classes: list[str] = []
        for s, r in chain:
            if s in self.dead:
                classes.append("dead")
                continue
            latest, status, held = self.statuses.get(s, (r, WAITING, -1))
            if r == held:
                classes.append(HOLDING)
            elif r < latest:
                classes.append(PASSED)
            elif r == latest:
                classes.append(PASSED if status == PASSED else WAITING)
            else:
                classes.append(WAITING)
        holders = [(s, st[2]) for s, st in sorted(self.statuses.items())
                   if st[2] >= 0 and s not in self.dead]
        if holders and holders[0] not in chain:
            # A token that came back to a site whose entry the chain had trimmed.
            chain.insert(0, holders[0])
            classes.insert(0, HOLDING)
        dead_sites = sorted({s for s, _ in chain if s in self.dead})
        if HOLDING in classes:
            token = classes.index(HOLDING)
        else:
            passed = [i for i, c in enumerate(classes) if c == PASSED]
            p = passed[-1] if passed else -1
            nxt = p + 1
            sender = chain[p][0] if p >= 0 else (
                self.passed_from[0] if self.passed_from is not None else self.home)
            if nxt >= len(chain) or classes[nxt] == "dead" or sender in self.dead:
                # the token was at a dead site, or on its way from or to one
                return self._declare_lost(
                    f"the site holding the object's state failed ({', '.join(dead_sites)})")
            token = nxt  # in flight to a live waiting proxy (or there already)
        # Alive: drop the entries before the token, and skip dead entries after it.
        out: list[ManagerAction] = []
        kept: deque[tuple[str, int]] = deque([chain[token]])
        i = token + 1
        while i < len(chain):
            if classes[i] != "dead":
                kept.append(chain[i])
                i += 1
                continue
            j = i
            while j < len(chain) and classes[j] == "dead":
                j += 1
            pred_site, pred_req = kept[-1]
            skipped = chain[i][0]
            if j < len(chain):
                succ_site, succ_req = chain[j]
                out.append(SendForward(pred_site, pred_req, succ_site, succ_req))
            else:
                out.append(SendForward(pred_site, pred_req, "", 0))
            self.repairs[(pred_site, pred_req)] = skipped
            i = j
        if token > 0:
            self.passed_from = chain[token - 1]
        self.chain = kept
        self.statuses = {}
        return out

    def _declare_lost(self, reason: str) -> list[ManagerAction]:
        self.lost = reason
        sites = sorted({s for s, _ in self.chain if s not in self.dead} | {self.home})
        self.chain.clear()
        self.pending.clear()
        return [SendLost(s, reason) for s in sites]
