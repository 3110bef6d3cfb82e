"""The failure detector (netobj.protocols.liveness), with no network and no clock: every
(state, input) pair has its expected decision and next state, hypothesis checks the
invariants over random event streams, and an oracle (the timing rules as Link had them
before the split, in float seconds) checks that the decisions did not change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netobj.link import FaultState as LinkFaultState
from netobj.link import LinkConfig
from netobj.protocols.liveness import (
    INITIAL_RTO_NS,
    FaultState,
    Liveness,
    Tick,
    Transition,
)

OK, TEMP, PERM = FaultState.OK, FaultState.TEMP_FAIL, FaultState.PERM_FAIL
S = 1_000_000_000  # ns per second
MS = S // 1000
T = 100 * S  # "now" for every state below
CFG = LinkConfig()  # heartbeat 1 s, temp within [0.5 s, 4 s], perm after 60 s


def machine(now_ns: int, cfg: LinkConfig = CFG) -> Liveness:
    return Liveness(heartbeat_interval_s=cfg.heartbeat_interval_s,
                    temp_timeout_min_s=cfg.temp_timeout_min_s,
                    temp_timeout_s=cfg.temp_timeout_s, perm_timeout_s=cfg.perm_timeout_s,
                    now_ns=now_ns)


# -- the states ------------------------------------------------------------------------------


def ok() -> Liveness:
    """Heard from and written to just now; no round-trip sample (temp_after 3 s)."""
    return machine(T)


def ok_sampled() -> Liveness:
    """As ok, with one 100 ms round trip measured (rto 300 ms: temp_after 3.2 s)."""
    lv = ok()
    lv.rtt_sample(100 * MS)
    return lv


def temp() -> Liveness:
    """Silent for 3 s: temp_fail since now."""
    lv = machine(T - 3 * S)
    assert lv.tick(T, False).transitions == (Transition(OK, TEMP, "no traffic for 3.0 s"),)
    return lv


def temp_long() -> Liveness:
    """temp_fail for 59.5 s (perm after 60)."""
    lv = machine(T - 62 * S - S // 2)
    assert lv.tick(T - 59 * S - S // 2, False).transitions[0].new is TEMP
    return lv


def perm() -> Liveness:
    lv = ok()
    assert lv.fail("gone") == Transition(OK, PERM, "gone")
    return lv


STATES: dict[str, Callable[[], Liveness]] = {
    "ok": ok, "ok_sampled": ok_sampled, "temp": temp, "temp_long": temp_long, "perm": perm,
}


def _snapshot(lv: Liveness) -> tuple[Any, ...]:
    return (lv.state, lv.last_heard_ns, lv.last_sent_ns, lv.temp_since_ns, lv.srtt_ns,
            lv.rttvar_ns)


def test_states_are_what_they_say() -> None:
    assert _snapshot(ok()) == (OK, T, T, None, None, 0.0)
    assert ok().temp_after_ns == 3 * S
    assert _snapshot(ok_sampled()) == (OK, T, T, None, 100 * MS, 50 * MS)
    assert ok_sampled().temp_after_ns == pytest.approx(3.2 * S)
    assert _snapshot(temp()) == (TEMP, T - 3 * S, T - 3 * S, T, None, 0.0)
    assert temp_long().state is TEMP and temp_long().temp_since_ns == T - 59 * S - S // 2
    assert _snapshot(perm()) == (PERM, T, T, None, None, 0.0)


# -- the inputs ------------------------------------------------------------------------------

INPUTS: dict[str, Callable[[Liveness], Any]] = {
    "heard": lambda lv: lv.heard(T + S),
    "tick_soon": lambda lv: lv.tick(T + 100 * MS, True),
    "tick_1s_connected": lambda lv: lv.tick(T + S, True),
    "tick_1s_disconnected": lambda lv: lv.tick(T + S, False),
    "tick_3s": lambda lv: lv.tick(T + 3 * S, False),
    "tick_60s": lambda lv: lv.tick(T + 60 * S, False),
    "rtt_sample": lambda lv: lv.rtt_sample(100 * MS),
    "rtt_negative": lambda lv: lv.rtt_sample(-1),
    "fail": lambda lv: lv.fail("refused"),
}

_QUIET, _BEAT = Tick(False, ()), Tick(True, ())
_UNSET = object()


@dataclass(frozen=True)
class Out:
    """The return value; the fields given change, the others stay."""

    result: Any
    state: FaultState | None = None
    last_heard_ns: Any = _UNSET
    last_sent_ns: Any = _UNSET
    temp_since_ns: Any = _UNSET
    srtt_ns: Any = _UNSET
    rttvar_ns: Any = _UNSET


def _to_ok(old: FaultState) -> Transition:
    return Transition(old, OK, "traffic resumed")


def _perm60() -> Transition:
    return Transition(TEMP, PERM, "unreachable for 60.0 s (perm_timeout)")


TEMP_LONG_SINCE = T - 59 * S - S // 2
TABLE: dict[str, dict[str, Out]] = {
    "ok": {
        "heard": Out(None, last_heard_ns=T + S),
        "tick_soon": Out(_QUIET),
        "tick_1s_connected": Out(_BEAT, last_sent_ns=T + S),
        "tick_1s_disconnected": Out(_QUIET),
        "tick_3s": Out(Tick(False, (Transition(OK, TEMP, "no traffic for 3.0 s"),)),
                       state=TEMP, temp_since_ns=T + 3 * S),
        "tick_60s": Out(Tick(False, (Transition(OK, TEMP, "no traffic for 60.0 s"),)),
                        state=TEMP, temp_since_ns=T + 60 * S),
        "rtt_sample": Out(None, srtt_ns=100 * MS, rttvar_ns=50 * MS),
        "rtt_negative": Out(None),
        "fail": Out(Transition(OK, PERM, "refused"), state=PERM),
    },
    "ok_sampled": {
        "heard": Out(None, last_heard_ns=T + S),
        "tick_soon": Out(_QUIET),
        "tick_1s_connected": Out(_BEAT, last_sent_ns=T + S),
        "tick_1s_disconnected": Out(_QUIET),
        "tick_3s": Out(_QUIET),  # 3 s < 3.2 s: the round trip buys time
        "tick_60s": Out(Tick(False, (Transition(OK, TEMP, "no traffic for 60.0 s"),)),
                        state=TEMP, temp_since_ns=T + 60 * S),
        # a second equal sample: srtt stays, rttvar decays by 3/4
        "rtt_sample": Out(None, srtt_ns=100 * MS, rttvar_ns=37.5 * MS),
        "rtt_negative": Out(None),
        "fail": Out(Transition(OK, PERM, "refused"), state=PERM),
    },
    "temp": {
        "heard": Out(_to_ok(TEMP), state=OK, last_heard_ns=T + S, temp_since_ns=None),
        "tick_soon": Out(_BEAT, last_sent_ns=T + 100 * MS),  # 3.1 s quiet: a heartbeat
        "tick_1s_connected": Out(_BEAT, last_sent_ns=T + S),
        "tick_1s_disconnected": Out(_QUIET),
        "tick_3s": Out(_QUIET),
        "tick_60s": Out(Tick(False, (_perm60(),)), state=PERM, temp_since_ns=None),
        "rtt_sample": Out(None, srtt_ns=100 * MS, rttvar_ns=50 * MS),
        "rtt_negative": Out(None),
        "fail": Out(Transition(TEMP, PERM, "refused"), state=PERM, temp_since_ns=None),
    },
    "temp_long": {
        "heard": Out(_to_ok(TEMP), state=OK, last_heard_ns=T + S, temp_since_ns=None),
        "tick_soon": Out(_BEAT, last_sent_ns=T + 100 * MS),  # 59.6 s of temp_fail
        "tick_1s_connected": Out(Tick(True, (_perm60(),)), state=PERM,
                                 last_sent_ns=T + S, temp_since_ns=None),
        "tick_1s_disconnected": Out(Tick(False, (_perm60(),)), state=PERM,
                                    temp_since_ns=None),
        "tick_3s": Out(Tick(False, (_perm60(),)), state=PERM, temp_since_ns=None),
        "tick_60s": Out(Tick(False, (_perm60(),)), state=PERM, temp_since_ns=None),
        "rtt_sample": Out(None, srtt_ns=100 * MS, rttvar_ns=50 * MS),
        "rtt_negative": Out(None),
        "fail": Out(Transition(TEMP, PERM, "refused"), state=PERM, temp_since_ns=None),
    },
    "perm": {  # terminal: traffic is noted, nothing is decided
        "heard": Out(None, last_heard_ns=T + S),
        "tick_soon": Out(_QUIET),
        "tick_1s_connected": Out(_QUIET),
        "tick_1s_disconnected": Out(_QUIET),
        "tick_3s": Out(_QUIET),
        "tick_60s": Out(_QUIET),
        "rtt_sample": Out(None, srtt_ns=100 * MS, rttvar_ns=50 * MS),
        "rtt_negative": Out(None),
        "fail": Out(None),
    },
}


def test_table_is_exhaustive() -> None:
    assert set(TABLE) == set(STATES)
    for state, row in TABLE.items():
        assert set(row) == set(INPUTS), state


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("inp", list(INPUTS))
def test_every_state_and_input(state: str, inp: str) -> None:
    lv = STATES[state]()
    before = _snapshot(lv)
    expect = TABLE[state][inp]
    assert INPUTS[inp](lv) == expect.result
    want = list(before)
    if expect.state is not None:
        want[0] = expect.state
    for i, value in enumerate((expect.last_heard_ns, expect.last_sent_ns,
                               expect.temp_since_ns, expect.srtt_ns, expect.rttvar_ns),
                              start=1):
        if value is not _UNSET:
            want[i] = value
    assert _snapshot(lv) == tuple(want)


def test_fault_state_is_one_enum() -> None:
    assert LinkFaultState is FaultState
    assert str(FaultState.TEMP_FAIL) == "temp_fail"


def test_temp_after_is_clamped_and_starts_from_the_initial_rto() -> None:
    lv = ok()
    assert lv.temp_after_ns == 2 * S + 4 * INITIAL_RTO_NS
    lv.rtt_sample(10 * S)  # a huge round trip: capped at temp_timeout
    assert lv.temp_after_ns == 4 * S
    fast = machine(0, LinkConfig(heartbeat_interval_s=0.01))
    fast.rtt_sample(0)  # a zero round trip: at least temp_timeout_min
    assert fast.temp_after_ns == S // 2
    assert fast.tick_ns == 5 * MS  # min(heartbeat, temp_min) / 2


def test_perm_timeout_zero_fails_both_ways_in_one_tick() -> None:
    lv = machine(0, LinkConfig(perm_timeout_s=0.0))
    got = lv.tick(5 * S, False)
    assert [t.new for t in got.transitions] == [TEMP, PERM]
    assert lv.state is PERM


# -- properties ------------------------------------------------------------------------------

# times are multiples of 1/256 s: exact in float seconds and in integer nanoseconds alike
STEP = S // 256
EVENTS = st.lists(st.tuples(st.sampled_from(["heard", "sent", "rtt", "tick", "tick", "tick",
                                            "fail"]),
                            st.integers(0, 3 * 256), st.integers(0, 256), st.booleans()),
                  max_size=80)
CONFIGS = st.builds(LinkConfig, heartbeat_interval_s=st.sampled_from([0.25, 0.5, 1.0]),
                    temp_timeout_min_s=st.sampled_from([0.25, 0.5]),
                    temp_timeout_s=st.sampled_from([2.0, 4.0]),
                    perm_timeout_s=st.sampled_from([0.0, 1.0, 5.0, 60.0]))


class Oracle:
    """Link's liveness rules before the split, in float seconds (the reference)."""

    def __init__(self, cfg: LinkConfig, now: float) -> None:
        self.cfg = cfg
        self.state = OK
        self.last_heard = self.last_sent = now
        self.temp_since: float | None = None
        self.srtt: float | None = None
        self.rttvar = 0.0

    def temp_after_s(self) -> float:
        cfg = self.cfg
        rto = (self.srtt + 4 * self.rttvar) if self.srtt is not None else 0.25
        return min(cfg.temp_timeout_s,
                   max(cfg.temp_timeout_min_s, 2 * cfg.heartbeat_interval_s + 4 * rto))

    def rtt_sample(self, rtt: float) -> None:
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt

    def heard(self, now: float) -> list[FaultState]:
        self.last_heard = now
        if self.state is TEMP:
            self.temp_since = None
            self.state = OK
            return [OK]
        return []

    def tick(self, now: float, connected: bool) -> tuple[bool, list[FaultState]]:
        cfg, out, beat = self.cfg, [], False
        if self.state is PERM:
            return False, []
        if connected and now - self.last_sent >= cfg.heartbeat_interval_s:
            self.last_sent = now
            beat = True
        silence = now - self.last_heard
        if silence >= self.temp_after_s() and self.state is OK:
            self.temp_since = now
            self.state = TEMP
            out.append(TEMP)
        if self.state is TEMP:
            assert self.temp_since is not None
            if now - self.temp_since >= cfg.perm_timeout_s:
                self.state = PERM
                out.append(PERM)
        return beat, out


