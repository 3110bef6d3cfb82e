"""Frames batch what is ready and never wait to fill up."""

from __future__ import annotations

import asyncio
import random

import netobj
from netobj.testing import SimNetwork
from tests.support.simulation import simulate
from tests.support.sites.objects import Calc


def test_ready_messages_share_frames() -> None:
    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        proxies = [await client.take(home.offer(Calc())) for _ in range(50)]
        link = client._links.peers[home.id].link
        before_frames, before_env = link.stats["frames_out"], link.stats["envelopes_out"]
        # one call to each of 50 objects: 50 separate Call messages, all ready at once
        results = await asyncio.gather(*(p.add(i, 1) for i, p in enumerate(proxies)))
        assert results == [i + 1 for i in range(50)]
        envelopes = link.stats["envelopes_out"] - before_env
        frames = link.stats["frames_out"] - before_frames
        assert envelopes >= 50
        assert frames <= 3, f"{envelopes} ready messages took {frames} frames"

    simulate(11, 2, scenario)


def test_a_lone_call_is_not_held_back() -> None:
    """With a fixed one-way latency L, a call's round trip takes 2 L: nothing waits to batch."""
    latency = 0.010

    async def scenario(net: SimNetwork, rng: random.Random, sites: list[netobj.Site]) -> None:
        home, client = sites
        calc = await client.take(home.offer(Calc()))
        loop = asyncio.get_running_loop()
        for i in range(20):
            t0 = loop.time()
            assert await calc.add(i, i) == 2 * i
            elapsed = loop.time() - t0
            assert 2 * latency - 1e-9 <= elapsed < 2 * latency + 0.001, elapsed

    simulate(12, 2, scenario, latency_s=(latency, latency))
