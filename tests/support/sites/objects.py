"""Classes the multi-process tests share (importable on every site, as the design requires)."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import netobj


@netobj.stationary
class Coder:
    def __init__(self, seed: int) -> None:
        self.seed = seed

    def get(self) -> int:
        x = self.seed
        self.seed = (self.seed * 23 + 49) % 1001
        return x


@netobj.stationary
class Calc:
    """A stationary toolbox for the tests."""

    def __init__(self) -> None:
        self.log: list[object] = []
        self._secret = 42

    def add(self, a: int, b: int) -> int:
        return a + b

    def echo(self, value: object) -> object:
        return value

    def record(self, i: int) -> int:
        """Append i to the log (exactly-once checks) and return 2*i."""
        self.log.append(i)
        return 2 * i

    def keep(self, value: object) -> bool:
        """Keep ``value`` (a Var stays the same variable here) in the log."""
        self.log.append(value)
        return True

    def get_log(self) -> list[object]:
        return self.log

    def fail(self, kind: str, message: str) -> None:
        if kind == "value":
            raise ValueError(message)
        if kind == "key":
            raise KeyError(message)
        if kind == "custom":
            raise CustomError(message)
        raise RuntimeError(message)

    def sleep(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    async def asleep(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    def pid(self) -> int:
        return os.getpid()

    def call(self, proxy: object, method: str, *args: object) -> object:
        """Call ``proxy.method(*args)`` from this site (blocking this lane) and return it."""
        return getattr(proxy, method)(*args).wait(30)

    def make_counter(self) -> Counter:
        return Counter()

    def bad_result(self) -> object:
        return object()

    def _private(self) -> int:
        return self._secret


class CustomError(Exception):
    pass


@netobj.stationary
class Counter:
    def __init__(self) -> None:
        self.n = 0

    def incr(self) -> int:
        self.n += 1
        return self.n


@netobj.active
class Ordered:
    """An active object that records the order it executes calls in."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()

    def _enter(self) -> None:
        with self._lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)

    def _leave(self) -> None:
        with self._lock:
            self.running -= 1

    def put(self, sender: str, i: int) -> int:
        self._enter()
        try:
            self.seen.append((sender, i))
            return i
        finally:
            self._leave()

    async def aput(self, sender: str, i: int, delay: float = 0.0) -> int:
        self._enter()
        try:
            if delay:
                await asyncio.sleep(delay)
            self.seen.append((sender, i))
            return i
        finally:
            self._leave()

    def slow_put(self, sender: str, i: int, delay: float) -> int:
        self._enter()
        try:
            time.sleep(delay)
            self.seen.append((sender, i))
            return i
        finally:
            self._leave()

    def boom(self) -> None:
        raise ValueError("boom")

    def stats(self) -> dict[str, object]:
        return {"seen": [list(s) for s in self.seen], "max_running": self.max_running}


@netobj.stationary
class Mixed:
    """Def and async methods, keyword arguments and references, for batch tests."""

    def __init__(self) -> None:
        self.order: list[object] = []

    def put(self, i: int, *, tag: str = "") -> str:
        self.order.append(i)
        return f"{tag}{i}"

    async def aput(self, i: int) -> int:
        await asyncio.sleep(0)
        self.order.append(i)
        return i

    def ident(self, value: object) -> object:
        return value

    def get_order(self) -> list[object]:
        return self.order


@netobj.cached
class MovingCounter:
    """A cached counter: its state moves to the site that calls it."""

    def __init__(self) -> None:
        self.n = 0
        self.visits: list[str] = []

    def inc(self, by: int = 1) -> int:
        self.n += by
        return self.n

    def get(self) -> int:
        return self.n

    def tag(self, who: str) -> int:
        """Record who ran this call (the state travels with its history)."""
        self.visits.append(who)
        return len(self.visits)

    async def slow_inc(self, delay: float) -> int:
        n = self.n + 1
        await asyncio.sleep(delay)
        self.n = n
        return n


@netobj.replicated
class SharedCounter:
    """A replicated counter: reads on local copies, writes at the home."""

    def __init__(self) -> None:
        self.n = 0

    @netobj.reads
    def get(self) -> int:
        return self.n

    def inc(self, by: int = 1) -> int:
        self.n += by
        return self.n

    def set(self, value: int) -> int:
        self.n = value
        return value


class NotDecorated:
    """Same shape as MovingCounter, without the decorator (refused as a cached class)."""

    def inc(self) -> int:
        return 0


@netobj.cached
class Gate:
    """A cached object whose method can be held open (to test departures during calls)."""

    def __init__(self) -> None:
        self.n = 0

    def hold(self, entered: threading.Event, release: threading.Event) -> int:
        self.n += 1
        entered.set()
        release.wait(30)
        self.n += 1
        return self.n

    def get(self) -> int:
        return self.n


class Unprintable(Exception):
    """An exception that cannot be rendered: its ``__str__`` and ``__repr__`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ of Unprintable")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__ of Unprintable")


class _Odd:
    """Methods that raise what a hostile or careless user's code raises."""

    def __init__(self) -> None:
        self.n = 0

    def ok(self, x: int) -> int:
        self.n += 1
        return x

    async def async_ok(self, x: int) -> int:
        self.n += 1
        return x

    def unprintable(self) -> None:
        raise Unprintable("hidden")

    async def async_unprintable(self) -> None:
        raise Unprintable("hidden")

    def exits(self) -> None:
        raise SystemExit(3)

    def interrupts(self) -> None:
        raise KeyboardInterrupt

    async def async_cancelled(self) -> None:
        raise asyncio.CancelledError("raised by the method itself")

    async def async_exits(self) -> None:
        raise SystemExit(4)

    def returns_unencodable(self) -> object:
        return Unencodable()


class Unencodable:
    """A result whose marshalling runs user code that raises (not a MarshalError)."""

    def __reduce__(self) -> str:
        raise RuntimeError("cannot reduce")


@netobj.stationary
class OddStationary(_Odd):
    pass


@netobj.active
class OddActive(_Odd):
    pass


@netobj.cached
class OddCached(_Odd):
    pass


@netobj.replicated
class OddReplicated(_Odd):
    pass
