"""The migratory machines alone (no site, no network), driven by hypothesis-chosen schedules.

A tiny harness delivers messages between one manager and four proxies through FIFO queues
(one per ordered pair), runs and finishes operations, and crashes at most one non-home site.
After every step: never two tokens (held or travelling). At the end, once quiescent: every
operation ran exactly once or failed exactly once, and without a crash nothing failed.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netobj.protocols import migratory as mig

HOME = "H"
SITES = ["H", "A", "B", "C"]


@dataclass
class World:
    manager: mig.MigratoryManager = field(default_factory=lambda: mig.MigratoryManager(HOME))
    proxies: dict[str, mig.MigratoryProxy[int]] = field(default_factory=dict)
    queues: dict[tuple[str, str], deque[tuple[str, Any]]] = field(default_factory=dict)
    running: list[tuple[str, list[int]]] = field(default_factory=list)
    ran: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    issued: int = 0
    dead: set[str] = field(default_factory=set)
    moves: int = 0
    move_messages: int = 0

    def __post_init__(self) -> None:
        for s in SITES:
            self.proxies[s] = mig.MigratoryProxy(holding=s == HOME)

    def send(self, src: str, dst: str, msg: tuple[str, Any]) -> None:
        if msg[0] in ("get", "forward", "put") and src != dst:
            self.move_messages += 1
        if src == dst:
            self.deliver(src, dst, msg)
        else:
            self.queues.setdefault((src, dst), deque()).append(msg)

    def proxy_actions(self, site: str, actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, mig.Run):
                self.running.append((site, list(a.ops)))
            elif isinstance(a, mig.Fail):
                self.failed.extend(a.ops)
            elif isinstance(a, mig.SendGet):
                self.send(site, HOME, ("get", a.req))
            elif isinstance(a, mig.SendPut):
                self.send(site, a.site, ("put", (a.req, a.failure)))
            elif isinstance(a, mig.SendStatus):
                self.send(site, HOME, ("status", a))

    def manager_actions(self, actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, mig.SendForward):
                self.send(HOME, a.site, ("forward", (a.req, a.succ, a.succ_req)))
            elif isinstance(a, mig.SendInquire):
                self.send(HOME, a.site, ("inquire", None))
            elif isinstance(a, mig.SendLost):
                self.send(HOME, a.site, ("lost", a.reason))

    def deliver(self, src: str, dst: str, msg: tuple[str, Any]) -> None:
        if dst in self.dead:
            return
        kind, body = msg
        p = self.proxies[dst]
        if kind == "get":
            self.manager_actions(self.manager.on_get(src, body))
        elif kind == "status":
            self.manager_actions(self.manager.on_status(src, body.req, body.status, body.held,
                                                        body.dead))
        elif kind == "forward":
            self.proxy_actions(dst, p.on_forward(*body))
        elif kind == "put":
            req, failure = body
            if not failure:
                self.moves += 1
            self.proxy_actions(dst, p.on_put(req, failure))
        elif kind == "inquire":
            self.proxy_actions(dst, p.on_inquire())
        elif kind == "lost":
            self.proxy_actions(dst, p.on_lost(body))

    def tokens(self) -> int:
        held = sum(1 for s, p in self.proxies.items() if s not in self.dead and p.held >= 0)
        flying = sum(1 for (_, d), q in self.queues.items() if d not in self.dead
                     for kind, body in q if kind == "put" and not body[1])
        return held + flying

    # -- steps ------------------------------------------------------------------------------

    def access(self, site: str) -> None:
        if site in self.dead:
            return
        op = self.issued
        self.issued += 1
        self.proxy_actions(site, self.proxies[site].on_access(op))

    def step_queue(self, index: int) -> bool:
        ready = sorted(k for k, q in self.queues.items() if q)
        if not ready:
            return False
        src, dst = ready[index % len(ready)]
        self.deliver(src, dst, self.queues[(src, dst)].popleft())
        return True

    def finish(self, index: int) -> bool:
        live = [i for i, (s, _) in enumerate(self.running) if s not in self.dead]
        if not live:
            return False
        site, ops = self.running.pop(live[index % len(live)])
        self.ran.extend(ops)
        self.proxy_actions(site, self.proxies[site].on_done(len(ops)))
        return True

    def crash(self, victim: str, written: bool) -> None:
        """``victim`` dies; PUTs queued to it were ``written`` (maybe delivered, now lost)
        or never left their sender (taken back)."""
        self.dead.add(victim)
        for (src, dst), q in list(self.queues.items()):
            if src == victim:
                q.clear()  # in flight from the dead site: lost
            if dst == victim:
                for kind, body in q:
                    if kind == "put" and not written and not body[1]:
                        self.proxy_actions(src, self.proxies[src].on_put_undelivered(
                            victim, body[0]))
                q.clear()
        self.running = [(s, ops) for s, ops in self.running if s != victim]
        self.manager_actions(self.manager.on_site_failed(victim))
        for s in SITES:
            if s not in self.dead:
                self.proxy_actions(s, self.proxies[s].on_site_failed(victim))

    def quiesce(self) -> None:
        for _ in range(10_000):
            if not (self.step_queue(0) or self.finish(0)):
                return
        raise AssertionError("no quiescence")


steps = st.lists(st.tuples(st.sampled_from(["access", "deliver", "finish", "crash"]),
                           st.integers(0, 50), st.booleans()), max_size=120)


def _ops_of(world: World, site: str) -> int:
    return sum(len(ops) for s, ops in world.running if s == site)


@settings(max_examples=400, deadline=None)
@given(steps)
def test_one_token_every_op_once_and_no_loss_without_a_crash(schedule: list[Any]) -> None:
    w = World()
    crashed = False
    for kind, n, flag in schedule:
        if kind == "access":
            w.access(SITES[n % 4])
        elif kind == "deliver":
            w.step_queue(n)
        elif kind == "finish":
            w.finish(n)
        elif kind == "crash" and not crashed and flag:
            crashed = True
            w.crash(SITES[1 + n % 3], written=n % 2 == 0)
        assert w.tokens() <= 1
        for s, p in w.proxies.items():
            assert p.busy == _ops_of(w, s) or s in w.dead
    w.quiesce()
    assert w.tokens() <= 1
    # every operation of a live site ran once or failed once; none waits for ever
    done = w.ran + w.failed
    assert len(done) == len(set(done))
    waiting = [op for s, p in w.proxies.items() if s not in w.dead for op in p.waiting]
    assert not waiting, f"operations left waiting: {waiting}"
    if not crashed:
        assert not w.failed
        assert w.tokens() == 1
        assert sorted(w.ran) == list(range(w.issued))
        # each move cost at most three messages
        assert w.move_messages <= 3 * w.moves + sum(
            1 for p in w.proxies.values() if p.requested)
    elif not w.manager.lost:
        assert w.tokens() == 1  # it lived on: with exactly one token


def test_three_two_zero() -> None:
    w = World()
    w.access("A")  # GET to the home, FORWARD is local, PUT from the home: 2 messages
    w.quiesce()
    assert (w.moves, w.move_messages) == (1, 2)
    w.access("A")  # here: none
    w.quiesce()
    assert (w.moves, w.move_messages) == (1, 2)
    w.access("B")  # GET, FORWARD to A, PUT from A: 3
    w.quiesce()
    assert (w.moves, w.move_messages) == (2, 5)
    assert sorted(w.ran) == [0, 1, 2]


def test_requesters_are_served_in_the_order_the_manager_got_them() -> None:
    w = World()
    w.access("A")
    w.quiesce()
    w.running.clear()
    w.proxies["A"].busy = 1  # A is inside a method: the state cannot leave yet
    w.access("C")
    w.access("B")
    w.deliver("C", "H", w.queues[("C", "H")].popleft())  # the manager hears C first
    w.deliver("B", "H", w.queues[("B", "H")].popleft())
    assert [s for s, _ in w.manager.chain][-2:] == ["C", "B"]
    w.proxies["A"].busy = 0
    w.proxy_actions("A", w.proxies["A"].on_done(0))
    w.quiesce()
    order = [op for op in w.ran]
    assert order.index(1) < order.index(2)  # C's call (op 1) before B's (op 2)


@pytest.mark.parametrize("chunk", range(10))
def test_3000_seeded_schedules_with_crashes(chunk: int) -> None:
    """Seeded random schedules, most with a crash of a random non-home site at a random
    moment (its PUTs in flight either written - lost with it - or never written - taken
    back). Whatever happens, nothing waits for ever, and a surviving object has one token."""
    outcomes: Counter[str] = Counter()
    for seed in range(chunk * 300, (chunk + 1) * 300):
        rng = random.Random(seed)
        w = World()
        crashed = False
        for _ in range(rng.randint(10, 120)):
            kind = rng.choice(["access", "deliver", "deliver", "finish", "crash"])
            n = rng.randint(0, 50)
            if kind == "access":
                w.access(SITES[n % 4])
            elif kind == "deliver":
                w.step_queue(n)
            elif kind == "finish":
                w.finish(n)
            elif kind == "crash" and not crashed and rng.random() < 0.3:
                crashed = True
                w.crash(SITES[1 + n % 3], written=n % 2 == 0)
            assert w.tokens() <= 1, seed
        w.quiesce()
        waiting = [op for s, p in w.proxies.items() if s not in w.dead for op in p.waiting]
        assert not waiting, f"seed {seed}: operations left waiting"
        done = w.ran + w.failed
        assert len(done) == len(set(done)), seed
        if w.manager.lost:
            outcomes["lost"] += 1
        else:
            assert w.tokens() == 1, seed
            outcomes["crash survived" if crashed else "no crash"] += 1
    assert outcomes["lost"] and outcomes["crash survived"], outcomes
