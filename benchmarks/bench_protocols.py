"""netobj only: the four object protocols on one workload, and local calls on a cached object.

Two parts, both run by ``python -m benchmarks`` inside its interleaved rounds:

1. **Protocols across processes** (:class:`ProtocolClient`). The server process
   (``python -m benchmarks.bench_protocols serve``, TCP carrier, the default, 127.0.0.1) offers a
   stationary :class:`~benchmarks.protocol_objects.CoderFactory`; each round the client takes
   a fresh set of four Coders from it, one per protocol (``@stationary``, ``@active``,
   ``@cached``, ``@replicated`` with ``@reads`` on ``peek``), all homed on the server. Then,
   per protocol: the first ``peek()`` on the fresh object (timed alone: for the cached one it
   moves the state here, for the replicated one it subscribes), n sequential ``peek()`` calls
   and n sequential ``get()`` calls, each call awaited before the next.
2. **Local calls** (:class:`LocalBench`), in this process: two Sites on one event loop. Site
   B moves a cached Coder offered by site A over with a first call; site A also uses a second
   cached Coder through its home proxy (``await site.take(ticket)`` of its own offer). A
   coroutine on that loop then times ``for _ in range(n): x = obj.get()`` on a plain
   (undecorated) :class:`~benchmarks.protocol_objects.Coder` and on the moved proxy (the
   same function, so the same loop code; the proxy returns a bound Var), and
   ``for _ in range(n): x = await obj.get()`` on the moved proxy and on the home proxy.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from typing import Any

import netobj
import netobj.site
from benchmarks import _common
from benchmarks._common import (
    CALL_TIMEOUT_S,
    HOST,
    LoopThread,
    ServerProcess,
    check,
    close_site,
    exit_with_parent,
    serve_offer,
)
from benchmarks.protocol_objects import CLASSES, CachedCoder, Coder, CoderFactory

NAME = "netobj protocols"
PROTOCOLS: tuple[str, ...] = tuple(CLASSES)
#: The order of the timed workloads in a round (peek first: see the module docstring).
METHODS: tuple[str, ...] = ("peek", "get")
SEED = 100

#: The local variants, in report order: (object, loop body).
PLAIN = "plain Coder (undecorated)"
MOVED = "cached Coder, state moved here"
HOME = "cached Coder, home proxy"
CALL = "x = obj.get()"
AWAIT = "x = await obj.get()"
LOCAL_VARIANTS: tuple[tuple[str, str], ...] = (
    (PLAIN, CALL),
    (MOVED, AWAIT),
    (MOVED, CALL),
    (HOME, AWAIT),
)


def _advance(coder: Coder, n: int) -> None:
    for _ in range(n):
        coder.get()


# -- part 1: the four protocols across processes ---------------------------------------------


def serve() -> None:
    serve_offer(CoderFactory, HOST)


def start_server() -> ServerProcess:
    return _common.start_server(__name__)


class ProtocolClient:
    """This process's site (on its own loop thread) and the server's four Coders."""

    def __init__(self, server: ServerProcess) -> None:
        self._lt = LoopThread("bench-protocols")
        self._site: netobj.Site | None = None
        self._objs: dict[str, Any] = {}
        self._mirrors: dict[str, Coder] = {}  # plain Coders that track each object's state
        try:
            self._lt.run(self._connect(server.info[0]), CALL_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    async def _connect(self, factory_ticket: str) -> None:
        self._site = await netobj.Site().start()
        self._factory: Any = await asyncio.wait_for(self._site.take(factory_ticket), 30)

    def fresh(self) -> None:
        """Take a new Coder of each protocol from the server (not timed)."""
        self._lt.run(self._fresh(), CALL_TIMEOUT_S)

    async def _fresh(self) -> None:
        objs = await asyncio.wait_for(self._factory.fresh(SEED), 30)
        check(len(objs) == len(PROTOCOLS), "netobj protocols: fresh objects")
        for protocol, obj in zip(PROTOCOLS, objs, strict=True):
            check(netobj.protocol_of(obj) == protocol, f"{protocol}: protocol_of")
            self._objs[protocol] = obj
            self._mirrors[protocol] = Coder(SEED)

    def first(self, protocol: str) -> float:
        """Seconds taken by one ``peek()``: the first call on a fresh object."""
        return self._lt.run(self._first(protocol), CALL_TIMEOUT_S)

    async def _first(self, protocol: str) -> float:
        obj = self._objs[protocol]
        t0 = time.perf_counter()
        x = await obj.peek()
        elapsed = time.perf_counter() - t0
        check(x == self._mirrors[protocol].seed, f"{protocol}: first peek")
        if protocol in ("cached", "replicated"):
            # the state (a copy, if replicated) is here now: a read returns a bound Var
            check(obj.peek().done(), f"{protocol}: peek() runs here after the first call")
        return elapsed

    def run(self, protocol: str, method: str, n: int) -> float:
        """n sequential calls of ``method`` (each awaited before the next); seconds."""
        return self._lt.run(self._run(protocol, method, n), CALL_TIMEOUT_S + n * 0.01)

    async def _run(self, protocol: str, method: str, n: int) -> float:
        obj = self._objs[protocol]
        mirror = self._mirrors[protocol]
        x = -1
        if method == "get":
            t0 = time.perf_counter()
            for _ in range(n):
                x = await obj.get()
            elapsed = time.perf_counter() - t0
            _advance(mirror, n - 1)
            check(x == mirror.get(), f"{protocol}: last get()")
            check(await obj.peek() == mirror.seed, f"{protocol}: state after get()")
        else:
            t0 = time.perf_counter()
            for _ in range(n):
                x = await obj.peek()
            elapsed = time.perf_counter() - t0
            check(x == mirror.seed, f"{protocol}: peek()")
        return elapsed

    def close(self) -> None:
        site, self._site = self._site, None
        close_site(self._lt, site, NAME)
        self._lt.close()


def connect(server: ServerProcess) -> ProtocolClient:
    return ProtocolClient(server)


# -- part 2: local calls on a cached object, against a plain call ----------------------------


class LocalBench:
    """Two sites on one loop thread of this process; a plain Coder; two cached proxies whose
    state is on the calling site (one moved here, one at its home)."""

    def __init__(self) -> None:
        self._lt = LoopThread("bench-local")
        self._sites: list[netobj.Site] = []
        try:
            self._lt.run(self._setup(), CALL_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    async def _setup(self) -> None:
        home = await netobj.Site(host=HOST).start()
        self._sites.append(home)
        away = await netobj.Site(host=HOST).start()
        self._sites.append(away)
        moved: Any = await asyncio.wait_for(away.take(home.offer(CachedCoder(SEED))), 30)
        check(await asyncio.wait_for(moved.get(), 30) == SEED, "local: first get() (the move)")
        check(moved.peek().done(), "local: after the move a call returns a bound Var")
        at_home: Any = await home.take(home.offer(CachedCoder(SEED)))
        check(await at_home.get() == SEED, "local: first get() on the home proxy")
        check(at_home.peek().done(), "local: a call on the home proxy returns a bound Var")
        plain = Coder(SEED)
        plain.get()
        # every object has made one get(): the objects advance in step from here on
        self._objs: dict[str, Any] = {PLAIN: plain, MOVED: moved, HOME: at_home}
        self._mirror = Coder(SEED)
        self._mirror.get()
        self._done: dict[str, int] = {}  # calls made on each object since the set-up

    def run(self, variant: tuple[str, str], n: int) -> float:
        """Seconds for n calls of one variant (see LOCAL_VARIANTS), timed in a coroutine on
        the sites' loop, after gc.collect()."""
        return self._lt.run(self._run(variant, n), CALL_TIMEOUT_S + n * 1e-4)

    async def _run(self, variant: tuple[str, str], n: int) -> float:
        name, how = variant
        obj = self._objs[name]
        gc.collect()
        if how == AWAIT:
            elapsed, x = await _awaited_calls(obj, n)
        else:
            elapsed, x = await _calls(obj, n)
            if isinstance(x, netobj.Var):
                check(x.done(), f"local {name}: the Var is bound at once")
                x = await x
        # correctness, not timed: the object's state advanced n steps
        done = self._done.get(name, 0) + n
        self._done[name] = done
        mirror = Coder(SEED)
        _advance(mirror, done)  # get() number `done` (counting from 0 after the set-up)
        check(x == mirror.get(), f"local {name}: value of the last get()")
        return elapsed

    def close(self) -> None:
        for site in reversed(self._sites):
            try:
                self._lt.run(site.aclose(), 10)
            except Exception as exc:
                print(f"{NAME}: closing a local site failed: {exc!r}", file=sys.stderr)
        self._sites.clear()
        self._lt.close()


