"""The failure detector of a link, sans-IO: heartbeats, the round-trip estimate and the
fault state ``ok`` / ``temp_fail`` / ``perm_fail``.

Theory of operation
-------------------
The caller owns the clock and passes its reading in (``now_ns``, integer nanoseconds of a
steady clock); the machine returns decisions. Three inputs come from traffic:

* :meth:`Liveness.heard` - a frame arrived. A ``temp_fail`` link is ``ok`` again at once.
* ``last_sent_ns`` - the time of the last frame written (an attribute the caller sets on
  every write, so that the hot path costs no call).
* :meth:`Liveness.rtt_sample` - a round trip was measured (an echoed heartbeat, the
  handshake). The estimate is RFC 6298's: ``srtt`` and ``rttvar`` with gains 1/8 and 1/4,
  the first sample setting ``srtt = r, rttvar = r / 2``.

and one from a periodic timer, :meth:`Liveness.tick` (every :attr:`tick_ns`), which says

* whether to send a heartbeat: the link is connected and nothing was written for a
  heartbeat interval (the peer echoes it, which measures the round trip);
* whether the link is now ``temp_fail``: nothing was heard for :attr:`temp_after_ns`, that
  is two heartbeat intervals (the peer heartbeats when quiet) plus four round-trip timeouts
  (``srtt + 4 rttvar``, :data:`INITIAL_RTO_NS` before the first sample), kept within
  ``[temp_timeout_min, temp_timeout]``;
* whether it is now ``perm_fail``: it stayed ``temp_fail`` for ``perm_timeout``.

:meth:`Liveness.fail` makes the link ``perm_fail`` on other evidence (a refused connection,
another incarnation, a goodbye, the program's say-so).

Transitions::

    OK --tick: silence >= temp_after--> TEMP_FAIL --heard--> OK
    TEMP_FAIL --tick: temp for >= perm_timeout--> PERM_FAIL
    OK, TEMP_FAIL --fail--> PERM_FAIL (terminal)

Invariants (checked in ``tests/unit/test_liveness_machine.py``):

* ``PERM_FAIL`` is terminal: no input leaves it, and it reports no further transition;
* ``temp_since_ns`` is set exactly while the state is ``TEMP_FAIL``;
* every transition is reported once, by the call that made it;
* ``temp_timeout_min <= temp_after_ns <= temp_timeout`` whatever the samples;
* a heartbeat is due only while connected, at most once per heartbeat interval of quiet.
"""

from __future__ import annotations

import enum
from typing import Final, NamedTuple

#: The round-trip timeout assumed before the first sample.
INITIAL_RTO_NS: Final = 250_000_000


class FaultState(enum.Enum):
    OK = "ok"
    TEMP_FAIL = "temp_fail"
    PERM_FAIL = "perm_fail"

    def __str__(self) -> str:
        return self.value


_OK: Final = FaultState.OK
_TEMP: Final = FaultState.TEMP_FAIL
_PERM: Final = FaultState.PERM_FAIL


class Transition(NamedTuple):
    old: FaultState
    new: FaultState
    reason: str


class Tick(NamedTuple):
    """What :meth:`Liveness.tick` decided: send a heartbeat now, and the transitions made
    (in order; at most ok -> temp_fail -> perm_fail)."""

    heartbeat: bool
    transitions: tuple[Transition, ...]


_QUIET: Final = Tick(False, ())
_BEAT: Final = Tick(True, ())


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


class Liveness:
    """Fault state and round-trip estimate of one link (see the module docstring)."""

    __slots__ = ("_perm_timeout_s", "heartbeat_ns", "last_heard_ns", "last_sent_ns",
                 "perm_timeout_ns", "rttvar_ns", "srtt_ns", "state", "temp_max_ns",
                 "temp_min_ns", "temp_since_ns", "tick_ns")

    def __init__(self, *, heartbeat_interval_s: float, temp_timeout_min_s: float,
                 temp_timeout_s: float, perm_timeout_s: float, now_ns: int) -> None:
        self.heartbeat_ns = _ns(heartbeat_interval_s)
        self.temp_min_ns = _ns(temp_timeout_min_s)
        self.temp_max_ns = _ns(temp_timeout_s)
        self.perm_timeout_ns = _ns(perm_timeout_s)
        self._perm_timeout_s = perm_timeout_s  # for the reason, as configured
        #: how often the caller should call :meth:`tick`
        self.tick_ns = min(self.heartbeat_ns, self.temp_min_ns) // 2
        self.state = _OK
        self.last_heard_ns = now_ns
        self.last_sent_ns = now_ns
        #: when the link became temp_fail (None unless it is)
        self.temp_since_ns: int | None = None
        #: smoothed round trip and its variation, in nanoseconds (None before a sample)
        self.srtt_ns: float | None = None
        self.rttvar_ns = 0.0

    def __repr__(self) -> str:
        return f"<Liveness {self.state} srtt={self.srtt_ns} temp_after={self.temp_after_ns}>"

    @property
    def temp_after_ns(self) -> float:
        """Silence after which the link is temp_fail (see the module docstring)."""
        srtt = self.srtt_ns
        rto = (srtt + 4 * self.rttvar_ns) if srtt is not None else INITIAL_RTO_NS
        return min(self.temp_max_ns, max(self.temp_min_ns, 2 * self.heartbeat_ns + 4 * rto))

    def rtt_sample(self, rtt_ns: int) -> None:
        """A measured round trip (a negative one, from a confused clock, is ignored)."""
        if rtt_ns < 0:
            return
        srtt = self.srtt_ns
        if srtt is None:
            self.srtt_ns, self.rttvar_ns = float(rtt_ns), rtt_ns / 2
        else:
            self.rttvar_ns = 0.75 * self.rttvar_ns + 0.25 * abs(srtt - rtt_ns)
            self.srtt_ns = 0.875 * srtt + 0.125 * rtt_ns

    def heard(self, now_ns: int) -> Transition | None:
        """A frame arrived: the transition temp_fail -> ok it made, if any."""
        self.last_heard_ns = now_ns
        if self.state is _TEMP:
            self.state = _OK
            self.temp_since_ns = None
            return Transition(_TEMP, _OK, "traffic resumed")
        return None

    def tick(self, now_ns: int, connected: bool) -> Tick:
        """The periodic check: heartbeat due? state changes? (see the module docstring)."""
        state = self.state
        if state is _PERM:
            return _QUIET
        beat = connected and now_ns - self.last_sent_ns >= self.heartbeat_ns
        if beat:
            self.last_sent_ns = now_ns
        silence = now_ns - self.last_heard_ns
        transitions: tuple[Transition, ...] = ()
        if state is _OK:
            if silence < self.temp_after_ns:
                return _BEAT if beat else _QUIET
            self.state = state = _TEMP
            self.temp_since_ns = now_ns
            transitions = (Transition(_OK, _TEMP, f"no traffic for {silence / 1e9:.1f} s"),)
        since = self.temp_since_ns
        assert since is not None
        if now_ns - since >= self.perm_timeout_ns:
            reason = f"unreachable for {self._perm_timeout_s} s (perm_timeout)"
            transitions = (*transitions, self._perm(reason))
        return Tick(beat, transitions)

    def fail(self, reason: str) -> Transition | None:
        """Permanent failure on other evidence: the transition, or None if already perm."""
        if self.state is _PERM:
            return None
        return self._perm(reason)

    def _perm(self, reason: str) -> Transition:
        old = self.state
        self.state = _PERM
        self.temp_since_ns = None
        return Transition(old, _PERM, reason)
