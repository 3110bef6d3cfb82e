"""Every transport passes the conformance suite."""

from __future__ import annotations

import pytest

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


@pytest.mark.parametrize(("peer", "host"), [
    ("ipv4:127.0.0.1:5432", "127.0.0.1"),
    ("ipv6:%5B::1%5D:5432", "::1"),
    ("tcp:('10.1.2.3', 5555)", "10.1.2.3"),
    ("h1:conn1005", "h1"),
    ("garbage", None),
])
def test_the_host_a_connection_came_from(peer: str, host: str | None) -> None:
    """An acceptor probes a lost peer only at an address on that host (see netobj.link)."""
    from netobj.dialer import peer_host as _peer_host

    assert _peer_host(peer) == host


@pytest.mark.parametrize(("address", "host"), [
    ("127.0.0.1:80", "127.0.0.1"), ("tcp:10.0.0.1:90", "10.0.0.1"), ("[::1]:5", "::1"),
    ("h1:1002", "h1"), ("nohost", None),
])
def test_the_host_of_a_site_address(address: str, host: str | None) -> None:
    from netobj.dialer import address_host as _address_host

    assert _address_host(address) == host
