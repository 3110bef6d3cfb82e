"""Protocol behaviour on the simulated network, over many seeded schedules.

Each run is deterministic: a failing seed replays exactly (the seed is in the failure note).
"""

from __future__ import annotations

import asyncio
import random

import pytest

import netobj
from netobj.testing import SimNetwork
from tests.support.simulation import simulate
from tests.support.sites.objects import Calc, Ordered

SEEDS = range(200)


def _seq_sent(site: netobj.Site) -> int:
    return sum(peer.link._out_seq for peer in site._links.peers.values())


@pytest.mark.parametrize("seed", SEEDS)
def test_stationary_call_costs_two_messages(seed: int) -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        calc = await client.take(home.offer(calc_obj := Calc()))
        before = _seq_sent(home) + _seq_sent(client)
        n_seq = rng.randint(1, 20)
        for i in range(n_seq):
            assert await calc.add(i, i) == 2 * i
        # a sequential call: one Call there, one Reply back (acks, heartbeats are no messages)
        assert _seq_sent(home) + _seq_sent(client) - before == 2 * n_seq
        assert client.messages_sent["call"] - 1 == n_seq  # minus the take
        assert home.messages_sent["reply"] - 1 == n_seq
        # calls issued together travel together: never more than 2 messages a call
        before = _seq_sent(home) + _seq_sent(client)
        n_par = rng.randint(2, 60)
        assert await asyncio.gather(*(calc.record(i) for i in range(n_par))) == [
            2 * i for i in range(n_par)]
        assert _seq_sent(home) + _seq_sent(client) - before <= 2 * n_par
        assert client.messages_sent["call_batch"] >= 1
        assert calc_obj.log == list(range(n_par))

    simulate(seed, 2, scenario)


@pytest.mark.parametrize("seed", SEEDS)
def test_active_object_one_at_a_time_in_each_senders_order(seed: int) -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, *clients = sites
        ticket = home.offer(obj := Ordered())
        n = 15

        async def sender(site: netobj.Site, name: str) -> list[int]:
            p = await site.take(ticket)
            vs = []
            for i in range(n):
                if rng.random() < 0.3:
                    await asyncio.sleep(rng.uniform(0, 0.01))
                if rng.random() < 0.3:
                    vs.append(p.aput(name, i, rng.uniform(0, 0.005)))
                else:
                    vs.append(p.put(name, i))
            return [await v for v in vs]

        results = await asyncio.gather(*(sender(s, f"s{k}") for k, s in enumerate(clients)))
        assert results == [list(range(n))] * len(clients)
        assert obj.max_running == 1
        for k in range(len(clients)):
            assert [i for who, i in obj.seen if who == f"s{k}"] == list(range(n))
        assert len(obj.seen) == n * len(clients)

    simulate(seed, 4, scenario)


@pytest.mark.parametrize("seed", range(40))
def test_link_cut_and_restored_during_1000_calls(seed: int) -> None:
    """Every call executed exactly once, in order, with the right result."""

    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        calc_obj = Calc()
        calc = await client.take(home.offer(calc_obj))
        vars_ = []
        cuts = 0
        hard_cuts = 0
        for i in range(1000):
            vars_.append(calc.record(i))
            if rng.random() < 0.02:
                cuts += 1
                action = rng.choice(["cut", "cut", "partition"])
                if action == "cut":
                    hard_cuts += net.cut("h0", "h1")
                else:
                    net.partition("h0", "h1")
                    await asyncio.sleep(rng.uniform(0.01, 1.5))
                    net.heal()
            if rng.random() < 0.05:
                await asyncio.sleep(rng.uniform(0, 0.05))
        results = [await asyncio.wait_for(v, 60) for v in vars_]
        assert results == [2 * i for i in range(1000)]
        assert calc_obj.log == list(range(1000))
        assert cuts > 0
        stats = client.statistics()["links"][home.id]
        if hard_cuts:
            # the schedule really broke connections, and the link re-made them
            assert stats["reconnects"] >= 1

    simulate(seed, 2, scenario)


@pytest.mark.parametrize("seed", range(20))
def test_lossy_network_loses_and_duplicates_nothing(seed: int) -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        calc_obj = Calc()
        calc = await asyncio.wait_for(client.take(home.offer(calc_obj)), 60)
        vars_ = []
        for i in range(300):
            vars_.append(calc.record(i))
            await asyncio.sleep(rng.uniform(0, 0.003))  # spread the calls over many frames
        assert [await asyncio.wait_for(v, 120) for v in vars_] == [2 * i for i in range(300)]
        assert calc_obj.log == list(range(300))
        assert net.frames_lost > 0

    simulate(seed, 2, scenario, loss=0.05)


def test_same_seed_same_schedule() -> None:
    def trace(seed: int) -> tuple[object, ...]:
        async def scenario(net: SimNetwork, rng: random.Random,
                           sites: list[netobj.Site]) -> tuple[object, ...]:
            home, *clients = sites
            ticket = home.offer(obj := Ordered())

            async def go(s: netobj.Site, name: str) -> None:
                p = await s.take(ticket)
                await asyncio.gather(*(p.put(name, i) for i in range(10)))

            await asyncio.gather(*(go(s, f"s{k}") for k, s in enumerate(clients)))
            net.cut("h0", "h1")
            await asyncio.gather(*(go(s, f"t{k}") for k, s in enumerate(clients)))
            loop = asyncio.get_running_loop()
            return (tuple(obj.seen), net.frames_sent, round(loop.time(), 9), home.id)

        return simulate(seed, 3, scenario)

    assert trace(7) == trace(7)
    assert trace(7) != trace(8)


def test_crashed_home_fails_waiting_calls_permanently() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        calc = await client.take(home.offer(Calc()))
        pending = calc.asleep(100)
        await asyncio.sleep(0.1)
        net.crash("h0")
        with pytest.raises(netobj.PermFailure, match="refused"):
            await asyncio.wait_for(pending, 30)
        assert netobj.fault_state(calc) == "perm_fail"

    simulate(1, 2, scenario)


def test_partition_makes_link_temp_fail_and_healing_recovers() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        calc = await client.take(home.offer(Calc()))
        assert await calc.add(1, 1) == 2
        net.partition("h0", "h1")
        pending = calc.add(2, 2)
        await asyncio.sleep(5)
        assert netobj.fault_state(calc) == "temp_fail"
        assert not pending.done()
        net.heal()
        assert await asyncio.wait_for(pending, 30) == 4
        assert netobj.fault_state(calc) == "ok"

    simulate(2, 2, scenario)
