"""The transport conformance suite: ``await check_transport(make_server, make_client)``.

``make_server()`` and ``make_client()`` return fresh Transports that can reach each other.
Raises AssertionError describing the first property that does not hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from netobj.transport.base import ConnectFailed, Connection, ConnectionLost, Transport


async def check_transport(
    make_server: Callable[[], Transport],
    make_client: Callable[[], Transport],
    *,
    host: str = "127.0.0.1",
    timeout_s: float = 10.0,
) -> None:
    await asyncio.wait_for(_check(make_server, make_client, host), timeout_s)


async def _check(
    make_server: Callable[[], Transport], make_client: Callable[[], Transport], host: str
) -> None:
    server, client = make_server(), make_client()
    accepted: asyncio.Queue[Connection] = asyncio.Queue()
    release = asyncio.Event()

    async def handler(conn: Connection) -> None:
        await accepted.put(conn)
        await release.wait()

    address = await server.listen(host, 0, handler)
    assert ":" in address, f"listen() must return host:port, got {address!r}"
    try:
        # 1. frames arrive in order, intact, both ways
        conn = await client.connect(address)
        frames_out = [bytes([i % 256]) * (i * 37 % 5000 + 1) for i in range(200)]
        for f in frames_out:
            await conn.send(f)
        srv = await accepted.get()
        got = [await srv.recv() for _ in frames_out]
        assert got == frames_out, "frames client->server were reordered, lost or altered"
        await srv.send(b"pong")
        assert await conn.recv() == b"pong", "server->client frame lost"
        # 2. an empty frame is a frame
        await conn.send(b"")
        assert await srv.recv() == b"", "empty frame not delivered as b''"
        # 3. a large frame (1 MiB) passes
        big = bytes(range(256)) * 4096
        await conn.send(big)
        assert await srv.recv() == big, "1 MiB frame altered"
        # 4. closing one end ends the other's recv (None or ConnectionLost), never hangs
        await conn.close()
        try:
            end = await asyncio.wait_for(srv.recv(), 5)
            assert end is None, f"recv after peer close returned {end!r}"
        except ConnectionLost:
            pass
        await conn.close()  # idempotent
        # 5. a second connection is independent
        conn2 = await client.connect(address)
        await conn2.send(b"again")
        srv2 = await accepted.get()
        assert await srv2.recv() == b"again"
        await conn2.close()
        # 6. connecting where nobody listens is refused
        release.set()
        await server.aclose()
        try:
            dead = await client.connect(address)
            await dead.send(b"x")
            await asyncio.wait_for(dead.recv(), 5)
        except ConnectFailed:
            pass
        except ConnectionLost as exc:
            raise AssertionError(f"connect to a closed port: expected ConnectRefused/"
                                 f"ConnectFailed, got {exc!r}") from exc
        else:
            raise AssertionError("connect to a closed port succeeded")
    finally:
        release.set()
        await server.aclose()
        await client.aclose()
