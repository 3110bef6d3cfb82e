"""Hostile and broken input to a real site process: it drops the offender and keeps serving.

In every test a well-behaved client keeps calling ``calc.add(i, 1)`` in the background while
the site is abused, and the test checks that all of those calls succeeded, and that the client
made progress both during and after the abuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from base64 import urlsafe_b64encode
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf.message import DecodeError

import netobj
from netobj.ticket import parse_ticket
from netobj.transport.base import DEFAULT_MAX_FRAME_BYTES
from netobj.transport.grpc_transport import METHOD
from netobj.wire import codec, frames, tags
from netobj.wire import netobj_pb2 as pb
from tests.support.helpers import wait_until
from tests.support.procs import SiteProcess, start_site

TIMEOUT = 10.0
#: Calls the steady client must complete after the abuse ended.
PROGRESS_AFTER = 20


class SteadyClient:
    """Calls ``calc.add(i, 1)`` for i = 0, 1, 2, ... one at a time until stopped."""

    def __init__(self, calc: Any) -> None:
        self.calc = calc
        self.results: list[tuple[int, object]] = []
        self.failures: list[tuple[int, BaseException]] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def ok(self) -> int:
        return len(self.results)

    async def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            try:
                result = await asyncio.wait_for(self._call(i), TIMEOUT)
            except Exception as exc:  # every failure is reported by check()
                self.failures.append((i, exc))
            else:
                self.results.append((i, result))
            i += 1

    async def _call(self, i: int) -> object:
        return await self.calc.add(i, 1)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def progress(self, past: int | None = None) -> None:
        """Wait until more than ``past`` calls succeeded (default: one more than now).

        Fails fast if one of the client's calls failed.
        """
        past = self.ok if past is None else past
        await wait_until(lambda: self.ok > past or bool(self.failures), TIMEOUT)
        assert not self.failures, f"the steady client's calls failed: {self.failures!r}"

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, TIMEOUT + 5)

    def check(self) -> None:
        assert not self.failures, f"the steady client's calls failed: {self.failures!r}"
        assert self.results == [(i, i + 1) for i in range(len(self.results))]


@contextlib.asynccontextmanager
async def steady_client(site: netobj.Site, sp: SiteProcess) -> AsyncIterator[SteadyClient]:
    """Run a steady client around the body; the body is the abuse.

    The body waits for ``client.progress()`` while its abuse is under way. Checks afterwards
    that the client made progress during the body and after it, and that every call it made
    succeeded with the right result.
    """
    calc = await asyncio.wait_for(site.take(sp.tickets["calc"]), TIMEOUT)
    client = SteadyClient(calc)
    client.start()
    try:
        await client.progress(past=5)
        before = client.ok
        yield client
        during = client.ok
        assert during > before, "the steady client made no progress during the abuse"
        await client.progress(past=during + PROGRESS_AFTER)
    finally:
        await client.stop()
    client.check()


@pytest.fixture
async def sp() -> AsyncIterator[SiteProcess]:
    """The abused site process, on the gRPC carrier (these tests speak raw gRPC streams; the
    TCP carrier's own garbage and framing tests are in test_tcp_carrier and test_tcp_framing)."""
    proc = await start_site("--carrier", "grpc")
    try:
        yield proc
    finally:
        await proc.close()


# -- raw streams ------------------------------------------------------------------------------


def fresh_site_id() -> str:
    return urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")


@contextlib.asynccontextmanager
async def raw_stream(sp: SiteProcess) -> AsyncIterator[Any]:
    """A bare ``Link/Connect`` stream to the site: frames are raw bytes both ways."""
    async with grpc.aio.insecure_channel(sp.address) as channel:
        call = channel.stream_stream(METHOD, request_serializer=None,
                                     response_deserializer=None)()
        try:
            yield call
        finally:
            call.cancel()


async def handshake(call: Any, sp: SiteProcess) -> pb.Hello:
    """Send a valid Hello as a fresh site and return the site's Hello reply."""
    await asyncio.wait_for(
        call.write(frames.hello(fresh_site_id(), "127.0.0.1:1", sp.site_id, 0)), TIMEOUT)
    data = await asyncio.wait_for(call.read(), TIMEOUT)
    assert isinstance(data, bytes), f"no Hello reply: {data!r}"
    frame = pb.Frame.FromString(data)
    assert [e.WhichOneof("body") for e in frame.envelopes] == ["hello"]
    hello: pb.Hello = frame.envelopes[0].hello
    assert hello.site_id == sp.site_id and not hello.wrong_incarnation
    return hello


async def read_until_closed(call: Any) -> grpc.StatusCode:
    """Read (and drop) frames until the server ends the stream; return its status code."""

    async def drain() -> grpc.StatusCode:
        while True:
            try:
                data = await call.read()
            except grpc.aio.AioRpcError as exc:
                return exc.code()
            if data is grpc.aio.EOF:
                code: grpc.StatusCode = await call.code()
                return code

    return await asyncio.wait_for(drain(), TIMEOUT)


async def read_reply(call: Any) -> pb.Reply:
    """Read frames until one carries a Reply (skipping heartbeats)."""

    async def look() -> pb.Reply:
        while True:
            data = await call.read()
            assert isinstance(data, bytes), f"stream ended while waiting for a reply: {data!r}"
            for env in pb.Frame.FromString(data).envelopes:
                if env.WhichOneof("body") == "reply":
                    reply: pb.Reply = env.reply
                    return reply
                assert env.WhichOneof("body") == "heartbeat", env

    return await asyncio.wait_for(look(), TIMEOUT)


async def wait_for_line(sp: SiteProcess, *parts: str) -> str:
    """A stderr line of the site that contains every one of ``parts``."""
    line = await sp.wait_for_log(parts[0], TIMEOUT)
    for part in parts[1:]:
        assert part in line, line
    return line


# -- the tests --------------------------------------------------------------------------------


async def test_random_bytes_on_the_tcp_port(site: netobj.Site, sp: SiteProcess) -> None:
    host, port = sp.address.rsplit(":", 1)
    junk = random.Random(1234).randbytes(64 * 1024)
    async with steady_client(site, sp) as client:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)),
                                                TIMEOUT)
        try:
            # the server may close (or reset) before it has read everything
            with contextlib.suppress(ConnectionError):
                writer.write(junk)
                await asyncio.wait_for(writer.drain(), TIMEOUT)
            await client.progress()

            async def until_eof() -> None:
                with contextlib.suppress(ConnectionError):
                    while await reader.read(65536):
                        pass

            await asyncio.wait_for(until_eof(), TIMEOUT)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await asyncio.wait_for(writer.wait_closed(), TIMEOUT)


