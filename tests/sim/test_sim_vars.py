"""Distributed dataflow variables and ports on the simulated network, seeded schedules."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

import netobj
from netobj.testing import SimNetwork
from tests.support.simulation import simulate
from tests.support.sites.objects import Calc


def _var_messages(sites: list[netobj.Site]) -> int:
    return sum(s.messages_sent[k] for s in sites for k in ("var_bind", "var_redirect"))


async def _outcome(var: netobj.Var[int], value: int) -> str:
    """Bind; "lost" whether the conflict is known here at once or reported by the owner."""
    try:
        ack = var.bind(value)
        if ack is not None:
            await asyncio.wait_for(ack, 60)
    except netobj.UnificationError:
        return "lost"
    return "won"


@pytest.mark.parametrize("seed", range(100))
def test_five_sites_race_to_bind(seed: int) -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        owner, *racers = sites
        x: netobj.Var[int] = netobj.Var()
        ticket = owner.offer(x)
        proxies = [await s.take(ticket) for s in racers]
        rng.shuffle(order := list(range(5)))

        async def race(k: int) -> str:
            await asyncio.sleep(rng.uniform(0, 0.01))
            return await _outcome(proxies[k], 100 + k)

        outcomes = await asyncio.gather(*(race(k) for k in order))
        values = {await asyncio.wait_for(p, 60) for p in proxies} | {await x}
        assert len(values) == 1
        assert sorted(outcomes) == ["lost"] * 4 + ["won"]
        winner = order[outcomes.index("won")]
        assert values == {100 + winner}

    simulate(seed, 6, scenario)


@pytest.mark.parametrize("seed", range(500))
def test_var_var_chains_across_four_sites(seed: int) -> None:
    """A=B on one site, B=C on another, C=D on a third, D=42 on the fourth, any order."""

    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        # var k is created (and owned) by site k
        own: list[netobj.Var[Any]] = [netobj.Var() for _ in sites]
        tickets = [s.offer(v) for s, v in zip(sites, own, strict=True)]
        held = [[await s.take(t) for t in tickets] for s in sites]  # held[site][var]
        steps = [(0, 1), (1, 2), (2, 3), (3, None)]
        who = list(range(4))
        rng.shuffle(who)

        async def step(site_k: int, a: int, b: int | None) -> None:
            await asyncio.sleep(rng.uniform(0, 0.02))
            va = held[site_k][a]
            ack = va.bind(42) if b is None else va.bind(held[site_k][b])
            if ack is not None:
                await asyncio.wait_for(ack, 60)

        await asyncio.gather(*(step(who[i], a, b) for i, (a, b) in enumerate(steps)))
        for k in range(4):
            for var in held[k]:
                assert await asyncio.wait_for(var, 60) == 42

    simulate(seed, 4, scenario)


@pytest.mark.parametrize(("seed", "holders"), [(s, n) for s in range(5) for n in (1, 3, 7)])
def test_bind_from_a_proxy_costs_at_most_n_plus_1_messages(seed: int, holders: int) -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        owner, *others = sites
        x: netobj.Var[int] = netobj.Var()
        ticket = owner.offer(x)
        proxies = [await s.take(ticket) for s in others]
        # wait (bounded) until the owner has every holder's registration
        key = x._ext.order[1]  # type: ignore[union-attr,index]

        async def registered() -> None:
            while len(owner._vars.owner.holders[key]) < holders:
                await asyncio.sleep(0.001)

        await asyncio.wait_for(registered(), 10)
        before = _var_messages(sites)
        ack = proxies[0].bind(7)
        await asyncio.wait_for(ack, 30)
        for p in proxies:
            assert await asyncio.wait_for(p, 30) == 7
        used = _var_messages(sites) - before
        assert used <= holders + 1, used
        assert used == holders + 1  # one request, one redirect per holder

    simulate(seed, holders + 1, scenario)


def test_vars_inside_values_stay_the_same_variable() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        calc = await client.take(home.offer(Calc()))
        a: netobj.Var[Any] = netobj.Var()
        b: netobj.Var[Any] = netobj.Var()
        value = {"list": [a, 1], "rec": netobj.Record("pair", left=b, right=(a, b))}
        echoed = await calc.echo(value)
        assert echoed["list"][0] is a and echoed["rec"].left is b
        assert echoed["rec"].right == (a, b)
        # the home site holds proxies of a and b: bind them there, see it here
        stored = await calc.echo([a, b])
        assert stored[0] is a
        await calc.keep(a)  # the home side keeps the proxy Var itself
        ack = home_log_var(home, calc).bind(5)
        if ack is not None:
            await asyncio.wait_for(ack, 10)
        assert await asyncio.wait_for(a, 10) == 5
        b.bind("here")
        assert await calc.echo(b) is b

    def home_log_var(home: netobj.Site, calc: object) -> netobj.Var[int]:
        obj = next(e.obj for e in home._refs.exports.values() if isinstance(e.obj, Calc))
        var = obj.log[-1]
        assert isinstance(var, netobj.Var)
        return var

    simulate(3, 2, scenario)


def test_fail_from_any_site_reaches_every_waiter() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        owner, a, b = sites
        x: netobj.Var[int] = netobj.Var()
        t = owner.offer(x)
        xa, xb = await a.take(t), await b.take(t)
        ack = xa.fail(KeyError("gone"))
        assert ack is not None
        await asyncio.wait_for(ack, 10)
        for v in (x, xa, xb):
            with pytest.raises(KeyError, match="gone"):
                await asyncio.wait_for(v, 10)
        # a later bind loses
        with pytest.raises(netobj.UnificationError):
            await asyncio.wait_for(xb.bind(1), 10)

    simulate(4, 3, scenario)


def test_by_need_runs_once_on_the_owner_at_the_first_wait_anywhere() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        owner, a, b = sites
        runs: list[str] = []

        def compute() -> int:
            runs.append("ran")
            return 41 + 1

        lazy = netobj.by_need(compute)
        t = owner.offer(lazy)
        la, lb = await a.take(t), await b.take(t)
        await asyncio.sleep(1)
        assert runs == []  # nobody waited yet
        assert await asyncio.wait_for(lb, 10) == 42
        assert await asyncio.wait_for(la, 10) == 42
        assert await lazy == 42
        assert runs == ["ran"]

    simulate(5, 3, scenario)


def test_read_only_views_wait_but_cannot_bind() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        owner, other = sites
        x: netobj.Var[int] = netobj.Var()
        view = owner.offer(x.read_only())
        remote_view = await other.take(view)
        with pytest.raises(netobj.UnificationError, match="read-only"):
            remote_view.bind(3)
        x.bind(3)
        assert await asyncio.wait_for(remote_view, 10) == 3

    simulate(6, 2, scenario)


def test_unify_structures_across_sites() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        a_site, b_site = sites
        x: netobj.Var[Any] = netobj.Var()
        y: netobj.Var[Any] = netobj.Var()
        t = a_site.offer([x, y])
        remote = await b_site.take(t)  # [proxy x, proxy y], held by b
        ack = netobj.unify(remote, [1, netobj.Record("r", v=2)])
        if ack is not None:
            await asyncio.wait_for(ack, 10)
        assert await x == 1 and await y == netobj.Record("r", v=2)
        with pytest.raises(netobj.UnificationError):
            netobj.unify(remote, [1, 3])  # decided locally now: nothing sent

    simulate(7, 2, scenario)


@pytest.mark.parametrize("seed", range(20))
def test_port_fifo_per_sender(seed: int) -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        owner, *senders = sites
        port = netobj.Port()
        t = owner.offer(port)
        proxies = [await s.take(t) for s in senders]

        async def send(k: int) -> None:
            for i in range(200):
                proxies[k].send((k, i))
                if rng.random() < 0.1:
                    await asyncio.sleep(rng.uniform(0, 0.005))

        await asyncio.gather(*(send(k) for k in range(len(senders))))
        got: list[tuple[int, int]] = []
        async for msg in port.stream:
            got.append(msg)
            if len(got) == 200 * len(senders):
                break
        for k in range(len(senders)):
            assert [i for s, i in got if s == k] == list(range(200))

    simulate(seed, 4, scenario)


def test_owner_crash_fails_waiting_proxies_permanently() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        owner, a, b = sites
        x: netobj.Var[int] = netobj.Var()
        t = owner.offer(x)
        xa, xb = await a.take(t), await b.take(t)
        pending = [asyncio.ensure_future(asyncio.wait_for(v, 60)) for v in (xa, xb)]
        await asyncio.sleep(0.1)
        assert netobj.fault_state(xa) == "ok"
        net.crash("h0")
        for p in pending:
            with pytest.raises(netobj.PermFailure):
                await p
        assert netobj.fault_state(xa) == "perm_fail"
        assert netobj.fault_state(x) == "ok"  # the owner's own Var

    simulate(8, 3, scenario)


@pytest.mark.parametrize("n", [1024, 1025, 5000])
def test_closing_right_after_sending_loses_nothing(n: int) -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        owner, sender = sites
        port = netobj.Port()
        proxy = await sender.take(owner.offer(port))
        for i in range(n):
            proxy.send(i)
        await sender.aclose()
        got: list[int] = []
        async for msg in port.stream:
            got.append(msg)
            if len(got) == n:
                break
        assert got == list(range(n))

    simulate(n, 2, scenario)


def test_an_equal_bind_succeeds_and_ports_travel_inside_values() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        owner, a, b = sites
        x: netobj.Var[object] = netobj.Var()
        t = owner.offer(x)
        xa, xb = await a.take(t), await b.take(t)
        acks = [xa.bind([1, "same"]), xb.bind([1, "same"])]
        for ack in acks:  # both agree with the winner: both succeed
            if ack is not None:
                await asyncio.wait_for(ack, 10)
        assert await x == [1, "same"]
        # a port inside a value, sent through a call, reaches its owner's stream
        calc = await a.take(owner.offer(Calc()))
        port = netobj.Port()
        holder = await calc.echo({"reply_to": port})  # now owned by site a
        assert holder["reply_to"] is port
        remote_port = await owner.take(a.offer(port))
        remote_port.send("hello")
        async for msg in port.stream:
            assert msg == "hello"
            break

    simulate(21, 3, scenario)


def test_rational_tree_values_are_refused_on_the_wire_not_looped() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        calc = await client.take(home.offer(Calc()))
        v: netobj.Var[object] = netobj.Var()
        v.bind([1, v])  # unification allows rational trees (no occurs check)
        assert repr(v) == "<Var bound=[1, <Var ...>]>"
        with pytest.raises(netobj.MarshalError, match="cyclic"):
            calc.echo(v)
        assert await calc.add(1, 1) == 2

    simulate(31, 2, scenario)
