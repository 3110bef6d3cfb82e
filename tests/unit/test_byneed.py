"""netobj.by_need on one site: the computation runs once, at the first wait, and its outcome
(a value, unified with the Var, or an exception) settles the Var."""

from __future__ import annotations

import asyncio

import pytest

import netobj
from netobj.byneed import by_need


def test_public_name_is_the_byneed_function() -> None:
    assert netobj.by_need is by_need


def test_not_run_before_a_wait_and_run_once_in_the_waiting_thread() -> None:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return 42

    var = by_need(compute)
    assert calls == [] and var.state == "unbound"
    assert var.wait(timeout=5) == 42
    assert var.wait(timeout=5) == 42
    assert calls == [1]


def test_async_computation_is_a_task_on_the_running_loop() -> None:
    async def compute() -> str:
        await asyncio.sleep(0)
        return "done"

    async def main() -> str:
        return await by_need(compute)  # type: ignore[no-any-return]

    assert asyncio.run(main()) == "done"


def test_sync_computation_awaited_on_a_loop_runs_in_the_executor() -> None:
    async def main() -> list[int]:
        return await by_need(lambda: [1, 2])  # type: ignore[no-any-return]

    assert asyncio.run(main()) == [1, 2]


def test_an_exception_fails_the_var() -> None:
    def compute() -> int:
        raise ValueError("no")

    var = by_need(compute)
    with pytest.raises(ValueError, match="no"):
        var.wait(timeout=5)
    assert var.failed()


def test_waiting_on_a_linked_var_runs_the_computation() -> None:
    lazy = by_need(lambda: 7)
    other: netobj.Var[int] = netobj.Var()
    other.bind(lazy)
    assert other.wait(timeout=5) == 7
    assert lazy.result() == 7


def test_by_need_refuses_a_non_callable() -> None:
    with pytest.raises(TypeError):
        by_need(3)  # type: ignore[arg-type]
