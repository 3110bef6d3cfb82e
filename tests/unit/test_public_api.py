"""The public surface is what netobj/__init__.py exports."""

from __future__ import annotations

import netobj

EXPECTED = {
    "DeadlockError", "EntityFailure", "MarshalError", "NetobjError", "PermFailure",
    "ProtocolError", "Proxy", "RemoteError", "Site", "SiteClosedError", "TempFailure",
    "Ticket", "TicketError", "UnificationError", "UnknownEntityError", "Var", "active",
    "fault_state", "parse_ticket", "protocol_of", "stationary",
    "Port", "Stream", "Record", "unify", "by_need", "cached", "replicated", "reads",
    "FaultStream", "fault_stream", "on_fault", "fail_fast",
}


def test_exports() -> None:
    assert set(netobj.__all__) == EXPECTED
    for name in netobj.__all__:
        assert hasattr(netobj, name), name


def test_exception_tree() -> None:
    for name in ("TicketError", "UnknownEntityError", "MarshalError", "UnificationError",
                 "EntityFailure", "ProtocolError", "RemoteError", "SiteClosedError",
                 "DeadlockError"):
        assert issubclass(getattr(netobj, name), netobj.NetobjError)
    assert issubclass(netobj.TempFailure, netobj.EntityFailure)
    assert issubclass(netobj.PermFailure, netobj.EntityFailure)
