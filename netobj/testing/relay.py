"""A TCP relay between real processes, for fault tests: ``cut()`` and ``restore()``.

Clients connect to ``relay.address`` (``HOST:PORT``); each connection is piped to ``target``
(``HOST:PORT``, or a site address of either carrier: ``tcp:HOST:PORT`` pipes the same bytes;
a ticket through the relay names the carrier, as ``Ticket(..., carrier=t.carrier)``). While cut,
every piped connection is closed and new ones are accepted and closed at once (the network
path is down, the target process is not: connection *refused* would mean the process is gone,
so the relay never refuses). ``restore()`` lets new connections through again.
"""

from __future__ import annotations

import asyncio
import contextlib


class Relay:
    def __init__(self, target: str, host: str = "127.0.0.1") -> None:
        self.target = target.removeprefix("tcp:")
        self.host = host
        self.address = ""
        self.cut_count = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._cut = False
        self._pipes: set[asyncio.StreamWriter] = set()

    async def start(self) -> Relay:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"{self.host}:{port}"
        return self

    async def __aenter__(self) -> Relay:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Break every piped connection now and refuse to pipe new ones until restore()."""
        self._cut = True
        self.cut_count += 1
        for w in list(self._pipes):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._pipes.clear()

    def restore(self) -> None:
        self._cut = False

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        host, _, port = self.target.rpartition(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.transport.abort()
            return
        if self._cut:
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self.connections += 1
        self._pipes.update((writer, up_writer))

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    w.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._pipes.discard(writer)
        self._pipes.discard(up_writer)