async def test_garbage_first_message(site: netobj.Site, sp: SiteProcess) -> None:
    garbage = b"not a frame \xff\xff\xff\xff"
    with pytest.raises(DecodeError):
        pb.Frame.FromString(garbage)
    async with steady_client(site, sp) as client:
        async with raw_stream(sp) as call:
            await asyncio.wait_for(call.write(garbage), TIMEOUT)
            await client.progress()
            await read_until_closed(call)
        line = await wait_for_line(sp, "malformed", "closing connection from")
        assert "handshake" in line, line


async def test_truncated_frame_after_handshake(site: netobj.Site, sp: SiteProcess) -> None:
    args = codec.encode_args(("A" * 22,), {})
    whole = frames.build_frame([frames.call(1, 1, "site", "take", args, False)], 0)
    truncated = whole[: len(whole) // 2]
    with pytest.raises(DecodeError):
        pb.Frame.FromString(truncated)
    async with steady_client(site, sp) as client:
        async with raw_stream(sp) as call:
            await handshake(call, sp)
            await asyncio.wait_for(call.write(truncated), TIMEOUT)
            await client.progress()
            await read_until_closed(call)
        await wait_for_line(sp, "malformed frame", "closing connection from")


async def test_oversized_frames(site: netobj.Site, sp: SiteProcess) -> None:
    assert DEFAULT_MAX_FRAME_BYTES == 16 * 1024 * 1024
    over_ours = DEFAULT_MAX_FRAME_BYTES + 1024 * 1024  # reaches the link layer
    over_grpc = 40 * 1024 * 1024  # gRPC's own limit is 2 x max_frame_bytes (+ 1 KiB)
    async with steady_client(site, sp) as client:
        async with raw_stream(sp) as call:
            await handshake(call, sp)
            await asyncio.wait_for(call.write(b"\x00" * over_ours), TIMEOUT)
            await client.progress()
            await read_until_closed(call)
        line = await wait_for_line(sp, "over the limit", "closing connection from")
        assert str(over_ours) in line, line

        async with raw_stream(sp) as call:
            await handshake(call, sp)
            with contextlib.suppress(grpc.aio.AioRpcError):
                await asyncio.wait_for(call.write(b"\x00" * over_grpc), TIMEOUT)
            await client.progress()
            code = await read_until_closed(call)
            assert code is grpc.StatusCode.RESOURCE_EXHAUSTED, code  # refused by gRPC


async def test_handshake_that_is_not_a_hello(site: netobj.Site, sp: SiteProcess) -> None:
    args = codec.encode_args(("A" * 22,), {})
    not_hello = frames.build_frame([frames.call(1, 1, "site", "take", args, False)], 0)
    async with steady_client(site, sp) as client:
        async with raw_stream(sp) as call:
            await asyncio.wait_for(call.write(not_hello), TIMEOUT)
            await client.progress()
            await read_until_closed(call)
        await wait_for_line(sp, "first frame is not a Hello", "closing connection from")


async def test_sequence_gap(site: netobj.Site, sp: SiteProcess) -> None:
    args = codec.encode_args(("A" * 22,), {})
    gap = frames.build_frame([frames.call(5, 1, "site", "take", args, False)], 0)
    async with steady_client(site, sp) as client:
        async with raw_stream(sp) as call:
            await handshake(call, sp)
            await asyncio.wait_for(call.write(gap), TIMEOUT)
            await client.progress()
            await read_until_closed(call)
        line = await wait_for_line(sp, "sequence gap", "closing connection from")
        assert "5 after 0" in line, line


async def test_call_to_a_key_that_names_nothing(site: netobj.Site, sp: SiteProcess) -> None:
    real_keys = {parse_ticket(t).key for t in sp.tickets.values()}
    ref = codec.Ref(tags.KIND_OBJECT, "stationary", sp.site_id, sp.address, "A" * 22)
    async with steady_client(site, sp) as client:
        answer = site._invoke(ref, "add", (1, 2), {}, False)
        await client.progress()
        with pytest.raises(netobj.UnknownEntityError) as info:
            await asyncio.wait_for(answer, TIMEOUT)
    message = str(info.value)
    assert not [k for k in real_keys if k in message], message
    assert "A" * 22 not in message, message


async def test_call_with_args_that_are_not_cbor(site: netobj.Site, sp: SiteProcess) -> None:
    async with steady_client(site, sp) as client:
        async with raw_stream(sp) as call:
            await handshake(call, sp)
            bad = frames.call(1, 1, "site", "take", b"\xff\xff", False)
            await asyncio.wait_for(call.write(frames.build_frame([bad], 0)), TIMEOUT)
            await client.progress()
            reply = await read_reply(call)
            assert reply.call_id == 1 and reply.WhichOneof("outcome") == "error"
            error = codec.decode_exception(reply.error)
            assert isinstance(error, netobj.ProtocolError), error

            # the connection stays usable: a valid take of an unknown ticket key
            args = codec.encode_args(("A" * 22,), {})
            good = frames.call(2, 2, "site", "take", args, False)
            await asyncio.wait_for(call.write(frames.build_frame([good], 1)), TIMEOUT)
            reply = await read_reply(call)
            assert reply.call_id == 2 and reply.WhichOneof("outcome") == "error"
            error = codec.decode_exception(reply.error)
            assert isinstance(error, netobj.UnknownEntityError), error
