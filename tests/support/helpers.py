"""Small helpers for the tests: fast link settings and waiting for a condition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from netobj.link import LinkConfig

#: Fast fault detection for tests on loopback.
FAST_LINKS = LinkConfig(heartbeat_interval_s=0.2, temp_timeout_s=1.0, perm_timeout_s=30.0,
                        redial_max_s=0.2)


async def wait_until(predicate: Callable[[], object], timeout: float = 10.0,
                     interval: float = 0.02) -> None:
    """Poll ``predicate`` until it is true, failing after ``timeout`` seconds (for state that
    has no event to wait on)."""

    async def loop() -> None:
        while not predicate():
            await asyncio.sleep(interval)

    await asyncio.wait_for(loop(), timeout)
