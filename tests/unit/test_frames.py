"""Hand-encoded hot-path envelopes are byte-identical to protobuf's own serialization."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netobj.wire import frames
from netobj.wire import netobj_pb2 as pb

u64 = st.integers(0, 2**64 - 1)


def _pb(env: pb.Envelope) -> bytes:
    data: bytes = env.SerializeToString(deterministic=True)
    return data


@given(u64, u64, st.text(), st.text(), st.binary(), st.booleans())
def test_call(seq: int, call_id: int, key: str, method: str, args: bytes, oneway: bool) -> None:
    ours = frames.call(seq, call_id, key, method, args, oneway)
    assert ours == _pb(pb.Envelope(seq=seq, call=pb.Call(
        call_id=call_id, key=key, method=method, args=args, oneway=oneway)))


@given(u64, u64, st.binary(), st.booleans())
def test_reply(seq: int, call_id: int, payload: bytes, ok: bool) -> None:
    if ok:
        ours = frames.reply_value(seq, call_id, payload)
        theirs = pb.Envelope(seq=seq, reply=pb.Reply(call_id=call_id, value=payload))
    else:
        ours = frames.reply_error(seq, call_id, payload)
        theirs = pb.Envelope(seq=seq, reply=pb.Reply(call_id=call_id, error=payload))
    assert ours == _pb(theirs)
    parsed = pb.Envelope.FromString(ours)
    assert parsed.reply.WhichOneof("outcome") == ("value" if ok else "error")


@given(u64, st.text(), u64, st.binary(), st.binary(), st.integers(0, 2**32 - 1), st.text(),
       st.integers(0, 2**32 - 1))
def test_batches(seq: int, key: str, first: int, calls: bytes, outcomes: bytes,
                 count: int, method: str, arity: int) -> None:
    assert frames.call_batch(seq, key, first, calls, count, method, arity) == _pb(pb.Envelope(
        seq=seq, call_batch=pb.CallBatch(key=key, first_call_id=first, calls=calls,
                                         count=count, method=method, arity=arity)))
    assert frames.reply_batch(seq, outcomes, first, calls) == _pb(pb.Envelope(
        seq=seq, reply_batch=pb.ReplyBatch(outcomes=outcomes, first_call_id=first,
                                           values=calls)))


@given(st.lists(st.binary(), max_size=5), u64)
def test_frame(envs: list[bytes], ack: int) -> None:
    envelopes = [frames.call(i + 1, i, "k", "m", e, False) for i, e in enumerate(envs)]
    built = frames.build_frame(envelopes, ack)
    parsed = pb.Frame.FromString(built)
    assert [e.SerializeToString() for e in parsed.envelopes] == envelopes
    assert parsed.ack == ack


@given(u64, st.text(), st.binary())
def test_port_send(seq: int, key: str, message: bytes) -> None:
    assert frames.port_send(seq, key, message) == _pb(pb.Envelope(
        seq=seq, port_send=pb.PortSend(key=key, message=message)))


@given(st.integers(1, 2**64 - 1))
def test_varint_matches_protobuf(n: int) -> None:
    # a Frame holding only ack=n is the field tag (0x10) followed by n as a varint
    assert b"\x10" + frames._varint(n) == pb.Frame(ack=n).SerializeToString()
