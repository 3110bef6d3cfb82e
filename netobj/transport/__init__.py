"""Transports carry opaque frames (bytes) between sites; see ``base`` for the contract."""

from netobj.transport.base import (
    ConnectFailed,
    Connection,
    ConnectionHandler,
    ConnectionLost,
    ConnectRefused,
    Transport,
)

__all__ = [
    "ConnectFailed",
    "ConnectRefused",
    "Connection",
    "ConnectionHandler",
    "ConnectionLost",
    "Transport",
]
