"""A small linearizability checker for recorded histories (Wing & Gong search, with memo).

A history is a list of :class:`Op` with a real-time interval each (start, end) and the result
observed. Ops of one process never overlap. The checker looks for a total order that respects
real time (an op that ended before another started comes first) in which a sequential model
reproduces every observed result. With few processes the search is cheap: at each step only
the next op of each process can come first.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Op:
    process: str
    start: float
    end: float
    name: str
    arg: Any
    result: Any


Model = Callable[[Hashable, str, Any], tuple[Hashable, Any]]


def counter_model(state: Hashable, name: str, arg: Any) -> tuple[Hashable, Any]:
    """A counter: ``inc(by)`` returns the new value, ``get`` the current one."""
    assert isinstance(state, int)
    if name == "inc":
        return state + arg, state + arg
    if name == "get":
        return state, state
    if name == "set":
        return arg, arg
    raise ValueError(name)


def check(history: list[Op], model: Model, initial: Hashable) -> bool:
    """True if ``history`` is linearizable with respect to ``model`` from ``initial``."""
    procs: dict[str, list[Op]] = {}
    for op in sorted(history, key=lambda o: o.start):
        procs.setdefault(op.process, []).append(op)
    for ops in procs.values():
        for a, b in itertools.pairwise(ops):
            if b.start < a.end:
                raise ValueError(f"ops of process {a.process} overlap: {a} / {b}")
    lanes = list(procs.values())
    total = sum(len(ops) for ops in lanes)
    start = (tuple(0 for _ in lanes), initial)
    seen: set[tuple[tuple[int, ...], Hashable]] = set()
    stack = [start]
    while stack:
        idx, state = stack.pop()
        if sum(idx) == total:
            return True
        if (idx, state) in seen:
            continue
        seen.add((idx, state))
        heads = [(k, lanes[k][i]) for k, i in enumerate(idx) if i < len(lanes[k])]
        min_end = min(op.end for _, op in heads)
        for k, op in heads:
            if op.start > min_end:
                continue  # another remaining op ended before this one started
            new_state, result = model(state, op.name, op.arg)
            if result == op.result:
                nxt = list(idx)
                nxt[k] += 1
                stack.append((tuple(nxt), new_state))
    return False


def stale_observations(history: list[Op]) -> list[tuple[Op, Op]]:
    """Pairs (earlier, later) where ``later`` started after ``earlier`` ended and observed an
    older value. Every op observes its result; values only grow in the histories these tests
    record (counters), so any such pair is a read of the past."""
    by_end = sorted(history, key=lambda o: o.end)
    out: list[tuple[Op, Op]] = []
    best: Op | None = None  # the highest value among the ops ended so far
    i = 0
    for later in sorted(history, key=lambda o: o.start):
        while i < len(by_end) and by_end[i].end < later.start:
            if best is None or by_end[i].result > best.result:
                best = by_end[i]
            i += 1
        if best is not None and later.result < best.result:
            out.append((best, later))
    return out