async def _calls(obj: Any, n: int) -> tuple[float, Any]:
    """``x = obj.get()`` n times: the plain object and the proxy run this same code."""
    x = None
    t0 = time.perf_counter()
    for _ in range(n):
        x = obj.get()
    return time.perf_counter() - t0, x


async def _awaited_calls(obj: Any, n: int) -> tuple[float, Any]:
    x = None
    t0 = time.perf_counter()
    for _ in range(n):
        x = await obj.get()
    return time.perf_counter() - t0, x


def notes() -> list[str]:
    return [
        "netobj protocols: one server process (TCP carrier, the default; uvloop) offers a "
        "@stationary factory; each round the client takes from it a fresh Coder per protocol, "
        "homed on the server (the classes live in benchmarks/protocol_objects.py, imported by both "
        "processes). get() advances the state and returns the old value; peek() returns "
        "it. Both are `def` methods: on a stationary or active object each call runs on the "
        "server's worker thread and back. Per round and protocol: the first peek() (timed "
        "alone), n sequential peek() calls, then n sequential get() calls, each awaited "
        "before the next. Cached: the first call moves the state to the client, every "
        "later call runs locally (no message). Replicated: the first peek() subscribes and "
        "gets a copy; later peeks read the copy; every get() is a write at the home, which "
        "first invalidates the client's copy (INVALIDATE, INVALID), then applies the write, "
        "sends the new state (COMMIT) and replies, so a write costs about two round trips "
        "while this client holds a copy. ratio = stationary µs/call ÷ row µs/call (> 1: "
        "faster than stationary).",
        "local calls: this process, two Sites on one uvloop loop thread; the cached Coders "
        "are homed on site A; 'moved here' is site B's proxy after its first get() moved "
        "the state to B, 'home proxy' is site A's own (`await site.take(ticket)` of its own "
        "offer; the state never left). Timed in a coroutine on that loop: the loop "
        "`for _ in range(n): x = obj.get()` (one function for the plain Coder and the "
        "proxy, which returns an already-bound Var), and `for _ in range(n): x = await "
        "obj.get()`. gc.collect() before each run, nothing else disabled; several runs per "
        "round, variants interleaved. ratio = plain ns/call ÷ row ns/call (speed relative "
        "to a plain call).",
    ]


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    exit_with_parent()
    serve()
