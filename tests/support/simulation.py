"""Helpers for deterministic multi-site runs on the simulated network."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import netobj
from netobj.link import LinkConfig
from netobj.testing import SimNetwork, run_simulation

T = TypeVar("T")

SIM_LINKS = LinkConfig(heartbeat_interval_s=0.5, temp_timeout_s=2.0, perm_timeout_s=120.0,
                       redial_min_s=0.01, redial_max_s=0.2, handshake_timeout_s=1.0)


def make_sites(net: SimNetwork, rng: random.Random, n: int) -> list[netobj.Site]:
    return [
        netobj.Site(host=f"h{i}", transport=net.transport(f"h{i}"), executor="inline",
                    entropy=rng.randbytes, link_config=SIM_LINKS)
        for i in range(n)
    ]


def simulate(seed: int, n_sites: int,
             scenario: Callable[[SimNetwork, random.Random, list[netobj.Site]], Awaitable[T]],
             **net_options: object) -> T:
    """Run ``scenario`` with ``n_sites`` started sites on a fresh seeded network."""
    net = SimNetwork(seed, **net_options)  # type: ignore[arg-type]
    rng = random.Random(seed ^ 0x5EED)

    async def main() -> T:
        sites = make_sites(net, rng, n_sites)
        for s in sites:
            await s.start()
        try:
            return await scenario(net, rng, sites)
        finally:
            for s in sites:
                await s.aclose()

    try:
        return run_simulation(main())
    except BaseException as exc:
        exc.add_note(f"simulation seed={seed} (replay with simulate({seed}, ...))")
        raise
