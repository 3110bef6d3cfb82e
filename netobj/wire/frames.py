"""Frames: protobuf ``Frame``/``Envelope`` helpers and the frame size limits.

A frame is built by concatenating envelopes that were serialized once, when they were
queued (they may be resent after a reconnect), so writing a frame costs no re-encoding:
``Frame.envelopes`` is field 1 (length-delimited) and ``Frame.ack`` field 2 (varint).
"""

from __future__ import annotations

from typing import Final

from netobj.wire import netobj_pb2 as pb

PROTOCOL_VERSION: Final = 1
#: Most envelopes written in one frame (a frame still never waits to fill up).
MAX_ENVELOPES_PER_FRAME: Final = 1024
#: Soft cap on bytes per frame when batching several envelopes.
MAX_BATCH_BYTES: Final = 1024 * 1024


_ONE_BYTE: Final = [bytes((i,)) for i in range(0x80)]


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _ONE_BYTE[n]
    if n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def build_frame(envelopes: list[bytes], ack: int) -> bytes:
    """Serialize a Frame from already-serialized envelopes (same bytes as protobuf would)."""
    parts: list[bytes] = []
    for env in envelopes:
        parts.append(b"\x0a")
        parts.append(_varint(len(env)))
        parts.append(env)
    if ack:
        parts.append(b"\x10")
        parts.append(_varint(ack))
    return b"".join(parts)


def parse_frame(data: bytes) -> pb.Frame:
    """Parse a frame; raises google.protobuf.message.DecodeError on garbage."""
    frame: pb.Frame = pb.Frame.FromString(data)
    return frame


def hello(
    site_id: str, address: str, expect_site_id: str, last_received: int,
    *, wrong_incarnation: bool = False,
) -> bytes:
    env = pb.Envelope(
        hello=pb.Hello(
            protocol_version=PROTOCOL_VERSION,
            site_id=site_id,
            address=address,
            expect_site_id=expect_site_id,
            last_received=last_received,
            wrong_incarnation=wrong_incarnation,
        )
    )
    return build_frame([env.SerializeToString()], 0)


def _ser(env: pb.Envelope) -> bytes:
    data: bytes = env.SerializeToString()
    return data


def heartbeat(sent_ns: int, echo_ns: int) -> bytes:
    return _ser(pb.Envelope(heartbeat=pb.Heartbeat(sent_ns=sent_ns, echo_ns=echo_ns)))


def goodbye(reason: str, permanent: bool) -> bytes:
    return _ser(pb.Envelope(goodbye=pb.Goodbye(reason=reason, permanent=permanent)))


# Calls and replies are the hot path: they are encoded by hand (protobuf's wire format is
# stable and simple); tests/unit/test_frames.py checks each against the protobuf serializer.


def _seq(seq: int) -> bytes:
    return b"\x08" + _varint(seq) if seq else b""


def _envelope(seq: int, tag: bytes, parts: list[bytes]) -> bytes:
    """``seq`` and one length-delimited body field made of ``parts``, in ONE join: a large
    payload among the parts is copied once here, not once per nesting level."""
    n = 0
    for part in parts:
        n += len(part)
    return b"".join((_seq(seq), tag, _varint(n), *parts))


def _field(parts: list[bytes], tag: bytes, data: bytes) -> None:
    """Append a length-delimited field (left out when empty, as protobuf does)."""
    if data:
        parts += (tag, _varint(len(data)), data)


def call(seq: int, call_id: int, key: str, method: str, args: bytes, oneway: bool) -> bytes:
    parts: list[bytes] = [b"\x08", _varint(call_id)] if call_id else []
    _field(parts, b"\x12", key.encode())
    _field(parts, b"\x1a", method.encode())
    _field(parts, b"\x22", args)
    if oneway:
        parts.append(b"\x28\x01")
    return _envelope(seq, b"\x22", parts)


def reply_value(seq: int, call_id: int, value: bytes) -> bytes:
    parts: list[bytes] = [b"\x08", _varint(call_id)] if call_id else []
    parts += (b"\x12", _varint(len(value)), value)
    return _envelope(seq, b"\x2a", parts)


def reply_error(seq: int, call_id: int, error: bytes) -> bytes:
    parts: list[bytes] = [b"\x08", _varint(call_id)] if call_id else []
    parts += (b"\x1a", _varint(len(error)), error)
    return _envelope(seq, b"\x2a", parts)


def call_batch(seq: int, key: str, first_call_id: int, calls: bytes, count: int,
               method: str = "", arity: int = 0) -> bytes:
    parts: list[bytes] = []
    _field(parts, b"\x0a", key.encode())
    if first_call_id:
        parts += (b"\x10", _varint(first_call_id))
    _field(parts, b"\x1a", calls)
    if count:
        parts += (b"\x20", _varint(count))
    _field(parts, b"\x2a", method.encode())
    if arity:
        parts += (b"\x30", _varint(arity))
    return _envelope(seq, b"\x3a", parts)


def reply_batch(seq: int, outcomes: bytes, first_call_id: int = 0, values: bytes = b"") -> bytes:
    parts: list[bytes] = []
    _field(parts, b"\x0a", outcomes)
    if first_call_id:
        parts += (b"\x10", _varint(first_call_id))
    _field(parts, b"\x1a", values)
    return _envelope(seq, b"\x42", parts)


def var_register(seq: int, key: str) -> bytes:
    return _ser(pb.Envelope(seq=seq, var_register=pb.VarRegister(key=key)))


def var_bind(seq: int, key: str, value: bytes, failed: bool) -> bytes:
    return _ser(pb.Envelope(seq=seq, var_bind=pb.VarBind(key=key, value=value, failed=failed)))


def var_redirect(seq: int, key: str, value: bytes, failed: bool) -> bytes:
    return _ser(pb.Envelope(seq=seq, var_redirect=pb.VarRedirect(key=key, value=value,
                                                                  failed=failed)))


def var_need(seq: int, key: str) -> bytes:
    return _ser(pb.Envelope(seq=seq, var_need=pb.VarNeed(key=key)))


def port_send(seq: int, key: str, message: bytes) -> bytes:
    parts: list[bytes] = []
    _field(parts, b"\x0a", key.encode())
    _field(parts, b"\x12", message)
    return _envelope(seq, b"\x6a", parts)
