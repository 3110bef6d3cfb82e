from __future__ import annotations

import asyncio
import threading

import pytest

import netobj
from netobj.var import bound, failed


def test_repr_shows_state() -> None:
    v: netobj.Var[int] = netobj.Var()
    assert repr(v) == "<Var unbound>"
    v.bind(3)
    assert repr(v) == "<Var bound=3>"
    assert repr(failed(ValueError("x"))) == "<Var failed=ValueError('x')>"


def test_single_assignment() -> None:
    v: netobj.Var[object] = netobj.Var()
    v.bind([1, 2])
    v.bind([1, 2])  # equal: fine
    with pytest.raises(netobj.UnificationError):
        v.bind([1, 3])
    assert v.result() == [1, 2]
    with pytest.raises(netobj.UnificationError):
        v.fail(ValueError())
    with pytest.raises(netobj.UnificationError):
        bound(1).bind(True)  # 1 == True, but not the same value


def test_fail_reaches_every_waiter() -> None:
    v: netobj.Var[int] = netobj.Var()
    seen: list[BaseException | None] = []
    v.add_done_callback(lambda var: seen.append(var.exception()))
    v.fail(KeyError("k"))
    with pytest.raises(KeyError):
        v.result()
    assert isinstance(seen[0], KeyError)


async def test_await_and_bind_from_a_thread() -> None:
    v: netobj.Var[int] = netobj.Var()
    threading.Timer(0.05, v.bind, args=(7,)).start()
    assert await asyncio.wait_for(v, 5) == 7


def test_wait_in_threads() -> None:
    v: netobj.Var[int] = netobj.Var()
    got: list[int] = []
    waiters = [threading.Thread(target=lambda: got.append(v.wait(5))) for _ in range(3)]
    for t in waiters:
        t.start()
    v.bind(9)
    for t in waiters:
        t.join(5)
    assert got == [9, 9, 9]
    with pytest.raises(TimeoutError):
        netobj.Var().wait(0.01)


async def test_wait_on_loop_thread_refuses_instead_of_deadlocking() -> None:
    v: netobj.Var[int] = netobj.Var()
    with pytest.raises(netobj.DeadlockError, match="await var"):
        v.wait()
    v.bind(1)
    assert v.wait() == 1  # a bound Var never blocks, so it is fine anywhere


async def test_await_on_another_loop() -> None:
    v: netobj.Var[int] = netobj.Var()
    result: list[int] = []

    def other() -> None:
        result.append(asyncio.run(asyncio.wait_for(_await(v), 5)))

    t = threading.Thread(target=other)
    t.start()
    await asyncio.sleep(0.05)
    v.bind(5)
    await asyncio.to_thread(t.join, 5)
    assert result == [5]


async def _await(v: netobj.Var[int]) -> int:
    return await v


async def test_cancelled_await_leaves_no_callback() -> None:
    v: netobj.Var[int] = netobj.Var()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(v, 0.01)
    assert not v._waiters


def test_a_raising_callback_is_logged_and_stops_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    v: netobj.Var[int] = netobj.Var()
    seen: list[int] = []

    def bad(var: netobj.Var[int]) -> None:
        raise RuntimeError("user bug")

    v.add_done_callback(bad)
    v.add_done_callback(lambda var: seen.append(var.result()))
    v.bind(3)  # does not raise
    assert seen == [3]
    assert "exception in a done-callback" in caplog.text
    v.add_done_callback(bad)  # already bound: runs at once, still contained
