"""Calls issued together travel as CallBatch/ReplyBatch: same results, order and errors as
one by one, whatever the mix of methods, arguments and outcomes."""

from __future__ import annotations

import asyncio
import random

import cbor2
import pytest

import netobj
from netobj.testing import SimNetwork
from netobj.wire import codec, frames, tags
from netobj.wire import netobj_pb2 as pb
from tests.support.simulation import simulate
from tests.support.sites.objects import Calc, Mixed, Ordered


@pytest.mark.parametrize("seed", range(30))
def test_mixed_batches_behave_like_single_calls(seed: int) -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        obj = Mixed()
        m = await client.take(home.offer(obj))
        expected: list[object] = []
        def_ids: list[int] = []
        vars_: list[tuple[netobj.Var[object], object]] = []
        for i in range(rng.randint(2, 300)):
            kind = rng.choice(["put", "kw", "aput", "missing", "private", "ident"])
            if kind == "put":
                vars_.append((m.put(i), str(i)))
                expected.append(i)
                def_ids.append(i)
            elif kind == "kw":
                vars_.append((m.put(i, tag="t"), f"t{i}"))
                expected.append(i)
                def_ids.append(i)
            elif kind == "aput":
                vars_.append((m.aput(i), i))
                expected.append(i)
            elif kind == "missing":
                vars_.append((m.nope(i), AttributeError))
            elif kind == "private":
                from netobj.proxy import proxy_ref
                vars_.append((client._invoke(proxy_ref(m), "_hidden", (i,), {}, False),
                              AttributeError))
            else:
                value = {"i": (i, [b"x"])}
                vars_.append((m.ident(value), value))
        for var, want in vars_:
            if want is AttributeError:
                with pytest.raises(AttributeError):
                    await var
            else:
                assert await var == want
        # def calls ran in issue order; async ones started in order (they interleave only
        # at their awaits)
        assert sorted(obj.order, key=repr) == sorted(expected, key=repr)  # each ran once
        assert [x for x in obj.order if x in def_ids] == def_ids  # defs in issue order
        assert client.calls_batched > 0

    simulate(seed, 2, scenario)


def test_uniform_batches_on_an_active_object() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        obj = Ordered()
        p = await client.take(home.offer(obj))
        vs = [p.put("c", i) for i in range(3000)]
        assert [await v for v in vs] == list(range(3000))
        assert [i for _, i in obj.seen] == list(range(3000))
        stats = client.statistics()
        # 3,000 calls went out in far fewer messages, each at most MAX_BATCH_ITEMS strong
        assert stats["messages_sent"]["call_batch"] < 20
        assert home.statistics()["messages_sent"]["reply_batch"] < 40

    simulate(5, 2, scenario)


def test_batch_with_a_failing_result_and_an_unsendable_one() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        calc = await client.take(home.offer(Calc()))
        vs = [calc.add(1, 1), calc.fail("value", "no"), calc.bad_result(), calc.add(2, 2)]
        assert await vs[0] == 2
        with pytest.raises(ValueError, match="no"):
            await vs[1]
        with pytest.raises(netobj.MarshalError, match="result"):
            await vs[2]
        assert await vs[3] == 4

    simulate(6, 2, scenario)


def test_oversized_batch_is_split_not_refused() -> None:
    """64 calls of 256 KiB each (16 MiB together, over the 8 MiB value limit)."""

    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        calc = await client.take(home.offer(Calc()))
        blob = b"z" * (256 * 1024)
        vs = [calc.echo(blob) for _ in range(64)]
        for v in vs:
            assert await v == blob

    simulate(7, 2, scenario)


def test_unresolvable_reference_fails_only_its_own_call() -> None:
    """A reference to an entity the callee does not have fails that call, not the batch."""

    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        calc = await client.take(home.offer(Calc()))
        from netobj.proxy import Proxy

        ghost = Proxy(client, codec.Ref(tags.KIND_OBJECT, "stationary", home.id, home.address,
                                        "G" * 22))  # names nothing at home
        vs = [calc.echo(1), calc.echo(ghost), calc.echo(3)]
        assert await vs[0] == 1
        with pytest.raises(netobj.UnknownEntityError):
            await vs[1]
        assert await vs[2] == 3

    simulate(8, 2, scenario)


def _batch_frame(key: str, calls: bytes, count: int, method: str = "", arity: int = 0) -> bytes:
    return frames.call_batch(1, key, 10**6, calls, count, method, arity)  # ids nobody waits on


