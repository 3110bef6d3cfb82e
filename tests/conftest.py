from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

import netobj
from netobj.link import LinkConfig
from tests.procs import SiteProcess, start_site

# Fast fault detection for tests on loopback.
FAST_LINKS = LinkConfig(heartbeat_interval_s=0.2, temp_timeout_s=1.0, perm_timeout_s=30.0,
                        redial_max_s=0.2)


@pytest.fixture(autouse=True)
def _quiet_grpc_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="netobj")


@pytest.fixture
async def site() -> AsyncIterator[netobj.Site]:
    async with netobj.Site(link_config=FAST_LINKS) as s:
        yield s


@pytest.fixture
async def server() -> AsyncIterator[SiteProcess]:
    sp = await start_site()
    try:
        yield sp
    finally:
        await sp.close()


async def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02) -> None:  # type: ignore[no-untyped-def]
    async def loop() -> None:
        while not predicate():
            await asyncio.sleep(interval)

    await asyncio.wait_for(loop(), timeout)
