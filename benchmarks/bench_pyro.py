"""Pyro5: marshal serializer, thread server; pipelining via BatchProxy; @oneway messages."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import Pyro5  # type: ignore[import-untyped]
import Pyro5.api  # type: ignore[import-untyped]

from benchmarks import _common
from benchmarks._common import (
    CALL_TIMEOUT_S,
    HOST,
    ServerProcess,
    check,
    exit_with_parent,
)

NAME = "Pyro5"


def _patch_marshal_batch() -> None:
    """Work around a Pyro5 5.17 bug: BatchProxy with the marshal serializer.

    ``Proxy._pyroInvokeBatch`` passes ``kwargs=None`` and ``MarshalSerializer.dumpsCall``
    calls ``kwargs.items()`` (AttributeError). Send ``{}`` instead; the server ignores the
    batch call's own kwargs. Only the client needs this; it changes nothing else.
    """
    from Pyro5.serializers import MarshalSerializer  # type: ignore[import-untyped]

    original = MarshalSerializer.dumpsCall
    if getattr(original, "_bench_patched", False):
        return

    def dumpsCall(  # Pyro5's name
        self: MarshalSerializer, obj: Any, method: str, vargs: Any, kwargs: Any
    ) -> bytes:
        return original(self, obj, method, vargs, {} if kwargs is None else kwargs)  # type: ignore[no-any-return]

    dumpsCall._bench_patched = True  # type: ignore[attr-defined]
    MarshalSerializer.dumpsCall = dumpsCall


def _configure() -> None:
    # Pyro5's config is per process: the server and the client both call this.
    Pyro5.config.SERIALIZER = "marshal"
    Pyro5.config.SERVERTYPE = "thread"
    Pyro5.config.SOCK_NODELAY = True  # every system runs with Nagle off
    Pyro5.config.COMMTIMEOUT = CALL_TIMEOUT_S


@Pyro5.api.expose
class Calc:
    def add(self, a: int, b: int) -> int:
        return a + b

    def echo(self, b: bytes) -> bytes:
        return b

    def __init__(self) -> None:
        self._count = 0
        self._sum = 0
        self._cond = threading.Condition()

    @Pyro5.api.oneway  # type: ignore[untyped-decorator]
    def push(self, i: int) -> None:
        # Pyro5's daemon runs every oneway call in a new thread of its own
        with self._cond:
            self._count += 1
            self._sum += i
            self._cond.notify_all()

    def received(self, total: int) -> tuple[int, int]:
        """(calls run, their sum), once ``total`` push calls have run (or after a timeout)."""
        with self._cond:
            self._cond.wait_for(lambda: self._count >= total, timeout=CALL_TIMEOUT_S / 2)
            return self._count, self._sum

    def cpu(self) -> float:
        """The server process's CPU seconds so far (all threads)."""
        return time.process_time()


def serve() -> None:
    _configure()
    daemon = Pyro5.api.Daemon(host=HOST, port=0)
    uri = daemon.register(Calc(), "calc")
    print("READY", uri, flush=True)
    daemon.requestLoop()


def start_server() -> ServerProcess:
    return _common.start_server(__name__)


class PyroClient:
    def __init__(self, server: ServerProcess) -> None:
        _configure()
        _patch_marshal_batch()
        self._proxy: Any = Pyro5.api.Proxy(server.info[0])
        self._proxy._pyroBind()
        self._sent = 0
        self._sent_sum = 0

    def sequential(self, n: int) -> tuple[float, list[int]]:
        add = self._proxy.add
        lat = [0] * n
        clock = time.perf_counter_ns
        start = clock()
        for i in range(n):
            t0 = clock()
            r = add(i, 1)
            lat[i] = clock() - t0
            check(r == i + 1, "Pyro5 add")
        return (clock() - start) / 1e9, lat

    def pipelined(self, n: int) -> float:
        t0 = time.perf_counter()
        batch: Any = Pyro5.api.BatchProxy(self._proxy)
        for i in range(n):
            batch.add(i, 1)
        total = sum(batch())
        elapsed = time.perf_counter() - t0
        check(total == n * (n - 1) // 2 + n, "Pyro5 batch sum")
        return elapsed

    def echo(self, n: int, payload: bytes) -> tuple[float, list[int]]:
        echo = self._proxy.echo
        lat = [0] * n
        clock = time.perf_counter_ns
        start = clock()
        for i in range(n):
            t0 = clock()
            r = echo(payload)
            lat[i] = clock() - t0
            check(len(r) == len(payload), "Pyro5 echo")
        return (clock() - start) / 1e9, lat

    def messages(self, n: int) -> float:
        push, received = self._proxy.push, self._proxy.received
        t0 = time.perf_counter()
        for i in range(n):
            push(i)
        count, total = received(self._sent + n)
        elapsed = time.perf_counter() - t0
        self._sent += n
        self._sent_sum += n * (n - 1) // 2
        check(count == self._sent and total == self._sent_sum, "Pyro5 oneway messages")
        return elapsed

    def server_cpu(self) -> float:
        """The server process's CPU seconds so far, asked with a normal call."""
        return float(self._proxy.cpu())

    def close(self) -> None:
        self._proxy._pyroRelease()


def connect(server: ServerProcess) -> PyroClient:
    return PyroClient(server)


def notes() -> list[str]:
    return [
        "Pyro5: marshal serializer and SOCK_NODELAY on both sides, SERVERTYPE=thread; "
        "pipelined = one BatchProxy (all calls in one request message, all results in one "
        "reply message). Pyro5 5.17's BatchProxy crashes with marshal (kwargs=None passed to "
        "MarshalSerializer.dumpsCall); the client patches dumpsCall to send {} instead.",
        "Pyro5 one-way: a @Pyro5.api.oneway method `push(i)` called n times (each a "
        "blocking socket send, no reply), then a normal call `received(total)` returning "
        "the server's count, included in the time. Pyro5 5.17's daemon runs every oneway "
        "call in a new thread (no option turns that off), so `received` waits (bounded) "
        "until all n push calls have run.",
    ]


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    exit_with_parent()
    serve()
