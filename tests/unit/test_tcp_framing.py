"""The TCP carrier's framing (netobj.transport.tcp._FrameProtocol), without a network:
whatever way the byte stream is cut into reads, the same frames come out, in order, once,
in pull mode (recv) and in push mode, and across the switch from one to the other."""

from __future__ import annotations

import asyncio
import itertools
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netobj.transport.base import ConnectionLost
from netobj.transport.tcp import _FrameProtocol


class FakeTransport:
    def __init__(self) -> None:
        self.aborted = False

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else None

    def abort(self) -> None:
        self.aborted = True


def wire(frames: list[bytes]) -> bytes:
    return b"".join(struct.pack(">I", len(f)) + f for f in frames)


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def protocol(max_frame_bytes: int = 1 << 20) -> tuple[_FrameProtocol, FakeTransport]:
    p = _FrameProtocol(max_frame_bytes)
    t = FakeTransport()
    p.connection_made(t)  # type: ignore[arg-type]
    return p, t


frames_st = st.lists(st.binary(max_size=300), max_size=12)
cuts_st = st.lists(st.integers(min_value=0, max_value=5000), max_size=20)


@settings(max_examples=300, deadline=None)
@given(frames=frames_st, cuts=cuts_st, switch=st.integers(min_value=0, max_value=20))
def test_any_cut_gives_the_same_frames_pull_then_push(frames: list[bytes], cuts: list[int],
                                                      switch: int) -> None:
    async def run() -> list[bytes]:
        p, _ = protocol()
        got: list[bytes] = []
        lost: list[str] = []
        chunks = cut(wire(frames), cuts)
        for i, chunk in enumerate(chunks):
            if i == switch:
                while p._frames:  # what the handshake reads by recv()
                    got.append(await p.recv())  # type: ignore[arg-type]
                p.push(got.append, lost.append)
            p.data_received(chunk)
        if switch >= len(chunks):
            p.push(got.append, lost.append)
        p.eof_received()
        await asyncio.sleep(0)  # the buffered frames are handed over on the next loop turn
        await asyncio.sleep(0)
        assert lost == [""], lost
        return got

    assert asyncio.run(run()) == frames


async def test_pull_mode_reports_a_clean_end_and_a_truncated_one() -> None:
    p, _ = protocol()
    p.data_received(wire([b"a", b"bc"]))
    p.eof_received()
    assert [await p.recv(), await p.recv(), await p.recv()] == [b"a", b"bc", None]
    q, _ = protocol()
    q.data_received(wire([b"whole"])[:-2])
    q.eof_received()
    with pytest.raises(ConnectionLost, match="truncated"):
        await q.recv()


async def test_a_length_over_the_limit_aborts_without_reading_on() -> None:
    p, t = protocol(max_frame_bytes=100)
    got: list[bytes] = []
    lost: list[str] = []
    p.push(got.append, lost.append)
    p.data_received(wire([b"ok"]) + struct.pack(">I", 201) + b"x" * 10)
    assert got == [b"ok"] and t.aborted and "over the limit" in lost[0]
    p.data_received(wire([b"after"]))  # nothing more is delivered
    assert got == [b"ok"]


async def test_a_frame_after_the_push_callback_stops_is_not_lost_to_recv() -> None:
    p, _ = protocol()
    p.data_received(wire([b"hello"]))
    assert await p.recv() == b"hello"
    p.data_received(wire([b"one", b"two"]))
    got: list[bytes] = []
    p.push(got.append, lambda reason: None)
    p.data_received(wire([b"three"]))  # arrives before the buffered ones are handed over
    await asyncio.sleep(0)
    assert got == [b"one", b"two", b"three"]
