"""The fault API lives in netobj.faults; netobj and netobj.api re-export the same objects."""

from __future__ import annotations

import asyncio

import pytest

import netobj
from netobj import api, faults

NAMES = ("FaultStream", "FaultHandle", "fault_state", "fault_stream", "on_fault", "fail_fast")


def test_reexported_names_are_the_faults_objects() -> None:
    for name in NAMES:
        assert getattr(api, name) is getattr(faults, name), name
        if name in netobj.__all__:
            assert getattr(netobj, name) is getattr(faults, name), name


def test_local_entities_are_ok() -> None:
    var: netobj.Var[int] = netobj.Var()
    assert netobj.fault_state(var) == "ok"
    assert netobj.fault_state(object()) == "ok"
    var.bind(1)
    assert netobj.fault_state(var) == "ok"


def test_stream_of_a_bound_var_is_ok_then_ends() -> None:
    async def main() -> list[str]:
        return [state async for state in netobj.fault_stream(_bound())]

    assert asyncio.run(main()) == ["ok"]


def _bound() -> netobj.Var[int]:
    var: netobj.Var[int] = netobj.Var()
    var.bind(3)
    return var


def test_on_fault_and_fail_fast_refuse_local_values() -> None:
    with pytest.raises(TypeError):
        netobj.on_fault(netobj.Var(), lambda entity, state: None)
    with pytest.raises(TypeError):
        netobj.fail_fast(object())  # type: ignore[arg-type]
