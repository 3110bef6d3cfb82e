"""Value types of higher layers (netobj.Record) register their decoder with the codec."""

from __future__ import annotations

import cbor2
import pytest

import netobj
from netobj import errors
from netobj.wire import codec, tags


def test_record_registers_its_decoder() -> None:
    from netobj import record

    assert codec._VALUE_TYPES[tags.RECORD] is record._from_wire
    assert not hasattr(codec, "_record_from_wire")


def test_record_round_trips_through_a_plain_decoder() -> None:
    value = netobj.Record("point", x=1, y=[netobj.Record("z")])
    assert codec.Decoder().decode(codec.encode(value)) == value


def test_malformed_record_is_a_protocol_error() -> None:
    data = cbor2.dumps(cbor2.CBORTag(tags.RECORD, ["point"]))
    with pytest.raises(errors.ProtocolError, match="malformed record"):
        codec.Decoder().decode(data)


def test_builtin_tags_cannot_be_registered() -> None:
    for tag in (tags.TUPLE, tags.REF, tags.EXCEPTION, 1):
        with pytest.raises(ValueError):
            codec.register_value_type(tag, lambda content: content)


def test_a_registered_tag_decodes_and_extra_comes_on_top() -> None:
    tag = 55555
    codec.register_value_type(tag, lambda content: ("registered", content))
    try:
        data = cbor2.dumps(cbor2.CBORTag(tag, 3))
        assert codec.Decoder().decode(data) == ("registered", 3)
        extra = {tag: lambda content: ("extra", content)}
        assert codec.Decoder(extra=extra).decode(data) == ("extra", 3)
    finally:
        del codec._VALUE_TYPES[tag]
    with pytest.raises(errors.ProtocolError, match="unknown CBOR tag"):
        codec.Decoder().decode(data)
