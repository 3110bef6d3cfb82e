"""The site's worker threads (netobj.runtime.executor.Workers): work never waits behind a
blocked thread while the bound allows another, the bound holds, and close drops queued work."""

from __future__ import annotations

import threading

import pytest

from netobj.runtime.executor import Workers

TIMEOUT = 10.0


def test_submit_runs_on_another_thread() -> None:
    w = Workers(4, "t")
    seen: list[int] = []
    done = threading.Event()

    def fn() -> None:
        seen.append(threading.get_ident())
        done.set()

    assert w.submit(fn)
    assert done.wait(TIMEOUT)
    assert seen and seen[0] != threading.get_ident()
    w.close()


def test_a_blocked_worker_does_not_delay_the_next_submit() -> None:
    w = Workers(4, "t")
    release, quick_ran = threading.Event(), threading.Event()
    started = threading.Event()

    def blocker() -> None:
        started.set()
        release.wait(TIMEOUT)

    w.submit(blocker)
    assert started.wait(TIMEOUT)
    # the blocker's thread is busy: this one must get its own thread at once
    w.submit(quick_ran.set)
    assert quick_ran.wait(TIMEOUT)
    release.set()
    w.close()


def test_an_idle_thread_is_reused_not_duplicated() -> None:
    w = Workers(4, "reuse")
    for _ in range(50):
        done = threading.Event()
        w.submit(done.set)
        assert done.wait(TIMEOUT)
    names = {t.name for t in threading.enumerate() if t.name.startswith("reuse-")}
    assert len(names) <= 2  # one worker, maybe a second while the first went idle
    w.close()


def test_beyond_max_workers_work_queues_until_a_thread_frees() -> None:
    w = Workers(2, "bound")
    release = threading.Event()
    running = threading.Semaphore(0)
    third_ran = threading.Event()

    def blocker() -> None:
        running.release()
        release.wait(TIMEOUT)

    w.submit(blocker)
    w.submit(blocker)
    assert running.acquire(timeout=TIMEOUT) and running.acquire(timeout=TIMEOUT)
    w.submit(third_ran.set)
    assert not third_ran.wait(0.2)  # both threads blocked: the bound holds
    assert sum(t.name.startswith("bound-") for t in threading.enumerate()) == 2
    release.set()
    assert third_ran.wait(TIMEOUT)
    w.close()


def test_close_drops_queued_work_and_refuses_more() -> None:
    w = Workers(1, "c")
    release, started = threading.Event(), threading.Event()
    ran: list[str] = []

    def blocker() -> None:
        started.set()
        release.wait(TIMEOUT)

    w.submit(blocker)
    assert started.wait(TIMEOUT)
    w.submit(lambda: ran.append("queued"))
    w.close()
    assert not w.submit(lambda: ran.append("late"))
    release.set()
    for t in [t for t in threading.enumerate() if t.name.startswith("c-")]:
        t.join(TIMEOUT)
        assert not t.is_alive()
    assert ran == []


def test_max_workers_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Workers(0, "x")
