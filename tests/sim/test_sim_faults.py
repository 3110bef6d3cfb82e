"""Faults on the simulated network, over 500 seeded schedules: drops, partitions, cuts and
crashes. Between every pair of sites, messages arrive exactly once and in order; a link is
declared perm_fail only on evidence (here: the peer crashed; partitions are shorter than
perm_timeout); and the fault streams agree with the links.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

import netobj
from netobj.link import FaultState, Link
from netobj.testing import SimNetwork
from tests.support.simulation import simulate

N_MESSAGES = 40


@pytest.mark.parametrize("seed", range(500))
def test_exactly_once_fifo_per_pair_and_no_perm_fail_without_evidence(seed: int) -> None:
    perm_events: list[tuple[str, str, str]] = []

    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        hosts = [f"h{i}" for i in range(len(sites))]
        host_of = {s.id: h for s, h in zip(sites, hosts, strict=True)}
        crashed: set[str] = set()
        closing = False
        for s in sites:  # record every perm_fail with the observer, the peer and the reason
            original = s._links._on_link_state

            def spy(link: Link, old: FaultState, new: FaultState, reason: str,
                    _s: netobj.Site = s, _orig: Any = original) -> None:
                if new is FaultState.PERM_FAIL and not closing:
                    perm_events.append((host_of[_s.id], host_of.get(link.peer_id, "?"), reason))
                _orig(link, old, new, reason)

            s._links._on_link_state = spy  # type: ignore[method-assign]
        ports = [netobj.Port() for _ in sites]
        tickets = [s.offer(p) for s, p in zip(sites, ports, strict=True)]
        # each site holds a proxy of every other site's port
        remote = [[await asyncio.wait_for(s.take(t), 60) if j != i else None
                   for j, t in enumerate(tickets)] for i, s in enumerate(sites)]
        streams: list[list[Any]] = []
        readers = []
        for p in ports:
            streams.append([])

            async def reader(port: netobj.Port = p, out: list[Any] = streams[-1]) -> None:
                async for msg in port.stream:
                    out.append(tuple(msg))

            readers.append(asyncio.ensure_future(reader()))

        async def sender(i: int) -> None:
            for n in range(N_MESSAGES):
                if hosts[i] in crashed:
                    return
                for j in range(len(sites)):
                    port = remote[i][j]
                    if j != i and port is not None:
                        port.send((i, n))
                await asyncio.sleep(rng.uniform(0, 0.03))

        async def chaos() -> None:
            victim = rng.choice([None, None, *hosts[1:]])
            for _ in range(rng.randint(1, 6)):
                await asyncio.sleep(rng.uniform(0, 0.4))
                a, b = rng.sample(hosts, 2)
                roll = rng.random()
                if roll < 0.4:
                    net.partition(a, b)
                    await asyncio.sleep(rng.uniform(0.1, 6.0))  # < perm_timeout (120 s)
                    net.heal(a, b)
                elif roll < 0.8:
                    net.cut(a, b)
                elif victim is not None and victim not in crashed:
                    crashed.add(victim)
                    net.crash(victim)

        await asyncio.wait_for(asyncio.gather(chaos(), *(sender(i) for i in range(len(sites)))),
                               600)
        net.heal()

        def settled() -> bool:
            for j, out in enumerate(streams):
                if hosts[j] in crashed:
                    continue
                for i in range(len(sites)):
                    if i != j and hosts[i] not in crashed:
                        if sum(1 for sender_, _ in out if sender_ == i) < N_MESSAGES:
                            return False
            return True

        async def until_settled() -> None:
            while not settled():
                await asyncio.sleep(0.1)

        await asyncio.wait_for(until_settled(), 600)
        for j, out in enumerate(streams):
            for i in range(len(sites)):
                got = [n for sender_, n in out if sender_ == i]
                # exactly once, in the sender's order: a prefix of 0, 1, 2, ...
                assert got == list(range(len(got))), (hosts[i], hosts[j], got)
                if i != j and hosts[i] not in crashed and hosts[j] not in crashed:
                    assert len(got) == N_MESSAGES, (hosts[i], hosts[j], got)
        # perm_fail only with evidence: the peer crashed (partitions never last 120 s)
        for observer, peer, reason in perm_events:
            assert peer in crashed, (observer, peer, reason)
        for i in range(len(sites)):
            if hosts[i] in crashed:
                continue
            for j in range(len(sites)):
                if j == i:
                    continue
                state = netobj.fault_state(remote[i][j])
                if hosts[j] in crashed:
                    assert state in ("ok", "temp_fail", "perm_fail")
                else:
                    assert state != "perm_fail", (hosts[i], hosts[j])
        closing = True
        for task in readers:
            task.cancel()

    simulate(seed, 4, scenario, loss=random.Random(seed).choice([0.0, 0.0, 0.02]))


def test_kill_fails_an_object_everywhere_and_break_only_here() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        from tests.support.sites.objects import Calc

        home, a, b = sites
        t1, t2 = home.offer(Calc()), home.offer(Calc())
        pa, pb = await a.take(t1), await b.take(t1)
        qa, qb = await a.take(t2), await b.take(t2)
        assert await pa.add(1, 1) == 2 and await pb.add(1, 1) == 2
        streams = [netobj.fault_stream(p) for p in (pa, pb)]
        assert [await anext(s) for s in streams] == ["ok", "ok"]
        a.kill(pa)  # from a non-home site: the home applies it and tells everyone
        assert [await asyncio.wait_for(anext(s), 30) for s in streams] == [
            "perm_fail", "perm_fail"]
        for p in (pa, pb):
            with pytest.raises(netobj.PermFailure, match="killed"):
                await p.add(1, 1)
        b.break_(qb)  # local only
        assert netobj.fault_state(qb) == "perm_fail" and netobj.fault_state(qa) == "ok"
        with pytest.raises(netobj.PermFailure, match="broken"):
            await qb.add(1, 1)
        assert await qa.add(2, 2) == 4

    simulate(11, 3, scenario)


def test_kill_of_a_var_and_of_a_cached_object() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        from tests.support.sites.objects import MovingCounter

        home, a = sites
        v: netobj.Var[int] = netobj.Var()
        pv = await a.take(home.offer(v))
        a.kill(pv)
        with pytest.raises(netobj.PermFailure, match="killed"):
            await asyncio.wait_for(pv, 30)
        assert v.failed()
        done: netobj.Var[int] = netobj.Var()
        done.bind(5)
        pd = await a.take(home.offer(done))
        a.kill(pd)  # a bound Var can no longer fail
        assert await pd == 5
        mc = await a.take(home.offer(MovingCounter()))
        assert await mc.inc() == 1
        home.kill(await home.take(home.offer(MovingCounter())))
        seen: list[str] = []
        netobj.on_fault(mc, lambda entity, state: seen.append(state))
        a.kill(mc)

        async def until() -> None:
            while not seen:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(until(), 30)
        assert seen == ["perm_fail"]
        with pytest.raises(netobj.PermFailure):
            await mc.inc()

    simulate(12, 2, scenario)


@pytest.mark.parametrize("seed", range(20))
def test_a_sites_fault_event_comes_after_every_message_received_from_it(seed: int) -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        from tests.support.sites.objects import Calc

        home, watcher = sites
        port = netobj.Port()
        remote_port = await home.take(watcher.offer(port))
        calc = await watcher.take(home.offer(Calc()))
        assert await calc.add(1, 1) == 2
        events: list[object] = []

        async def read() -> None:
            async for msg in port.stream:
                events.append(msg)

        async def watch() -> None:
            async for state in netobj.fault_stream(calc):
                events.append(state)

        tasks = [asyncio.ensure_future(read()), asyncio.ensure_future(watch())]
        await asyncio.sleep(0)
        n = rng.randint(1, 50)
        for i in range(n):
            remote_port.send(i)
            if rng.random() < 0.2:
                await asyncio.sleep(rng.uniform(0, 0.01))
        await asyncio.sleep(rng.uniform(0, 0.02))
        net.crash("h0")
        await asyncio.wait_for(tasks[1], 600)
        assert events[-1] == "perm_fail"
        got = [e for e in events if isinstance(e, int)]
        assert got == list(range(len(got)))
        # whatever arrived before the crash is in the stream before the perm_fail event
        assert events.index("perm_fail") > max((events.index(i) for i in got), default=-1)
        tasks[0].cancel()

    simulate(seed, 2, scenario)


def test_a_site_declared_failed_is_never_talked_to_again_even_if_it_answers() -> None:
    """The home gives up on a partitioned client after its (short) perm_timeout; when the
    partition heals and the client redials, the home refuses it for good and tells it, so
    the client fails its side too instead of resuming a conversation the home has ended."""
    from dataclasses import replace

    from tests.support.simulation import SIM_LINKS
    from tests.support.sites.objects import Calc

    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home = netobj.Site(host="hx", transport=net.transport("hx"), executor="inline",
                           entropy=rng.randbytes,
                           link_config=replace(SIM_LINKS, perm_timeout_s=5.0))
        client = netobj.Site(host="hy", transport=net.transport("hy"), executor="inline",
                             entropy=rng.randbytes, link_config=SIM_LINKS)
        async with home, client:
            calc_obj = Calc()
            calc = await client.take(home.offer(calc_obj))
            assert await calc.record(1) == 2
            net.partition("hx", "hy")
            pending = calc.record(2)
            await asyncio.sleep(10)  # the home's perm_timeout passes; the client's does not
            assert home.link_state(client.id) is FaultState.PERM_FAIL
            assert netobj.fault_state(calc) == "temp_fail"
            net.heal()
            with pytest.raises(netobj.PermFailure, match="declared you failed"):
                await asyncio.wait_for(pending, 60)
            assert netobj.fault_state(calc) == "perm_fail"
            assert calc_obj.log == [1]  # the call after the partition never ran

    simulate(21, 0, scenario)


def test_a_vars_fault_stream_closes_once_it_is_bound() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        owner, holder = sites
        v: netobj.Var[int] = netobj.Var()
        pv = await holder.take(owner.offer(v))
        states = []

        async def watch() -> None:
            async for state in netobj.fault_stream(pv):
                states.append(state)

        task = asyncio.ensure_future(watch())
        await asyncio.sleep(0.1)
        v.bind(7)
        assert await pv == 7
        await asyncio.wait_for(task, 30)  # ended: a bound Var can no longer fail
        assert states == ["ok"]
        net.crash("h0")  # the owner dies: the holder's bound Var is not affected
        assert netobj.fault_state(pv) == "ok" and await pv == 7
        assert [s async for s in netobj.fault_stream(pv)] == ["ok"]

    simulate(31, 2, scenario)
