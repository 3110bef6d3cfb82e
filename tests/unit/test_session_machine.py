"""The sequencing machine (netobj.protocols.session), with no network: every (state, input)
pair has its expected result and next state (or its specific error, which changes nothing),
and hypothesis drives random interleavings of send / deliver / ack / drop / reconnect."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netobj.errors import PermFailure, ProtocolError, TempFailure
from netobj.protocols.session import (
    MAX_UNACKED_DEFAULT,
    AckBeyondSent,
    Phase,
    SequenceGap,
    Session,
    SessionClosed,
    WindowFull,
)

D, C, X = Phase.DISCONNECTED, Phase.CONNECTED, Phase.CLOSED


def env(seq: int) -> bytes:
    return b"e%d" % seq


def send(s: Session, n: int = 1) -> None:
    for _ in range(n):
        seq = s.next_seq()
        s.sent(seq, env(seq))


# -- the states ------------------------------------------------------------------------------
# Each is built by a short history; max_unacked is 4 so that a full window is reachable.


def fresh() -> Session:
    """Never connected, nothing sent."""
    return Session(4, "peer")


def first_dial() -> Session:
    """Never connected, two envelopes queued (none written anywhere)."""
    s = fresh()
    send(s, 2)
    return s


def live() -> Session:
    """Connected; sent 1, 2 (unacked); delivered 1."""
    s = fresh()
    s.reconnected(0)
    send(s, 2)
    assert s.received(1)
    return s


def live_acked() -> Session:
    """Connected; sent 1, 2, both acked; delivered 1."""
    s = live()
    s.acked(2)
    return s


def full() -> Session:
    """Connected; sent 1..4, none acked: the window is full."""
    s = fresh()
    s.reconnected(0)
    send(s, 4)
    return s


def broken() -> Session:
    """Was connected (sent 1, 2; delivered 1); the connection broke; 3 sent since."""
    s = live()
    s.disconnected()
    send(s)
    return s


def closed() -> Session:
    """live(), then failed permanently."""
    s = live()
    assert s.close("gone") == []
    return s


STATES: dict[str, Callable[[], Session]] = {
    "fresh": fresh, "first_dial": first_dial, "live": live, "live_acked": live_acked,
    "full": full, "broken": broken, "closed": closed,
}


def test_states_are_what_they_say() -> None:
    expected = {  # phase, out_seq, in_seq, acked_upto, window seqs, undelivered seqs
        "fresh": (D, 0, 0, 0, [], []),
        "first_dial": (D, 2, 0, 0, [1, 2], [1, 2]),
        "live": (C, 2, 1, 0, [1, 2], []),
        "live_acked": (C, 2, 1, 2, [], []),
        "full": (C, 4, 0, 0, [1, 2, 3, 4], []),
        "broken": (D, 3, 1, 0, [1, 2, 3], [3]),
        "closed": (X, 2, 1, 0, [], []),
    }
    for name, build in STATES.items():
        assert _snapshot(build())[:6] == expected[name], name


# -- the inputs ------------------------------------------------------------------------------


def _reserve_and_send(s: Session) -> int:
    seq = s.next_seq()
    s.sent(seq, env(seq))
    return seq


INPUTS: dict[str, Callable[[Session], Any]] = {
    "next_seq": lambda s: s.next_seq(),
    "send": _reserve_and_send,
    "sent_unreserved": lambda s: s.sent(s.out_seq + 1, b"x"),
    "sent_again": lambda s: s.sent(s.out_seq, b"x"),
    "received_0": lambda s: s.received(0),
    "received_1": lambda s: s.received(1),
    "received_2": lambda s: s.received(2),
    "received_3": lambda s: s.received(3),
    "acked_0": lambda s: s.acked(0),
    "acked_1": lambda s: s.acked(1),
    "acked_all": lambda s: s.acked(s.out_seq),
    "acked_beyond": lambda s: s.acked(s.out_seq + 1),
    "reconnected_0": lambda s: s.reconnected(0),
    "reconnected_1": lambda s: s.reconnected(1),
    "reconnected_beyond": lambda s: s.reconnected(s.out_seq + 1),
    "disconnected": lambda s: s.disconnected(),
    "undelivered": lambda s: s.undelivered(),
    "close": lambda s: s.close("bye"),
}


@dataclass(frozen=True)
class Out:
    """Expected return value and next state (None: unchanged from the state's own)."""

    result: Any = None
    phase: Phase | None = None
    out_seq: int | None = None
    in_seq: int | None = None
    acked_upto: int | None = None
    window: list[int] | None = None
    undelivered: list[int] | None = None


@dataclass(frozen=True)
class Err:
    """Expected error; the session is left exactly as it was."""

    exc: type[BaseException]


E = env
# For each state, every input: the outcome. The table must cover every pair (checked below).
TABLE: dict[str, dict[str, Out | Err]] = {
    "fresh": {
        "next_seq": Out(1, out_seq=1),
        "send": Out(1, out_seq=1, window=[1], undelivered=[1]),
        "sent_unreserved": Err(ValueError),
        "sent_again": Err(ValueError),
        "received_0": Err(ValueError),
        "received_1": Out(True, in_seq=1),
        "received_2": Err(SequenceGap),
        "received_3": Err(SequenceGap),
        "acked_0": Out(False),
        "acked_1": Err(AckBeyondSent),
        "acked_all": Out(False),  # acked(0): nothing sent, nothing to ack
        "acked_beyond": Err(AckBeyondSent),
        "reconnected_0": Out([], phase=C),
        "reconnected_1": Err(AckBeyondSent),
        "reconnected_beyond": Err(AckBeyondSent),
        "disconnected": Out(None),
        "undelivered": Out([]),
        "close": Out([], phase=X),
    },
    "first_dial": {
        "next_seq": Out(3, out_seq=3),
        "send": Out(3, out_seq=3, window=[1, 2, 3], undelivered=[1, 2, 3]),
        "sent_unreserved": Err(ValueError),
        "sent_again": Err(ValueError),
        "received_0": Err(ValueError),
        "received_1": Out(True, in_seq=1),
        "received_2": Err(SequenceGap),
        "received_3": Err(SequenceGap),
        "acked_0": Out(False),
        "acked_1": Out(False, acked_upto=1, window=[2], undelivered=[2]),
        "acked_all": Out(True, acked_upto=2, window=[], undelivered=[]),
        "acked_beyond": Err(AckBeyondSent),
        "reconnected_0": Out([E(1), E(2)], phase=C, undelivered=[]),
        "reconnected_1": Out([E(2)], phase=C, acked_upto=1, window=[2], undelivered=[]),
        "reconnected_beyond": Err(AckBeyondSent),
        "disconnected": Out(None),
        "undelivered": Out([E(1), E(2)]),
        "close": Out([E(1), E(2)], phase=X, window=[], undelivered=[]),
    },
    "live": {
        "next_seq": Out(3, out_seq=3),
        "send": Out(3, out_seq=3, window=[1, 2, 3]),
        "sent_unreserved": Err(ValueError),
        "sent_again": Err(ValueError),
        "received_0": Err(ValueError),
        "received_1": Out(False),  # a duplicate
        "received_2": Out(True, in_seq=2),
        "received_3": Err(SequenceGap),
        "acked_0": Out(False),
        "acked_1": Out(False, acked_upto=1, window=[2]),
        "acked_all": Out(True, acked_upto=2, window=[]),
        "acked_beyond": Err(AckBeyondSent),
        "reconnected_0": Err(RuntimeError),  # the old connection goes first
        "reconnected_1": Err(RuntimeError),
        "reconnected_beyond": Err(RuntimeError),
        "disconnected": Out(None, phase=D),  # both written: undelivered stays []
        "undelivered": Out([]),
        "close": Out([], phase=X, window=[]),
    },
    "live_acked": {
        "next_seq": Out(3, out_seq=3),
        "send": Out(3, out_seq=3, window=[3]),
        "sent_unreserved": Err(ValueError),
        "sent_again": Err(ValueError),
        "received_0": Err(ValueError),
        "received_1": Out(False),
        "received_2": Out(True, in_seq=2),
        "received_3": Err(SequenceGap),
        "acked_0": Out(False),
        "acked_1": Out(False),  # stale
        "acked_all": Out(False),  # acked(2) again: stale
        "acked_beyond": Err(AckBeyondSent),
        "reconnected_0": Err(RuntimeError),
        "reconnected_1": Err(RuntimeError),
        "reconnected_beyond": Err(RuntimeError),
        "disconnected": Out(None, phase=D),
        "undelivered": Out([]),
        "close": Out([], phase=X),
    },
    "full": {
        "next_seq": Err(WindowFull),
        "send": Err(WindowFull),
        "sent_unreserved": Err(ValueError),
        "sent_again": Err(ValueError),
        "received_0": Err(ValueError),
        "received_1": Out(True, in_seq=1),
        "received_2": Err(SequenceGap),
        "received_3": Err(SequenceGap),
        "acked_0": Out(False),
        "acked_1": Out(False, acked_upto=1, window=[2, 3, 4]),
        "acked_all": Out(True, acked_upto=4, window=[]),
        "acked_beyond": Err(AckBeyondSent),
        "reconnected_0": Err(RuntimeError),
        "reconnected_1": Err(RuntimeError),
        "reconnected_beyond": Err(RuntimeError),
        "disconnected": Out(None, phase=D),
        "undelivered": Out([]),
        "close": Out([], phase=X, window=[]),
    },
    "broken": {
        "next_seq": Out(4, out_seq=4),
        "send": Out(4, out_seq=4, window=[1, 2, 3, 4], undelivered=[3, 4]),
        "sent_unreserved": Err(ValueError),
        "sent_again": Err(ValueError),
        "received_0": Err(ValueError),
        "received_1": Out(False),
        "received_2": Out(True, in_seq=2),
        "received_3": Err(SequenceGap),
        "acked_0": Out(False),
        "acked_1": Out(False, acked_upto=1, window=[2, 3]),
        "acked_all": Out(True, acked_upto=3, window=[], undelivered=[]),
        "acked_beyond": Err(AckBeyondSent),
        "reconnected_0": Out([E(1), E(2), E(3)], phase=C, undelivered=[]),
        "reconnected_1": Out([E(2), E(3)], phase=C, acked_upto=1, window=[2, 3],
                             undelivered=[]),
        "reconnected_beyond": Err(AckBeyondSent),
        "disconnected": Out(None),  # already: the mark stays
        "undelivered": Out([E(3)]),
        "close": Out([E(3)], phase=X, window=[], undelivered=[]),
    },
    "closed": {
        "next_seq": Err(SessionClosed),
        "send": Err(SessionClosed),
        "sent_unreserved": Out(None),  # dropped: the failure took back what it had
        "sent_again": Out(None),
        "received_0": Err(ValueError),
        "received_1": Out(False),
        "received_2": Out(False),  # nothing is delivered after the failure
        "received_3": Err(SequenceGap),
        "acked_0": Out(False),
        "acked_1": Out(True, acked_upto=1),  # the (empty) window stays empty
        "acked_all": Out(True, acked_upto=2),
        "acked_beyond": Err(AckBeyondSent),
        "reconnected_0": Err(RuntimeError),
        "reconnected_1": Err(RuntimeError),
        "reconnected_beyond": Err(RuntimeError),
        "disconnected": Out(None),
        "undelivered": Out([]),
        "close": Out([]),  # already closed: the first reason stays
    },
}


def _snapshot(s: Session) -> tuple[Any, ...]:
    window = [seq for seq, _ in s.window()]
    undelivered = [int(e[1:]) for e in s.undelivered()]
    return (s.phase, s.out_seq, s.in_seq, s.acked_upto, window, undelivered, s.reason)


def test_table_is_exhaustive() -> None:
    assert set(TABLE) == set(STATES)
    for state, row in TABLE.items():
        assert set(row) == set(INPUTS), state


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("inp", list(INPUTS))
def test_every_state_and_input(state: str, inp: str) -> None:
    s = STATES[state]()
    before = _snapshot(s)
    expect = TABLE[state][inp]
    if isinstance(expect, Err):
        with pytest.raises(expect.exc):
            INPUTS[inp](s)
        assert _snapshot(s) == before, "an error changed the session"
        return
    assert INPUTS[inp](s) == expect.result
    after = _snapshot(s)
    want = list(before)
    for i, value in enumerate((expect.phase, expect.out_seq, expect.in_seq,
                               expect.acked_upto, expect.window, expect.undelivered)):
        if value is not None:
            want[i] = value
    if expect.phase is X and before[0] is not X:
        want[6] = "bye"
    assert after == tuple(want)


def test_errors_are_the_library_kinds() -> None:
    assert issubclass(WindowFull, TempFailure) and issubclass(SessionClosed, PermFailure)
    assert issubclass(SequenceGap, ProtocolError) and issubclass(AckBeyondSent, ProtocolError)
    with pytest.raises(SessionClosed, match="site peer failed permanently: gone"):
        closed().next_seq()
    with pytest.raises(WindowFull, match=r"link to peer has 4 unacknowledged messages "
                                         r"\(max_unacked=4\)"):
        full().next_seq()


def test_bound() -> None:
    assert Session().max_unacked == MAX_UNACKED_DEFAULT
    with pytest.raises(ValueError):
        Session(0)
    s = full()
    s.acked(1)  # room for exactly one more
    send(s)
    with pytest.raises(WindowFull):
        s.next_seq()


def test_close_keeps_the_first_reason() -> None:
    s = first_dial()
    assert s.close("first") == [E(1), E(2)]
    assert s.close("second") == []
    assert s.reason == "first"


# -- properties ------------------------------------------------------------------------------

OPS = st.sampled_from(["send", "send", "send", "deliver", "deliver", "ack", "deliver_ack",
                       "drop", "reconnect", "reconnect_stale"])


@settings(max_examples=300, deadline=None)
@given(st.lists(OPS, max_size=120), st.integers(1, 8), st.randoms(use_true_random=False))
def test_random_interleavings_never_lose_or_duplicate(ops: list[str], bound: int,
                                                      rng: Any) -> None:
    """A sends to B over connections that break (losing what is in flight, both ways) and
    are re-made (each side announcing what it has, possibly a stale value): B delivers
    1, 2, 3, ... exactly once each, never skips, A's window stays bounded, and in the end
    everything A sent arrives."""
    a, b = Session(bound, "b"), Session(bound, "a")
    to_b: deque[int] = deque()
    to_a: deque[int] = deque()  # acks
    delivered: list[int] = []
    written: set[int] = set()
    b_history = [0]
    connected = False

    def reconnect(last_received: int) -> None:
        nonlocal connected
        resend = a.reconnected(last_received)
        b.reconnected(0)
        assert [int(e[1:]) for e in resend] == [seq for seq, _ in a.window()]
        for e in resend:
            to_b.append(int(e[1:]))
            written.add(int(e[1:]))
        connected = True

    def drop() -> None:
        nonlocal connected
        to_b.clear()
        to_a.clear()
        a.disconnected()
        b.disconnected()
        connected = False

    for op in ops:
        if op == "send":
            try:
                seq = a.next_seq()
            except WindowFull:
                assert a.unacked == bound
                continue
            a.sent(seq, env(seq))
            if connected:
                to_b.append(seq)
                written.add(seq)
        elif op == "deliver" and to_b:
            seq = to_b.popleft()
            if b.received(seq):  # a SequenceGap would fail the test
                delivered.append(seq)
                b_history.append(seq)
        elif op == "ack" and connected:
            to_a.append(b.in_seq)
        elif op == "deliver_ack" and to_a:
            a.acked(to_a.popleft())
        elif op == "drop" and connected:
            drop()
        elif op == "reconnect" and not connected:
            reconnect(b.in_seq)
        elif op == "reconnect_stale" and not connected:
            reconnect(rng.choice(b_history))  # an old announcement: duplicates follow
        # invariants
        assert delivered == list(range(1, len(delivered) + 1))
        window = [seq for seq, _ in a.window()]
        assert len(window) <= bound
        assert window == list(range(a.acked_upto + 1, a.out_seq + 1))
        assert a.acked_upto <= b.in_seq
        if not connected:
            assert [int(e[1:]) for e in a.undelivered()] == [s for s in window
                                                             if s not in written]
    # the end: one good connection, everything through
    if connected:
        drop()
    reconnect(b.in_seq)
    while to_b:
        seq = to_b.popleft()
        if b.received(seq):
            delivered.append(seq)
    assert delivered == list(range(1, a.out_seq + 1))
    assert a.acked(b.in_seq) or a.out_seq == a.acked_upto
    assert a.unacked == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 12), max_size=60))
def test_received_delivers_each_seq_at_most_once_in_order(seqs: list[int]) -> None:
    s = Session()
    out = []
    for seq in seqs:
        try:
            if s.received(seq):
                out.append(seq)
        except (SequenceGap, ValueError):
            pass
    assert out == list(range(1, len(out) + 1))
    assert s.in_seq == len(out)
