"""RPyC: a Service with exposed_add/exposed_echo on a ThreadedServer; pipelining via async_;
one-way messages via async_ calls whose results are ignored."""

from __future__ import annotations

import socket
import sys
import time
from typing import Any

import rpyc  # type: ignore[import-untyped]
from rpyc.utils.server import ThreadedServer  # type: ignore[import-untyped]

from benchmarks import _common
from benchmarks._common import (
    CALL_TIMEOUT_S,
    HOST,
    ServerProcess,
    check,
    exit_with_parent,
)

NAME = "RPyC"


class CalcService(rpyc.Service):  # type: ignore[misc]
    def exposed_add(self, a: int, b: int) -> int:
        return a + b

    def exposed_echo(self, b: bytes) -> bytes:
        return b

    def __init__(self) -> None:
        super().__init__()
        self._count = 0
        self._sum = 0

    def exposed_push(self, i: int) -> None:
        self._count += 1
        self._sum += i

    def exposed_received(self) -> tuple[int, int]:
        return self._count, self._sum


class NoDelayThreadedServer(ThreadedServer):  # type: ignore[misc]
    """ThreadedServer that turns Nagle off on every accepted socket."""

    def _accept_method(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super()._accept_method(sock)


def serve() -> None:
    server = NoDelayThreadedServer(
        CalcService,
        hostname=HOST,
        port=0,
        protocol_config={"allow_public_attrs": True},
    )
    server._listen()  # listen now (start() would do it too, but only after READY is read)
    print("READY", HOST, server.port, flush=True)
    server.start()


def start_server() -> ServerProcess:
    return _common.start_server(__name__)


class RpycClient:
    def __init__(self, server: ServerProcess) -> None:
        host, port = server.info[0], int(server.info[1])
        self._conn: Any = rpyc.connect(host, port, config={"sync_request_timeout": CALL_TIMEOUT_S})
        self._conn._channel.stream.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sent = 0
        self._sent_sum = 0

    def sequential(self, n: int) -> tuple[float, list[int]]:
        add = self._conn.root.add
        lat = [0] * n
        clock = time.perf_counter_ns
        start = clock()
        for i in range(n):
            t0 = clock()
            r = add(i, 1)
            lat[i] = clock() - t0
            check(r == i + 1, "RPyC add")
        return (clock() - start) / 1e9, lat

    def pipelined(self, n: int) -> float:
        add = rpyc.async_(self._conn.root.add)
        t0 = time.perf_counter()
        pending = [add(i, 1) for i in range(n)]
        total = 0
        for res in pending:
            res.set_expiry(CALL_TIMEOUT_S)
            total += res.value  # waits (serving the connection) until the reply is in
        elapsed = time.perf_counter() - t0
        check(total == n * (n - 1) // 2 + n, "RPyC async sum")
        return elapsed

    def echo(self, n: int, payload: bytes) -> tuple[float, list[int]]:
        echo = self._conn.root.echo
        lat = [0] * n
        clock = time.perf_counter_ns
        start = clock()
        for i in range(n):
            t0 = clock()
            r = echo(payload)
            lat[i] = clock() - t0
            check(len(r) == len(payload), "RPyC echo")
        return (clock() - start) / 1e9, lat

    def messages(self, n: int) -> float:
        conn = self._conn
        push = rpyc.async_(conn.root.push)
        poll_all = conn.poll_all
        t0 = time.perf_counter()
        for i in range(n):
            push(i)  # the AsyncResult is dropped: the result is ignored
            if i & 1023 == 1023:
                poll_all(0)  # read the replies that came in, or both sides could block
        count, total = tuple(conn.root.received())
        elapsed = time.perf_counter() - t0
        self._sent += n
        self._sent_sum += n * (n - 1) // 2
        check(count == self._sent and total == self._sent_sum, "RPyC async_ messages")
        return elapsed

    def close(self) -> None:
        self._conn.close()


def connect(server: ServerProcess) -> RpycClient:
    return RpycClient(server)


def notes() -> list[str]:
    return [
        "RPyC: ThreadedServer (allow_public_attrs) with TCP_NODELAY set on accepted sockets "
        "(subclass hook _accept_method) and on the client socket; pipelined = rpyc.async_ "
        "calls, then each AsyncResult waited on in order.",
        "RPyC one-way: `rpyc.async_(conn.root.push)(i)` n times, results ignored (RPyC has "
        "no true one-way call: the server still replies, and the client drains the replies "
        "with conn.poll_all(0) every 1,024 calls so neither side blocks on a full socket), "
        "then a normal call `received()` returning the count, included in the time.",
    ]


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    exit_with_parent()
    serve()