@settings(max_examples=300, deadline=None)
@given(CONFIGS, EVENTS)
def test_invariants_and_the_timing_of_before(cfg: LinkConfig,
                                             events: list[tuple[str, int, int, bool]]) -> None:
    now = 1000 * S
    lv, old = machine(now, cfg), Oracle(cfg, now / S)
    state = OK
    for kind, dt, rtt, connected in events:
        now += dt * STEP
        if kind == "heard":
            t = lv.heard(now)
            got = [] if t is None else [t]
            assert [x.new for x in got] == old.heard(now / S)
        elif kind == "sent":
            lv.last_sent_ns, old.last_sent = now, now / S
            got = []
        elif kind == "rtt":
            lv.rtt_sample(rtt * STEP)
            old.rtt_sample(rtt * STEP / S)
            got = []
        elif kind == "tick":
            was_sent = lv.last_sent_ns
            tick = lv.tick(now, connected)
            got = list(tick.transitions)
            assert (tick.heartbeat, [x.new for x in got]) == old.tick(now / S, connected)
            if tick.heartbeat:  # only while connected, after a heartbeat interval of quiet
                assert connected and now - was_sent >= lv.heartbeat_ns
        else:
            t = lv.fail("evidence")
            got = [] if t is None else [t]
            if old.state is not PERM:
                old.state, old.temp_since = PERM, None
        for t in got:  # transitions chain, each reported once, and none leaves perm
            assert t.old is state and t.new is not state and state is not PERM
            state = t.new
        assert lv.state is state is old.state
        assert (lv.temp_since_ns is not None) == (state is TEMP)
        assert lv.temp_min_ns <= lv.temp_after_ns <= lv.temp_max_ns
        assert lv.temp_after_ns == pytest.approx(old.temp_after_s() * S)
