"""The Hello exchange that opens every connection between two sites, both roles (as
Erlang's ``dist_util``).

Theory of operation
-------------------
The *dialer* writes ``Hello(site_id, address, expect_site_id, last_received)`` first and
waits (``handshake_timeout_s``) for the acceptor's answer. The *acceptor* reads the first
frame (:func:`read_hello`: it must be one valid Hello of our protocol version), and answers
with its own Hello, or - when it will not take the connection - with a Goodbye:

* ``permanent`` when it declared the dialer failed (the dialer then fails its side too);
* not permanent for a duplicate (both sites dialled at once; the other connection wins,
  :func:`replaces`);
* a Hello with ``wrong_incarnation`` when the dialer expects a site id this process is not.

:func:`accept` is the acceptor's first step (read the Hello with a timeout; answer a dialer
that wants another incarnation), :func:`reply` and :func:`refuse` its answers once the link
decided. :func:`dial` is the dialer's side: it returns the acceptor's Hello, raises
:class:`PeerGone` for evidence that the peer the link names is gone for good (a permanent
Goodbye, another incarnation), and :class:`HandshakeError` (or the transport's errors) for
anything worth another try. Both Hellos carry ``last_received``, from which each side
resends (``netobj.protocols.session``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from google.protobuf.message import DecodeError

from netobj.transport.base import Connection, ConnectionLost
from netobj.wire import frames
from netobj.wire import netobj_pb2 as pb

log = logging.getLogger("netobj.site")


class HandshakeError(Exception):
    """The first frame on a connection was not an acceptable Hello."""


class PeerGone(Exception):
    """The dialled peer answered that it (the site the link names) is gone for good."""


def read_hello(data: bytes | None, max_frame_bytes: int) -> pb.Hello:
    """The Hello in the first frame of a connection; :class:`HandshakeError` if it is not
    one acceptable Hello."""
    if data is None:
        raise HandshakeError("connection closed before the handshake")
    if len(data) > max_frame_bytes:
        raise HandshakeError(f"handshake frame of {len(data)} bytes over the limit")
    try:
        frame = frames.parse_frame(data)
    except DecodeError as exc:
        raise HandshakeError(f"malformed handshake frame: {exc}") from exc
    if len(frame.envelopes) != 1 or frame.envelopes[0].WhichOneof("body") != "hello":
        raise HandshakeError("first frame is not a Hello")
    hello: pb.Hello = frame.envelopes[0].hello
    if hello.protocol_version != frames.PROTOCOL_VERSION:
        raise HandshakeError(f"unsupported protocol version {hello.protocol_version}")
    if not hello.site_id:
        raise HandshakeError("Hello without a site id")
    return hello


def permanent_goodbye(data: bytes | None) -> str | None:
    """The reason, if ``data`` is a frame whose first envelope is a permanent Goodbye."""
    if not data:
        return None
    try:
        frame = frames.parse_frame(data)
    except DecodeError:
        return None
    if frame.envelopes and frame.envelopes[0].WhichOneof("body") == "goodbye":
        goodbye = frame.envelopes[0].goodbye
        if goodbye.permanent:
            return goodbye.reason or "the peer said goodbye for good"
    return None


def replaces(new_dialer: str, current_dialer: str) -> bool:
    """Two connections between the same two sites (both dialled at once): does the new one,
    dialled by ``new_dialer``, replace the current one? The one dialled by the smaller site
    id wins, on both sides, so that they converge on one stream."""
    return min(new_dialer, current_dialer) == new_dialer


# -- dialer --------------------------------------------------------------------------------


async def dial(conn: Connection, *, our_id: str, our_address: str, peer_id: str,
               peer_address: str, last_received: int, max_frame_bytes: int,
               timeout_s: float) -> pb.Hello:
    """The dialer's side on a fresh connection: the acceptor's Hello (see the module
    docstring for the errors). ``peer_id`` is "" when any site at the address will do."""
    await conn.send(frames.hello(our_id, our_address, peer_id, last_received))
    data = await asyncio.wait_for(conn.recv(), timeout_s)
    refusal = permanent_goodbye(data)
    if refusal is not None:  # the peer declared us failed: so be it, on both sides
        raise PeerGone(refusal)
    hello = read_hello(data, max_frame_bytes)
    if hello.wrong_incarnation or (peer_id and hello.site_id != peer_id):
        raise PeerGone(f"{peer_address} is now another incarnation ({hello.site_id[:8]}); "
                       f"site {peer_id[:8]} is gone")
    return hello


# -- acceptor ------------------------------------------------------------------------------


async def accept(conn: Connection, *, our_id: str, our_address: str, max_frame_bytes: int,
                 timeout_s: float) -> pb.Hello | None:
    """The acceptor's first step on a fresh connection: the dialer's Hello, addressed to this
    incarnation, or None when the connection is not one to take - it then has been answered
    where there is something to say (another incarnation is wanted) and closed, with the
    reason logged. Costs at most one frame of ``max_frame_bytes`` and ``timeout_s``."""
    try:
        data = await asyncio.wait_for(conn.recv(), timeout_s)
        if data is None:  # closed before saying anything: a peer's probe, or a dial given up
            log.debug("connection from %s closed before its Hello", conn.peer)
            await conn.close("closed before Hello")
            return None
        hello = read_hello(data, max_frame_bytes)
    except (HandshakeError, ConnectionLost, TimeoutError) as exc:
        log.warning("closing connection from %s: %s", conn.peer, str(exc) or type(exc).__name__)
        await conn.close(str(exc))
        return None
    if hello.expect_site_id and hello.expect_site_id != our_id:
        log.info("connection from %s wants site %s, which is not this incarnation",
                 conn.peer, hello.expect_site_id[:8])
        with contextlib.suppress(ConnectionLost):
            await conn.send(frames.hello(our_id, our_address, "", 0, wrong_incarnation=True))
        await conn.close("wrong incarnation")
        return None
    return hello


async def reply(conn: Connection, *, our_id: str, our_address: str, peer_id: str,
                last_received: int) -> None:
    """The acceptor's answer to an accepted Hello (the first frame it writes)."""
    await conn.send(frames.hello(our_id, our_address, peer_id, last_received))


async def refuse(conn: Connection, *, our_id: str, dead_reason: str | None) -> None:
    """The acceptor will not take the connection: it says why. ``dead_reason``: the peer was
    declared failed for that (it hears so, and fails its side too); None: a duplicate."""
    goodbye = (frames.goodbye(f"site {our_id[:8]} declared you failed ({dead_reason})", True)
               if dead_reason is not None else frames.goodbye("duplicate", False))
    with contextlib.suppress(ConnectionLost):
        await conn.send(frames.build_frame([goodbye], 0))
