"""Fixtures for every level of the suite (tests/unit, tests/sim, tests/process); helpers
live in tests/support."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import uvloop

import netobj
from tests.support.helpers import FAST_LINKS
from tests.support.procs import SiteProcess, start_site

# Multi-process integration tests run on both the pure asyncio loop and uvloop.
BOTH_LOOPS = {"tests.process.test_multiprocess", "tests.process.test_relay",
              "tests.unit.test_uvloop"}


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
