"""The plain-TCP carrier (DESIGN section 9): conformance, real processes, cuts, garbage."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

import netobj
from netobj.testing import Relay, check_transport
from netobj.ticket import Ticket, parse_ticket
from netobj.transport.tcp import TcpTransport, split_address
from tests.support.procs import SiteProcess, start_site


async def test_tcp_transport_conforms() -> None:
    await check_transport(TcpTransport, TcpTransport, timeout_s=30)


def test_tickets_name_the_carrier() -> None:
    t = parse_ticket("netobj+tcp://127.0.0.1:9/" + "A" * 22 + "/" + "B" * 22)
    assert t.carrier == "tcp" and t.address == "tcp:127.0.0.1:9"
    assert str(t).startswith("netobj+tcp://")
    assert split_address(t.address) == ("127.0.0.1", 9)
    with pytest.raises(ValueError):
        netobj.Site(transport="udp")


@pytest.fixture
async def tcp_server() -> AsyncIterator[SiteProcess]:
    sp = await start_site("--carrier", "tcp")
    try:
        yield sp
    finally:
        await sp.close()


async def test_coder_over_tcp(tcp_server: SiteProcess) -> None:
    ticket = tcp_server.tickets["coder"]
    assert ticket.startswith("netobj+tcp://") and tcp_server.address.startswith("tcp:")
    # a site that listens on gRPC dials a TCP site by its address: carriers mix
    async with netobj.Site(transport="grpc") as site:
        c = await site.take(ticket)
        assert [await c.get(), await c.get(), await c.get()] == [100, 347, 22]
    async with netobj.Site() as site:  # TCP, the default
        assert site.address.startswith("tcp:")
        calc = await site.take(tcp_server.tickets["calc"])
        assert await calc.pid() == tcp_server.pid
        counter = await calc.make_counter()  # a reference handed out by a TCP site
        assert await counter.incr() == 1
        vs = [calc.record(i) for i in range(2000)]
        assert await asyncio.wait_for(asyncio.gather(*vs), 60) == [2 * i for i in range(2000)]


async def test_relay_cut_over_tcp_loses_and_duplicates_nothing(tcp_server: SiteProcess) -> None:
    host, port = split_address(tcp_server.address)
    async with Relay(f"{host}:{port}") as relay:
        t = parse_ticket(tcp_server.tickets["calc"])
        relay_host, _, relay_port = relay.address.rpartition(":")
        via = str(Ticket(relay_host, int(relay_port), t.site_id, t.key, "tcp"))
        async with netobj.Site(transport="tcp") as site:
            calc = await site.take(via)
            vs = []
            for i in range(1000):
                vs.append(calc.record(i))
                if i % 40 == 0:
                    await asyncio.sleep(0.005)
                if i in (200, 500, 800):
                    relay.cut()
                    await asyncio.sleep(0.2)
                    relay.restore()
            results = await asyncio.wait_for(asyncio.gather(*vs), 60)
            assert results == [2 * i for i in range(1000)]
            assert await calc.get_log() == list(range(1000))
            assert relay.connections >= 2


async def test_garbage_on_the_tcp_port(tcp_server: SiteProcess) -> None:
    async with netobj.Site() as site:  # TCP, the default
        assert site.address.startswith("tcp:")
        calc = await site.take(tcp_server.tickets["calc"])
        host, port = split_address(tcp_server.address)
        for payload in (random.Random(7).randbytes(4096),      # random bytes
                        b"\xff\xff\xff\xff" + b"x" * 100,      # a huge announced length
                        b"\x00\x00\x00\x10abc"):                # a truncated frame
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(payload)
            await writer.drain()
            if payload.startswith(b"\x00\x00\x00\x10"):
                writer.write_eof()
            # the site closes that connection ...
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()
            # ... and keeps serving everyone else
            assert await asyncio.wait_for(calc.add(1, 2), 10) == 3
        await tcp_server.wait_for_log("closing connection from")
