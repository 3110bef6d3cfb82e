"""Every transport passes the conformance suite."""

from __future__ import annotations

from netobj.testing import SimNetwork, check_transport, run_simulation
from netobj.transport.grpc_transport import GrpcTransport


async def test_grpc_transport_conforms() -> None:
    await check_transport(GrpcTransport, GrpcTransport, timeout_s=30)


def test_sim_transport_conforms() -> None:
    net = SimNetwork(3)
    n = iter(range(100))
    run_simulation(check_transport(lambda: net.transport(f"s{next(n)}"),
                                   lambda: net.transport(f"c{next(n)}"), host="ignored"))


def test_a_stuck_simulation_fails_instead_of_spinning() -> None:
    import asyncio

    import pytest

    async def never() -> None:
        await asyncio.Event().wait()

    with pytest.raises(TimeoutError):
        run_simulation(never(), max_virtual_s=5.0)
