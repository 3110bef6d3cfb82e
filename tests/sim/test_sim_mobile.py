"""Cached (migratory) and replicated objects on the simulated network, over seeded schedules.

Every run is deterministic: a failing seed replays exactly (the seed is in the failure note).
Message counts are asserted exactly where the protocol fixes them; recorded histories are
checked for linearizability (tests/support/linearizability.py).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

import netobj
from netobj.mobile import CachedEntity, ReplicaEntity
from netobj.testing import SimNetwork
from tests.support.linearizability import Op, check, counter_model, stale_observations
from tests.support.simulation import simulate
from tests.support.sites.objects import MovingCounter, SharedCounter

MOVE_KINDS = ("mobile.get", "mobile.forward", "mobile.put")


def _moves_sent(sites: list[netobj.Site]) -> int:
    return sum(s.messages_sent[k] for s in sites for k in MOVE_KINDS)


def _mobile_sent(sites: list[netobj.Site]) -> int:
    return sum(n for s in sites for k, n in s.messages_sent.items() if k.startswith("mobile."))


def _entity(site: netobj.Site, proxy: Any) -> Any:
    return object.__getattribute__(proxy, "_netobj_m")


async def _until(condition: Any, step: float = 0.05) -> None:
    """Poll a condition on the (virtual) clock; callers bound it with wait_for."""
    while not condition():
        await asyncio.sleep(step)


async def _timed(history: list[Op], who: str, name: str, arg: Any, var: Any) -> Any:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    result = await var
    history.append(Op(who, t0, loop.time(), name, arg, result))
    return result


# -- cached -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(500))
def test_cached_moves_cost_3_2_0_messages_and_histories_are_linearizable(seed: int) -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, a, _b, _c = sites
        ticket = home.offer(MovingCounter())
        proxies = [await s.take(ticket) for s in sites]
        ph, pa, pb, _ = proxies
        history: list[Op] = []

        # the home holds the state: a move costs GET + PUT (the FORWARD is local)
        before = _moves_sent(sites)
        assert await _timed(history, "1", "inc", 1, pa.inc(1)) == 1
        assert _moves_sent(sites) - before == 2
        assert a.messages_sent["mobile.get"] == 1 and home.messages_sent["mobile.put"] == 1
        # already here: no message at all
        before_all = sum(sum(s.messages_sent.values()) for s in sites)
        for _ in range(rng.randint(1, 5)):
            await _timed(history, "1", "inc", 1, pa.inc(1))
        assert sum(sum(s.messages_sent.values()) for s in sites) == before_all
        # held by another client: GET, FORWARD, PUT
        before = _moves_sent(sites)
        await _timed(history, "2", "inc", 1, pb.inc(1))
        assert _moves_sent(sites) - before == 3
        assert home.messages_sent["mobile.forward"] == 1

        # concurrent requesters, random timing, the home included
        async def worker(k: int, p: Any) -> None:
            for _ in range(rng.randint(4, 12)):
                if rng.random() < 0.4:
                    await asyncio.sleep(rng.uniform(0, 0.02))
                if rng.random() < 0.75:
                    await _timed(history, str(k), "inc", 1, p.inc(1))
                else:
                    await _timed(history, str(k), "get", None, p.get())

        await asyncio.wait_for(asyncio.gather(*(worker(k, p) for k, p in enumerate(proxies))),
                               600)
        entities = [_entity(s, p) for s, p in zip(sites, proxies, strict=True)]
        assert all(isinstance(e, CachedEntity) for e in entities)
        moves = sum(e.moves_in for e in entities)
        puts = sum(s.messages_sent["mobile.put"] for s in sites)
        assert puts == moves  # every PUT arrived and was installed once
        assert _moves_sent(sites) <= 3 * moves
        for s, e in zip(sites, entities, strict=True):
            # each request made away from the home is one GET, answered by one move
            assert s.messages_sent["mobile.get"] == (0 if s is home else e.moves_in)
        # the home forwards only for moves whose previous holder was not the home
        assert home.messages_sent["mobile.forward"] <= moves
        assert sum(e.machine.state == "here" for e in entities) == 1
        assert check(history, counter_model, 0), "the history is not linearizable"
        incs = sorted(op.result for op in history if op.name == "inc")
        assert incs == list(range(1, len(incs) + 1))  # none lost, none run twice
        assert await ph.get() == len(incs)

    simulate(seed, 4, scenario)


@pytest.mark.parametrize("seed", range(30))
def test_cached_holder_crash_fails_the_object_everywhere_and_nothing_hangs(seed: int) -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, _a, _b, _c = sites
        ticket = home.offer(MovingCounter())
        ph, pa, pb, pc = [await s.take(ticket) for s in sites]
        assert await pa.inc() == 1  # the state is at a
        busy = pa.slow_inc(rng.uniform(1, 5))  # holds it there for a while
        waiting = [pb.inc(), pc.inc(), ph.inc(), pb.get()]
        await asyncio.sleep(rng.uniform(0.05, 0.5))
        net.crash("h1")
        for v in waiting:
            with pytest.raises(netobj.PermFailure, match="failed"):
                await asyncio.wait_for(v, 600)
        for p in (ph, pb, pc):
            assert netobj.fault_state(p) == "perm_fail"
            with pytest.raises(netobj.PermFailure):  # at once: never recreated
                await asyncio.wait_for(p.inc(), 1)
        busy.result() if busy.done() else None

    simulate(seed, 4, scenario)


def test_cached_home_crash_fails_every_proxy_even_the_holder() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, _a, _b = sites
        ticket = home.offer(MovingCounter())
        _ph, pa, pb = [await s.take(ticket) for s in sites]
        assert await pa.inc() == 1
        waiting = pb.inc()
        net.crash("h0")
        with pytest.raises(netobj.PermFailure, match="home"):
            await asyncio.wait_for(waiting, 120)
        # a holds the state, and runs calls locally until it learns that the home is gone
        await asyncio.wait_for(_until(lambda: netobj.fault_state(pa) == "perm_fail"), 600)
        for p in (pa, pb):
            with pytest.raises(netobj.PermFailure, match="home"):
                await asyncio.wait_for(p.inc(), 120)
            assert netobj.fault_state(p) == "perm_fail"

    simulate(3, 3, scenario)


@pytest.mark.parametrize("seed", range(20))
def test_cached_waiting_site_crash_is_skipped_and_the_object_lives(seed: int) -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, _a, _b, _c = sites
        ticket = home.offer(MovingCounter())
        ph, pa, pb, pc = [await s.take(ticket) for s in sites]
        assert await pa.inc() == 1
        busy = pa.slow_inc(3.0)  # a holds the state for 3 s
        await asyncio.sleep(0.1)
        doomed = pb.inc()  # b waits in the chain
        await asyncio.sleep(rng.uniform(0.05, 0.3))
        later = pc.inc()  # then c
        await asyncio.sleep(rng.uniform(0.05, 0.3))
        net.crash("h2")  # b dies before its turn
        assert await asyncio.wait_for(busy, 120) == 2
        assert await asyncio.wait_for(later, 120) == 3  # b was skipped; nothing lost
        assert not doomed.done() or doomed.failed()
        assert await asyncio.wait_for(ph.inc(), 120) == 4
        assert netobj.fault_state(pc) == "ok"

    simulate(seed, 4, scenario)


@pytest.mark.parametrize("seed", range(40))
def test_cached_crash_at_a_random_moment_loses_no_increment(seed: int) -> None:
    """Crash a random non-home site during a random workload: every call ends (no hang); if
    the object lives on, its value continues from every value ever observed (no stale copy)."""

    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        ticket = sites[0].offer(MovingCounter())
        proxies = [await s.take(ticket) for s in sites]
        victim = rng.randrange(1, len(sites))
        results: list[int] = []
        failures = 0

        async def worker(k: int, p: Any) -> None:
            nonlocal failures
            for _ in range(rng.randint(5, 15)):
                await asyncio.sleep(rng.uniform(0, 0.05))
                try:
                    results.append(await asyncio.wait_for(p.inc(), 300))
                except netobj.PermFailure:
                    failures += 1
                    return

        async def crash() -> None:
            await asyncio.sleep(rng.uniform(0, 0.4))
            net.crash(f"h{victim}")

        survivors = [p for k, p in enumerate(proxies) if k != victim]
        await asyncio.wait_for(asyncio.gather(
            crash(), *(worker(k, p) for k, p in enumerate(proxies) if k != victim)), 900)
        assert len(results) == len(set(results))  # no increment observed twice
        try:
            final = await asyncio.wait_for(survivors[0].inc(), 300)
        except netobj.PermFailure:
            for p in survivors:
                assert netobj.fault_state(p) == "perm_fail"
        else:
            assert final > max(results, default=0)

    simulate(seed, 4, scenario)


def test_cached_unmarshallable_state_fails_the_object_with_the_reason() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, _a = sites
        counter = MovingCounter()
        ticket = home.offer(counter)
        ph, pa = [await s.take(ticket) for s in sites]
        counter.visits.append(object())  # type: ignore[arg-type]  # cannot travel
        with pytest.raises(netobj.PermFailure, match="cannot marshal"):
            await asyncio.wait_for(pa.inc(), 60)
        with pytest.raises(netobj.PermFailure, match="cannot marshal"):
            await asyncio.wait_for(ph.inc(), 60)

    simulate(4, 2, scenario)


# -- replicated -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(200))
def test_replicated_reads_are_free_writes_invalidate_and_histories_linearize(seed: int) -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home = sites[0]
        ticket = home.offer(SharedCounter())
        proxies = [await s.take(ticket) for s in sites]
        history: list[Op] = []
        for k, p in enumerate(proxies):  # subscribe everyone
            await _timed(history, str(k), "get", None, p.get())
        before = sum(sum(s.messages_sent.values()) for s in sites)
        for _ in range(rng.randint(1, 10)):  # reads on valid copies: no message
            k = rng.randrange(len(proxies))
            await _timed(history, str(k), "get", None, proxies[k].get())
        assert sum(sum(s.messages_sent.values()) for s in sites) == before
        # one write: the call, INVALIDATE + INVALID per reader, COMMIT per reader, the reply
        readers = len(sites) - 1
        before_m = _mobile_sent(sites)
        await _timed(history, "1", "inc", 1, proxies[1].inc(1))
        assert _mobile_sent(sites) - before_m == 3 * readers

        async def worker(k: int, p: Any) -> None:
            for _ in range(rng.randint(4, 12)):
                if rng.random() < 0.4:
                    await asyncio.sleep(rng.uniform(0, 0.02))
                if rng.random() < 0.4:
                    await _timed(history, str(k), "inc", 1, p.inc(1))
                else:
                    await _timed(history, str(k), "get", None, p.get())

        await asyncio.wait_for(asyncio.gather(*(worker(k, p) for k, p in enumerate(proxies))),
                               600)
        assert check(history, counter_model, 0), "the history is not linearizable"
        assert not stale_observations(history)
        incs = sorted(op.result for op in history if op.name == "inc")
        assert incs == list(range(1, len(incs) + 1))
        for k, p in enumerate(proxies):
            assert await p.get() == len(incs), k

    simulate(seed, 4, scenario)


@pytest.mark.parametrize("seed", range(10))
def test_replicated_crashed_reader_does_not_block_writes(seed: int) -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, _a, _b = sites
        ticket = home.offer(SharedCounter())
        ph, pa, pb = [await s.take(ticket) for s in sites]
        assert await pa.get() == 0 and await pb.get() == 0  # both are readers
        await asyncio.sleep(rng.uniform(0, 0.2))
        net.crash("h1")
        assert await asyncio.wait_for(pb.inc(5), 120) == 5
        assert await pb.get() == 5 and await ph.get() == 5

    simulate(seed, 3, scenario)


def test_replicated_home_crash_fails_every_replica() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, a = sites
        ticket = home.offer(SharedCounter())
        pa = await a.take(ticket)
        assert await pa.get() == 0
        net.crash("h0")
        with pytest.raises(netobj.PermFailure, match="refused"):  # a write: a call home
            await asyncio.wait_for(pa.inc(), 120)
        with pytest.raises(netobj.PermFailure, match="home site failed"):  # the copy too
            await asyncio.wait_for(pa.get(), 120)
        assert netobj.fault_state(pa) == "perm_fail"
        assert isinstance(_entity(a, pa), ReplicaEntity)

    simulate(5, 2, scenario)


@pytest.mark.parametrize("seed", range(20))
def test_cached_state_goes_home_when_its_holder_closes(seed: int) -> None:
    """A clean close hands the state back (RETURN) or on to the next requester: it is not
    lost, and the home does not declare the object failed."""

    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, a, _b = sites
        ticket = home.offer(MovingCounter())
        ph, pa, pb = [await s.take(ticket) for s in sites]
        for _ in range(rng.randint(1, 5)):
            await pa.inc()
        n = await pa.get()
        waiting = pb.inc() if rng.random() < 0.5 else None
        await asyncio.sleep(rng.uniform(0, 0.05))
        await a.aclose()
        if waiting is not None:
            n = await asyncio.wait_for(waiting, 60)
        assert await asyncio.wait_for(ph.inc(), 60) == n + 1
        assert await asyncio.wait_for(pb.inc(), 60) == n + 2
        assert netobj.fault_state(ph) == "ok" and netobj.fault_state(pb) == "ok"
        assert home.messages_sent["mobile.lost"] == 0

    simulate(seed, 3, scenario)
