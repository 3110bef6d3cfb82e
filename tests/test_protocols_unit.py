"""The sans-IO machines driven directly, over every interleaving hypothesis finds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netobj.protocols.invocation import Caller
from netobj.protocols.scheduling import ActiveHome, Start, StationaryHome

# A schedule: each step either delivers the next call (with is_async) or finishes a running one.
steps = st.lists(st.tuples(st.sampled_from(["call", "done"]), st.booleans(),
                           st.integers(0, 10)), max_size=80)


@given(steps)
def test_active_home_invariants(schedule: list[tuple[str, bool, int]]) -> None:
    home: ActiveHome[int] = ActiveHome()
    started: list[int] = []
    lane: list[int] = []  # FIFO serial lane, as the site runs it
    running_async: int | None = None
    kinds: dict[int, bool] = {}
    n = 0

    def apply(starts: list[Start[int]]) -> None:
        nonlocal running_async
        for s in starts:
            started.append(s.invocation)
            if s.on_lane:
                assert not kinds[s.invocation]
                lane.append(s.invocation)
            else:
                assert kinds[s.invocation]
                # an async call starts alone: nothing else running or on the lane
                assert running_async is None and not lane
                running_async = s.invocation

    for op, is_async, _pick in schedule:
        if op == "call":
            kinds[n] = is_async
            apply(home.on_call(n, is_async))
            n += 1
        elif running_async is not None:
            done, running_async = running_async, None
            apply(home.on_done(done))
        elif lane:
            apply(home.on_done(lane.pop(0)))  # the lane finishes in FIFO order
        # while an async call runs, nothing else may be started or running
        if running_async is not None:
            assert not lane
    # drain
    while running_async is not None or lane:
        if running_async is not None:
            done, running_async = running_async, None
            apply(home.on_done(done))
        else:
            apply(home.on_done(lane.pop(0)))
    assert started == list(range(n)), "every call started exactly once, in arrival order"
    assert home.idle


@given(st.lists(st.booleans(), max_size=50))
def test_stationary_hands_over_at_once_in_arrival_order(kinds: list[bool]) -> None:
    home: StationaryHome[int] = StationaryHome()
    started = []
    for i, is_async in enumerate(kinds):
        (s,) = home.on_call(i, is_async)
        assert s.on_lane is (not is_async)
        started.append(s.invocation)
    assert started == list(range(len(kinds)))
    for i in range(len(kinds)):
        assert home.on_done(i) == []
    assert home.running == 0


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 30)), max_size=60), st.booleans())
def test_caller_settles_each_token_once(ops: list[tuple[bool, int]], fail: bool) -> None:
    caller: Caller[str] = Caller()
    issued: dict[int, str] = {}
    settled: list[str] = []
    for is_call, pick in ops:
        if is_call:
            sc = caller.call(f"t{len(issued)}", "k", "m", b"", False)
            assert sc.call_id not in issued
            issued[sc.call_id] = f"t{len(issued)}"
        else:
            token = caller.on_reply(pick)
            if token is not None:
                settled.append(token)
        assert all(cid < caller.next_id for cid in caller.pending)
    if fail:
        settled += [c.token for c in caller.on_perm_fail("gone")]
        assert not caller.pending
        assert sorted(settled) == sorted(issued.values())
    assert len(settled) == len(set(settled)), "a token settled twice"


def test_oneway_calls_wait_for_nothing() -> None:
    caller: Caller[str] = Caller()
    sc = caller.call(None, "k", "m", b"", True)
    assert sc.oneway and not caller.pending
    assert caller.on_reply(sc.call_id) is None
