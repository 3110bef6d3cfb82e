"""Transports carry opaque frames (bytes) between sites; see ``base`` for the contract."""

from netobj.transport.base import (
    ConnectFailed,
    ConnectionLost,
    ConnectRefused,
    Connection,
    ConnectionHandler,
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
