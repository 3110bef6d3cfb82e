from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import uvloop

import netobj
from netobj.link import LinkConfig
from tests.procs import SiteProcess, start_site

# Fast fault detection for tests on loopback.
FAST_LINKS = LinkConfig(heartbeat_interval_s=0.2, temp_timeout_s=1.0, perm_timeout_s=30.0,
                        redial_max_s=0.2)


# Multi-process integration tests run on both the pure asyncio loop and uvloop.
BOTH_LOOPS = {"tests.test_multiprocess", "tests.test_relay", "tests.test_uvloop"}


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    module = getattr(item, "module", None)
    if module is not None and module.__name__ in BOTH_LOOPS:
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}


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
