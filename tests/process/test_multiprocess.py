"""Distributed behaviour across real OS processes over gRPC on loopback."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

import netobj
from tests.support.helpers import FAST_LINKS
from tests.support.procs import SiteProcess, start_site


async def test_coder_across_processes(site: netobj.Site, server: SiteProcess) -> None:
    c = await site.take(server.tickets["coder"])
    assert isinstance(c, netobj.Proxy)
    assert [await c.get(), await c.get(), await c.get()] == [100, 347, 22]


async def test_calls_return_vars_at_once_and_keep_order(
    site: netobj.Site, server: SiteProcess
) -> None:
    c = await site.take(server.tickets["coder"])
    x1, x2, x3 = c.get(), c.get(), c.get()
    assert all(isinstance(x, netobj.Var) for x in (x1, x2, x3))
    assert await x1 + await x2 + await x3 == 100 + 347 + 22


async def test_method_really_runs_in_the_other_process(
    site: netobj.Site, server: SiteProcess
) -> None:
    calc = await site.take(server.tickets["calc"])
    assert await calc.pid() == server.pid != os.getpid()


async def test_same_entity_gives_same_proxy(site: netobj.Site, server: SiteProcess) -> None:
    a = await site.take(server.tickets["calc"])
    b = await site.take(server.tickets["calc"])
    assert a is b


async def test_remote_exceptions(site: netobj.Site, server: SiteProcess) -> None:
    calc = await site.take(server.tickets["calc"])
    with pytest.raises(ValueError, match="bad value"):
        await calc.fail("value", "bad value")
    with pytest.raises(KeyError):
        await calc.fail("key", "k")
    with pytest.raises(netobj.RemoteError) as info:
        await calc.fail("custom", "mine")
    assert info.value.type_name == "tests.support.sites.objects.CustomError"
    assert "mine" in str(info.value)
    assert "raise CustomError" in info.value.remote_traceback
    # the object goes on serving
    assert await calc.add(2, 3) == 5


async def test_missing_and_private_methods(site: netobj.Site, server: SiteProcess) -> None:
    calc = await site.take(server.tickets["calc"])
    with pytest.raises(AttributeError, match="no method 'nope'"):
        await calc.nope()
    with pytest.raises(AttributeError):
        calc._private()
    # a hand-made call to a private method is refused by the home site too
    from netobj.proxy import proxy_ref

    ref = proxy_ref(calc)
    with pytest.raises(AttributeError, match="private"):
        await site._invoke(ref, "_private", (), {}, False)


async def test_data_by_value(site: netobj.Site, server: SiteProcess) -> None:
    calc = await site.take(server.tickets["calc"])
    value = {"a": [1, 2.5, None, True], "b": (b"x", "y", (1, 2)), 3: {"nested": [[]]},
             "big": 2**100, "neg": -(2**70)}
    assert await calc.echo(value) == value
    echoed = await calc.echo((1, [2, (3,)]))
    assert echoed == (1, [2, (3,)]) and isinstance(echoed[1][1], tuple)


async def test_marshal_error_names_type_and_path(site: netobj.Site, server: SiteProcess) -> None:
    calc = await site.take(server.tickets["calc"])
    with pytest.raises(netobj.MarshalError, match=r"builtins\.object at args\[0\]\['k'\]\[1\]"):
        calc.echo({"k": [1, object()]})
    with pytest.raises(netobj.MarshalError, match="set"):
        calc.echo({1, 2})
    # a result that cannot travel fails the call with MarshalError, naming the result
    with pytest.raises(netobj.MarshalError, match="result"):
        await calc.bad_result()
    assert await calc.add(1, 1) == 2


async def test_objects_pass_by_reference(site: netobj.Site, server: SiteProcess) -> None:
    calc = await site.take(server.tickets["calc"])
    counter = await calc.make_counter()  # a stationary object made over there
    assert isinstance(counter, netobj.Proxy)
    assert [await counter.incr(), await counter.incr()] == [1, 2]
    # our own object, passed to the server, comes back as itself
    local = Local()
    assert await calc.echo(local) is local
    # the server calls back into our object
    assert await calc.call(local, "hello", "x") == "hello x"
    assert local.calls == ["x"]


@netobj.stationary
class Local:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def hello(self, who: str) -> str:
        self.calls.append(who)
        return f"hello {who}"


async def test_third_party_reference_goes_direct(site: netobj.Site) -> None:
    """A proxy to B's object passed from A to C lets C call B directly, not through A."""
    b = await start_site()
    c = await start_site()
    try:
        calc_b = await site.take(b.tickets["calc"])
        calc_c = await site.take(c.tickets["calc"])
        # hand B's calc to C; C calls B.record(7) itself
        assert await calc_c.call(calc_b, "record", 7) == 14
        assert await calc_b.get_log() == [7]
        # nothing went through us: we sent 4 calls in all (2 takes, call, get_log) and
        # received exactly their 4 replies
        stats = site.statistics()
        assert stats["messages_sent"]["call"] == 4
        assert stats["messages_received"]["reply"] == 4
    finally:
        await b.close()
        await c.close()


