"""The loop factories of conftest really give uvloop where they say so."""

from __future__ import annotations

import asyncio

import pytest


@pytest.mark.asyncio(loop_factories=["uvloop"])
async def test_runs_on_uvloop() -> None:
    assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")


@pytest.mark.asyncio(loop_factories=["asyncio"])
async def test_runs_on_asyncio() -> None:
    assert type(asyncio.get_running_loop()).__module__.startswith("asyncio")
