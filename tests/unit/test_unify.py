"""Unification properties (hypothesis) and rules, on local values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netobj
from netobj.var import Var, deref

LABELS = st.sampled_from(["a", "b"])
KEYS = st.sampled_from(["x", "y", "z"])


@st.composite
def terms(draw: st.DrawFn, pool: list[Var[Any]]) -> Any:
    """Values with Var leaves drawn from a shared pool (so both sides can share Vars)."""
    leaf = st.one_of(
        st.integers(-3, 3), st.sampled_from(["s", "t"]), st.none(), st.booleans(),
        st.sampled_from(pool),
    )
    return draw(st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.lists(inner, max_size=3).map(tuple),
            st.dictionaries(KEYS, inner, max_size=3),
            st.builds(lambda label, f: netobj.Record(label, **f), LABELS,
                      st.dictionaries(KEYS, inner, max_size=2)),
        ),
        max_leaves=8,
    ))


class Cyclic(Exception):
    """The resolved value is a rational (cyclic) tree: compared another way."""


def resolve(x: Any, active: frozenset[int] = frozenset()) -> Any:
    """The value with every bound Var replaced by its value (unbound Vars: representatives).

    Unification may legitimately bind a Var to a structure that contains it (no occurs
    check: rational trees); such results raise Cyclic instead of expanding forever.
    """
    x = deref(x)
    if isinstance(x, Var):
        return ("VAR", id(x))
    if isinstance(x, list | tuple | dict | netobj.Record):
        if id(x) in active:
            raise Cyclic
        active = active | {id(x)}
    if isinstance(x, list):
        return [resolve(i, active) for i in x]
    if isinstance(x, tuple):
        return tuple(resolve(i, active) for i in x)
    if isinstance(x, dict):
        return {k: resolve(v, active) for k, v in x.items()}
    if isinstance(x, netobj.Record):
        return (x.label, {k: resolve(v, active) for k, v in x.items()})
    return (type(x).__name__, x)


def resolved_equal(a: Any, b: Any) -> bool:
    try:
        return bool(resolve(a) == resolve(b))
    except Cyclic:
        # rational trees: equal iff unifying them again binds nothing and succeeds
        return True


def snapshot(pool: list[Var[Any]]) -> list[Any]:
    return [(v._state, id(v._value) if v._state == 3 else repr(getattr(v, "_value", None)))
            for v in pool]


def unify_or_none(a: Any, b: Any) -> bool:
    try:
        assert netobj.unify(a, b) is None  # all local: decided here
    except netobj.UnificationError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_success_makes_both_sides_equal_failure_binds_nothing(data: st.DataObject) -> None:
    pool: list[Var[Any]] = [Var() for _ in range(4)]
    a = data.draw(terms(pool))
    b = data.draw(terms(pool))
    before = snapshot(pool)
    if unify_or_none(a, b):
        assert resolved_equal(a, b)
        # idempotent: unifying again succeeds and binds nothing more
        again = snapshot(pool)
        assert unify_or_none(a, b)
        assert snapshot(pool) == again
    else:
        assert snapshot(pool) == before, "a failed unification bound something"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_symmetric(data: st.DataObject) -> None:
    pool1: list[Var[Any]] = [Var() for _ in range(4)]
    pool2: list[Var[Any]] = [Var() for _ in range(4)]
    seed_a = data.draw(terms(pool1))
    seed_b = data.draw(terms(pool1))
    # the same pair, built twice over separate pools, unified in the two orders
    mapping = dict(zip(map(id, pool1), pool2, strict=True))

    def copy(x: Any) -> Any:
        if isinstance(x, Var):
            return mapping[id(x)]
        if isinstance(x, list):
            return [copy(i) for i in x]
        if isinstance(x, tuple):
            return tuple(copy(i) for i in x)
        if isinstance(x, dict):
            return {k: copy(v) for k, v in x.items()}
        if isinstance(x, netobj.Record):
            return netobj.Record(x.label, **{k: copy(v) for k, v in x.items()})
        return x

    a2, b2 = copy(seed_a), copy(seed_b)
    ok1 = unify_or_none(seed_a, seed_b)
    ok2 = unify_or_none(b2, a2)
    assert ok1 == ok2
    if ok1:
        bound1 = [not isinstance(deref(v), Var) for v in pool1]
        bound2 = [not isinstance(deref(v), Var) for v in pool2]
        assert bound1 == bound2


def test_rules() -> None:
    assert unify_or_none([1, (2, "x")], [1, (2, "x")])
    assert not unify_or_none([1, 2], (1, 2))  # list and tuple differ
    assert not unify_or_none(1, True)
    assert not unify_or_none(1, 1.0)
    assert not unify_or_none({"a": 1}, {"b": 1})
    assert not unify_or_none(netobj.Record("a", x=1), netobj.Record("b", x=1))
    x: Var[Any] = Var()
    y: Var[Any] = Var()
    assert unify_or_none(netobj.Record("p", x=x, y=2), netobj.Record("p", x=1, y=y))
    assert (x.result(), y.result()) == (1, 2)


def test_var_var_makes_one_variable() -> None:
    a: Var[Any] = Var()
    b: Var[Any] = Var()
    c: Var[Any] = Var()
    assert netobj.unify(a, b) is None
    assert netobj.unify(c, b) is None
    a.bind(9)
    assert (a.result(), b.result(), c.result()) == (9, 9, 9)


def test_cyclic_values_terminate() -> None:
    x: list[Any] = [1]
    x.append(x)
    y: list[Any] = [1]
    y.append(y)
    assert unify_or_none(x, y)
    v: Var[Any] = Var()
    z: list[Any] = [v]
    z.append(z)
    w: list[Any] = [2]
    w.append(w)
    assert unify_or_none(z, w)
    assert v.result() == 2


def test_failed_half_way_binds_nothing() -> None:
    a: Var[Any] = Var()
    b: Var[Any] = Var()
    with pytest.raises(netobj.UnificationError):
        netobj.unify([a, b, 1], [1, 2, 3])
    assert not a.done() and not b.done()


def test_bind_conflicts_raise_at_once_when_known() -> None:
    v: Var[Any] = Var()
    v.bind([1, 2])
    v.bind([1, 2])
    with pytest.raises(netobj.UnificationError):
        v.bind([1, 3])
    assert v.result() == [1, 2]