async def test_slow_def_method_stalls_neither_heartbeats_nor_other_objects(
    site: netobj.Site,
) -> None:
    sp = await start_site("--temp-timeout", "0.6")
    try:
        calc = await site.take(sp.tickets["calc"])
        ordered = await site.take(sp.tickets["ordered"])
        states: list[str] = []
        slow = calc.sleep(3.0)
        # another object on the same site answers while the slow method runs
        for i in range(20):
            assert await asyncio.wait_for(ordered.put("x", i), 5) == i
            states.append(netobj.fault_state(calc))
            await asyncio.sleep(0.1)
        assert not slow.done()
        assert await asyncio.wait_for(slow, 10) == 3.0
        # heartbeats kept flowing: the link never went temp_fail (timeout 1 s in our config)
        assert set(states) == {"ok"}
        stats = site.statistics()["links"][sp.site_id]
        assert stats["state"] == "ok"
    finally:
        await sp.close()


@pytest.mark.parametrize("carrier", ["tcp", "grpc"])
async def test_a_method_fast_until_it_is_slow_stalls_neither_heartbeats_nor_others(
    carrier: str,
) -> None:
    """A def method whose earlier calls were all fast (the runtime may have judged it
    short) then blocks 2 s in time.sleep: the peer never sees temp_fail (temp timeout
    0.6 s at the home, 1 s here) and another object answers meanwhile."""
    sp = await start_site("--temp-timeout", "0.6", "--carrier", carrier)
    try:
        async with netobj.Site(transport=carrier, link_config=FAST_LINKS) as site:
            calc = await site.take(sp.tickets["calc"])
            ordered = await site.take(sp.tickets["ordered"])
            for _ in range(300):  # fast, sequential: the common short call
                assert await asyncio.wait_for(calc.sleep(0), 5) == 0
            seen: list[str] = []
            stream = netobj.fault_stream(calc)
            watcher = asyncio.ensure_future(_collect(stream, seen))
            slow = calc.sleep(2.0)
            answered = 0
            while not slow.done():
                assert await asyncio.wait_for(ordered.put("y", answered), 5) == answered
                answered += 1
                await asyncio.sleep(0.05)
            assert await asyncio.wait_for(slow, 10) == 2.0
            assert answered >= 5, answered  # others were served while the slow call ran
            assert await asyncio.wait_for(calc.sleep(0), 5) == 0
            stream.close()
            watcher.cancel()
            assert seen and seen[0] == "ok", seen
            assert "temp_fail" not in seen and "perm_fail" not in seen, seen
            assert site.statistics()["links"][sp.site_id]["state"] == "ok"
    finally:
        await sp.close()


async def _collect(stream: Any, seen: list[str]) -> None:
    async for state in stream:
        seen.append(state)


