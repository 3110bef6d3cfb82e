"""The netobj exception tree, split by cause.

::

    NetobjError
    ├── TicketError              a ticket string is malformed (says which part)
    ├── UnknownEntityError       a well-formed key names nothing here (unknown, revoked, expired)
    ├── MarshalError             a value cannot cross the wire (names the type and the path)
    ├── UnificationError         a dataflow variable was bound to a conflicting value
    ├── EntityFailure            an entity cannot be used because of a distribution fault
    │   ├── TempFailure          its site cannot be reached now (may recover)
    │   └── PermFailure          its site is gone for good
    ├── ProtocolError            a peer broke the wire protocol (local detection)
    ├── RemoteError              a remote method raised an exception of a non-builtin type
    ├── SiteClosedError          the local site is closed (or was never started)
    └── DeadlockError            Var.wait() on a thread that runs an event loop

Library errors are translated at the transport boundary (``raise X from exc``); no exception
class is ever imported by name from the wire.
"""

from __future__ import annotations


class NetobjError(Exception):
    """Base class of every error netobj raises on its own account."""


class TicketError(NetobjError, ValueError):
    """A ticket string is malformed; the message says which part is wrong."""


class UnknownEntityError(NetobjError, LookupError):
    """A well-formed key names no entity at that site (never existed, revoked or expired)."""


class MarshalError(NetobjError, TypeError):
    """A value cannot be sent: the message names its type and where in the value it sits."""


class UnificationError(NetobjError, ValueError):
    """A single-assignment variable was bound to a value that conflicts with its binding."""


class EntityFailure(NetobjError):
    """An operation could not be done because of a distribution fault of the entity."""


class TempFailure(EntityFailure):
    """The entity's site cannot be reached now; it may recover."""


class PermFailure(EntityFailure):
    """The entity's site is gone for good (crashed, closed, restarted, or declared dead)."""


class ProtocolError(NetobjError):
    """A peer sent something the wire protocol does not allow."""


class SiteClosedError(NetobjError, RuntimeError):
    """The local site is closed or not started."""


class DeadlockError(NetobjError, RuntimeError):
    """A blocking wait was attempted on a thread that runs an event loop."""


class RemoteError(NetobjError):
    """A remote method raised an exception whose type is not a Python builtin.

    The remote type is not imported; its name, message and traceback text are kept.
    """

    def __init__(self, type_name: str, message: str, traceback_text: str = "") -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.remote_message = message
        self.remote_traceback = traceback_text


#: The message put in place of one that cannot be rendered (its ``__str__`` raised).
UNRENDERABLE = "<exception str() failed>"


def safe_str(exc: BaseException) -> str:
    """``str(exc)``, or :data:`UNRENDERABLE` when that raises (it runs user code)."""
    try:
        text = str(exc)
    except BaseException:  # user code: whatever it raises, we go on
        return UNRENDERABLE
    return text if type(text) is str else UNRENDERABLE


__all__ = [
    "DeadlockError",
    "EntityFailure",
    "MarshalError",
    "NetobjError",
    "PermFailure",
    "ProtocolError",
    "RemoteError",
    "SiteClosedError",
    "TempFailure",
    "TicketError",
    "UnificationError",
    "UnknownEntityError",
]
