"""CallBatch and ReplyBatch bodies (netobj.wire.batches): every layout round-trips, and no
list a peer can send makes a reader raise."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from netobj.wire import batches

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.binary(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)
arg_lists = st.lists(values, max_size=4)
mixed = st.tuples(st.text(min_size=1, max_size=8), arg_lists,
                  st.none() | st.dictionaries(st.text(max_size=4), values, max_size=3))


@given(st.integers(0, 5), st.integers(0, 20), st.data())
def test_uniform_calls_round_trip(arity: int, count: int, data: st.DataObject) -> None:
    calls = [data.draw(st.lists(values, min_size=arity, max_size=arity)) for _ in range(count)]
    body = batches.uniform_calls(calls)
    assert len(body) == count * arity
    assert batches.parse_uniform_calls(body, count, arity) == calls


@given(st.lists(values, max_size=12), st.integers(0, 6), st.integers(-2, 4))
def test_uniform_body_of_the_wrong_length_is_refused(items: list[Any], count: int,
                                                    arity: int) -> None:
    parsed = batches.parse_uniform_calls(items, count, arity)
    if arity < 0 or len(items) != count * arity:
        assert parsed is None
    else:
        assert parsed is not None and len(parsed) == count


@given(st.lists(mixed, max_size=12))
def test_mixed_calls_round_trip(calls: list[tuple[str, list[Any], dict[str, Any] | None]]
                                ) -> None:
    body = batches.mixed_calls(calls)
    expected = [(m, a, {} if kw is None else kw) for m, a, kw in calls]
    assert batches.parse_mixed_calls(body, len(calls)) == expected
    # a batch that announces fewer calls gives back only those
    assert batches.parse_mixed_calls(body, len(calls) // 2) == expected[:len(calls) // 2]


@given(st.lists(mixed, min_size=1, max_size=8), st.data())
def test_a_truncated_mixed_body_gives_back_the_calls_before_the_cut(
        calls: list[tuple[str, list[Any], dict[str, Any] | None]], data: st.DataObject) -> None:
    body = batches.mixed_calls(calls)
    cut = data.draw(st.integers(0, len(body) - 1))
    parsed = batches.parse_mixed_calls(body[:cut], len(calls))
    expected = [(m, a, {} if kw is None else kw) for m, a, kw in calls]
    assert len(parsed) < len(calls)
    assert parsed == expected[:len(parsed)]


@given(st.lists(values, max_size=20), st.integers(0, 10))
def test_any_list_parses_as_mixed_calls_without_raising(items: list[Any], count: int) -> None:
    parsed = batches.parse_mixed_calls(items, count)
    assert len(parsed) <= count
    for method, args, kwargs in parsed:
        assert type(method) is str and type(args) is list and type(kwargs) is dict


@given(st.lists(st.tuples(st.integers(0, 2**64), st.booleans(), values), max_size=12))
def test_outcomes_round_trip(triples: list[tuple[int, bool, Any]]) -> None:
    parsed = batches.parse_outcomes(batches.outcomes(triples))
    assert parsed is not None
    ids, oks, vals = parsed
    assert list(zip(ids, oks, vals, strict=True)) == triples


@given(st.lists(values, max_size=15))
def test_any_list_parses_as_outcomes_or_is_refused(items: list[Any]) -> None:
    parsed = batches.parse_outcomes(items)
    if len(items) % 3 or not all(type(i) is int for i in items[::3]):
        assert parsed is None
    else:
        assert parsed is not None and len(parsed[0]) == len(items) // 3