@pytest.mark.parametrize(
    ("calls", "count", "method", "arity"),
    [
        (b"\xff\xff", 3, "", 0),  # not CBOR
        (cbor2.dumps(["add", 2, 1]), 2, "", 0),  # truncated: second call missing
        (cbor2.dumps([1, 2, 3]), 1, "", 0),  # method is not a string
        (cbor2.dumps(["add", -2, 1, 2, "not a dict"]), 1, "", 0),  # bad kwargs
        (cbor2.dumps([1, 2, 3]), 2, "add", 2),  # uniform, wrong length
    ],
)
def test_malformed_batches_get_protocol_errors(calls: bytes, count: int, method: str,
                                               arity: int) -> None:
    """Every announced call gets an answer; none runs; the link stays up."""

    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        calc = await client.take(home.offer(calc_obj := Calc()))
        key = home._refs.export_keys[id(calc_obj)]
        peer = home._links.peers[client.id]
        link = peer.link
        outcomes: list[pb.Reply | pb.ReplyBatch] = []
        original = link.send_sequenced

        def capture(seq: int, envelope: bytes, more: bool = False) -> None:
            env = pb.Envelope.FromString(envelope)
            outcomes.append(env.reply if env.WhichOneof("body") == "reply" else env.reply_batch)
            original(seq, envelope, more)

        link.send_sequenced = capture  # type: ignore[method-assign]
        env = pb.Envelope.FromString(_batch_frame(key, calls, count, method, arity))
        home._calls_in.on_call_batch(peer, env.call_batch)
        errors_seen = []
        for out in outcomes:
            if isinstance(out, pb.Reply):
                errors_seen.append(codec.decode_exception(out.error))
            else:
                items = cbor2.loads(out.outcomes) if out.outcomes else []
                errors_seen += [items[k + 2] for k in range(0, len(items), 3)]
        assert len(errors_seen) == count
        assert calc_obj.log == []
        assert await calc.add(1, 2) == 3  # the link still works

    simulate(9, 2, scenario)


async def test_batches_between_processes(site: netobj.Site, server: object) -> None:
    from tests.support.procs import SiteProcess

    assert isinstance(server, SiteProcess)
    ordered = await site.take(server.tickets["ordered"])
    vs = [ordered.put("p", i) for i in range(5000)]
    assert await asyncio.wait_for(asyncio.gather(*vs), 60) == list(range(5000))
    stats = await ordered.stats()
    assert [i for _, i in stats["seen"]] == list(range(5000))
    assert site.statistics()["calls_batched"] >= 4000


def test_calls_made_by_callbacks_during_a_flush_are_not_lost() -> None:
    """A Var callback that runs while a batch is being sent (here: the call fails to
    marshal its oversized arguments) may itself call out; that call must still leave."""

    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        calc = await client.take(home.offer(calc_obj := Calc()))
        follow_ups: list[netobj.Var[int]] = []
        too_big = b"x" * (9 * 1024 * 1024)  # over codec.MAX_VALUE_BYTES once encoded
        doomed = calc.echo(too_big)
        doomed.add_done_callback(lambda v: follow_ups.append(calc.record(99)))
        with pytest.raises(netobj.MarshalError, match="over the limit"):
            await asyncio.wait_for(doomed, 10)
        assert len(follow_ups) == 1
        assert await asyncio.wait_for(follow_ups[0], 10) == 198
        assert calc_obj.log == [99]

    simulate(41, 2, scenario)


def test_queued_calls_leave_before_any_later_message_on_the_link() -> None:
    """Peer.send keeps per-link FIFO: calls still in the outbox go before a port message
    (and a reply) sent after them, and the far side sees that order."""

    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        calc = await client.take(home.offer(Calc()))
        port = netobj.Port()
        remote_port = await client.take(home.offer(port))
        link = client._links.peers[home.id].link
        kinds: list[str | None] = []
        original = link.send_sequenced

        def capture(seq: int, envelope: bytes, more: bool = False) -> None:
            kinds.append(pb.Envelope.FromString(envelope).WhichOneof("body"))
            original(seq, envelope, more)

        link.send_sequenced = capture  # type: ignore[method-assign]
        n = rng.randint(1, 100)
        sums = [calc.add(i, 1) for i in range(n)]  # queued: they leave at the loop's turn
        remote_port.send("after the calls")
        assert kinds[0] in ("call", "call_batch")
        assert kinds[-1] == "port_send"
        assert await asyncio.gather(*sums) == [i + 1 for i in range(n)]
        async def first() -> object:
            async for msg in port.stream:
                return msg
            return None

        assert await asyncio.wait_for(first(), 10) == "after the calls"

    for seed in range(5):
        simulate(seed, 2, scenario)
