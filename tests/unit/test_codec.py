"""CBOR values: round trips, refusals with paths, limits, no classes from the wire."""

from __future__ import annotations

import math

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

import netobj
from netobj.wire import codec, tags

scalars = (st.none() | st.booleans() | st.integers() | st.text() | st.binary()
           | st.floats(allow_nan=False))
keys = st.none() | st.booleans() | st.integers() | st.text() | st.binary()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5)
    | st.lists(inner, max_size=5).map(tuple)
    | st.dictionaries(keys, inner, max_size=5),
    max_leaves=30,
)


def _same(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple))
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


@given(values)
def test_data_round_trips_with_types(value: object) -> None:
    assert _same(codec.Decoder().decode(codec.encode(value)), value)


@given(st.lists(values, max_size=4), st.dictionaries(st.text(), values, max_size=3))
def test_args_round_trip(args: list[object], kwargs: dict[str, object]) -> None:
    decoded = codec.Decoder().decode(codec.encode_args(tuple(args), kwargs))
    assert isinstance(decoded, list)
    assert _same(decoded[0], args)
    assert _same(decoded[1] if len(decoded) > 1 else {}, kwargs)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (object(), "<value>"),
        ([1, {2, 3}], r"\[1\]"),
        ({"a": {"b": (1, bytearray(b"x"))}}, r"\['a'\]\['b'\]\[1\]"),
    ],
)
def test_refusal_names_type_and_path(value: object, where: str) -> None:
    with pytest.raises(netobj.MarshalError, match=f"at {where}"):
        codec.encode(value)


def test_args_refusal_path() -> None:
    with pytest.raises(netobj.MarshalError, match=r"builtins\.object at kwargs\['x'\]\[0\]"):
        codec.encode_args((1,), {"x": [object()]})


def test_cycles_and_depth_are_refused() -> None:
    a: list[object] = []
    a.append(a)
    with pytest.raises(netobj.MarshalError, match="cyclic list"):
        codec.encode(a)
    deep: list[object] = []
    for _ in range(codec.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(netobj.MarshalError, match="deeper"):
        codec.encode(deep)


def test_size_limit() -> None:
    with pytest.raises(netobj.MarshalError, match="over the limit"):
        codec.encode(b"x" * (codec.MAX_VALUE_BYTES + 1))


def test_shared_substructure_is_not_a_cycle() -> None:
    shared = [1, 2]
    assert codec.Decoder().decode(codec.encode([shared, shared])) == [[1, 2], [1, 2]]


@pytest.mark.parametrize(
    "payload",
    [
        cbor2.dumps({1, 2}),  # set (tag 258)
        cbor2.dumps(cbor2.CBORTag(1, 0)),  # epoch datetime
        cbor2.dumps(cbor2.CBORTag(37, b"0" * 16)),  # UUID
        cbor2.dumps(cbor2.CBORTag(99999, 1)),  # unknown tag
        cbor2.dumps(cbor2.CBORTag(tags.REF, [1, 2])),  # malformed ref
        cbor2.dumps(cbor2.CBORTag(tags.EXCEPTION, "x")),  # malformed exception
        b"\xff",
        b"\x82\x01",  # truncated array
    ],
)
def test_decoder_refuses_what_is_not_netobj_data(payload: bytes) -> None:
    with pytest.raises(netobj.ProtocolError):
        codec.Decoder().decode(payload)


def test_exceptions_never_import_classes_from_the_wire() -> None:
    wire = cbor2.dumps(cbor2.CBORTag(tags.EXCEPTION, ["os.system", "rm -rf", ["x"], ""]))
    exc = codec.decode_exception(wire)
    assert isinstance(exc, netobj.RemoteError) and exc.type_name == "os.system"
    # a builtin name that is not an Exception subclass is not built either
    exc = codec.decode_exception(
        cbor2.dumps(cbor2.CBORTag(tags.EXCEPTION, ["SystemExit", "bye", [0], ""])))
    assert isinstance(exc, netobj.RemoteError)


def test_builtin_and_netobj_exceptions_keep_their_type() -> None:
    for exc in [KeyError("k"), ValueError("v", 2), ZeroDivisionError("z"),
                netobj.UnknownEntityError("gone"), netobj.TicketError("bad")]:
        back = codec.decode_exception(codec.encode_exception(exc))
        assert type(back) is type(exc) and back.args == exc.args