async def test_def_methods_of_one_stationary_object_run_one_at_a_time(
    site: netobj.Site, server: SiteProcess
) -> None:
    ordered_proxy = await site.take(server.tickets["ordered"])
    del ordered_proxy
    calc = await site.take(server.tickets["calc"])
    # stationary: async methods interleave at their awaits
    t0 = asyncio.get_running_loop().time()
    results = await asyncio.gather(*(calc.asleep(0.5) for _ in range(4)))
    assert results == [0.5] * 4
    assert asyncio.get_running_loop().time() - t0 < 1.9  # 4 x 0.5 s would be 2 s serial


async def test_active_object_one_call_at_a_time_in_order(
    site: netobj.Site, server: SiteProcess
) -> None:
    ordered = await site.take(server.tickets["ordered"])
    vs = []
    for i in range(300):
        if i % 50 == 0:
            vs.append(ordered.aput("me", i, 0.01))
        elif i % 7 == 0:
            vs.append(ordered.slow_put("me", i, 0.002))
        else:
            vs.append(ordered.put("me", i))
    boom = ordered.boom()
    assert [await v for v in vs] == list(range(300))
    with pytest.raises(ValueError, match="boom"):
        await boom
    stats = await ordered.stats()
    assert [i for _, i in stats["seen"]] == list(range(300))
    assert stats["max_running"] == 1


async def test_tickets_once_ttl_revoke(site: netobj.Site) -> None:
    async with netobj.Site() as home:
        obj = Local()
        once = home.offer(obj, once=True)
        assert isinstance(await site.take(once), netobj.Proxy)
        with pytest.raises(netobj.UnknownEntityError):
            await site.take(once)
        many = home.offer(obj)
        p1, p2 = await site.take(many), await site.take(many)
        assert p1 is p2
        assert home.revoke(many) is True
        assert home.revoke(many) is False
        with pytest.raises(netobj.UnknownEntityError):
            await site.take(many)
        short = home.offer(obj, ttl=0.2)
        await asyncio.sleep(0.3)
        with pytest.raises(netobj.UnknownEntityError) as info:
            await site.take(short)
        # revealing nothing about other entities
        assert "no offer with that ticket" in str(info.value)
        with pytest.raises(netobj.TicketError, match="another site"):
            site.revoke(many)
        # data can be offered too: copied on each take
        data = home.offer({"k": [1, 2]})
        assert await site.take(data) == {"k": [1, 2]}
        # the offering site takes its own ticket: the object itself
        assert await home.take(home.offer(obj)) is obj


async def test_ticket_to_restarted_site_fails_permanently(site: netobj.Site) -> None:
    first = await start_site()
    ticket = first.tickets["calc"]
    port = first.address.rsplit(":", 1)[1]
    await first.close()
    second = await start_site("--port", port)
    try:
        assert second.address == first.address and second.site_id != first.site_id
        with pytest.raises(netobj.PermFailure, match="another incarnation"):
            await asyncio.wait_for(site.take(ticket), 10)
    finally:
        await second.close()


async def test_ticket_to_dead_site_fails_permanently(site: netobj.Site) -> None:
    sp = await start_site()
    ticket = sp.tickets["calc"]
    sp.kill()
    await sp.close()
    with pytest.raises(netobj.PermFailure, match="refused"):
        await asyncio.wait_for(site.take(ticket), 10)


async def test_killed_home_fails_pending_calls(site: netobj.Site) -> None:
    sp = await start_site()
    try:
        calc = await site.take(sp.tickets["calc"])
        assert await calc.add(1, 1) == 2  # the link is up
        pending = calc.sleep(30)
        sp.kill()
        with pytest.raises(netobj.PermFailure):
            await asyncio.wait_for(pending, 15)
        assert netobj.fault_state(calc) == "perm_fail"
        with pytest.raises(netobj.PermFailure):
            await asyncio.wait_for(calc.add(1, 2), 5)
    finally:
        await sp.close()
