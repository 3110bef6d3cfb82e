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


# -- the dataflow-variable protocol ------------------------------------------------------

from netobj.protocols.variable import SendRedirect, VarHolder, VarOwner  # noqa: E402


@given(st.lists(st.tuples(st.sampled_from(["reg", "bind", "change"]),
                          st.sampled_from(["s1", "s2", "s3"]), st.booleans()), max_size=60))
def test_var_owner_invariants(ops: list[tuple[str, str, bool]]) -> None:
    owner = VarOwner()
    owner.on_export("k")
    free = True
    registered: set[str] = set()
    wins = 0
    for op, site, _flag in ops:
        if op == "reg":
            sends = owner.on_register("k", site, not free)
            registered.add(site)
            # a late registrant is told at once, an early one waits for the change
            assert sends == ([SendRedirect("k", site)] if not free else [])
        elif op == "bind":
            if owner.on_bind_request("k", free):
                wins += 1
                free = False
        else:
            sends = owner.on_changed("k")
            assert {s.site for s in sends} == registered  # every holder, once each
            assert len(sends) == len(registered)
    assert wins <= 1, "only the first request that finds the Var free wins"
    assert owner.holders["k"] == registered


def test_var_owner_ignores_unknown_keys_and_failed_sites() -> None:
    owner = VarOwner()
    assert owner.on_register("nope", "s1", True) == []
    assert not owner.on_bind_request("nope", True)
    owner.on_export("k")
    owner.on_register("k", "s1", False)
    owner.on_site_failed("s1")
    assert owner.on_changed("k") == []


def test_var_holder_answers_each_request_once() -> None:
    holder: VarHolder[str] = VarHolder()
    holder.on_bind("o1", "k", 1, "ack1", False)
    holder.on_bind("o1", "k", 2, "ack2", False)
    holder.on_bind("o2", "j", 3, "ack3", True)
    assert [p.ack for p in holder.on_redirect("o1", "k")] == ["ack1", "ack2"]
    assert holder.on_redirect("o1", "k") == []
    assert [p.ack for p in holder.on_owner_failed("o2")] == ["ack3"]
    assert holder.pending == {}
