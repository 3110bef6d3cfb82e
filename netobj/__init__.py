"""netobj: distributed objects, dataflow variables and reflected faults, after Mozart/Oz.

Layout (each layer imports only the ones below it; see DESIGN.md section 7):

* ``netobj.wire``        protobuf frames and CBOR values
* ``netobj.transport``   grpc.aio and the simulated network
* ``netobj.link``        per-peer sessions: handshake, seq/ack/resend, heartbeats, fault state
* ``netobj.protocols``   sans-IO state machines (invocation, stationary, active,
                         migratory, replicated, variable)
* ``netobj.classes``     the allow-list of classes with mobile state
* ``netobj.mobile``      cached and replicated objects at a site (glue to the machines)
* ``netobj.site``        entity tables, tickets, dispatch
* ``netobj.faults``      the fault API: fault_state, fault_stream, on_fault, fail_fast
* this package           the public API, re-exported here; ``netobj.testing`` for tests
"""

from netobj.api import (
    active,
    cached,
    protocol_of,
    reads,
    replicated,
    stationary,
)
from netobj.byneed import by_need
from netobj.errors import (
    DeadlockError,
    EntityFailure,
    MarshalError,
    NetobjError,
    PermFailure,
    ProtocolError,
    RemoteError,
    SiteClosedError,
    TempFailure,
    TicketError,
    UnificationError,
    UnknownEntityError,
)
from netobj.faults import FaultStream, fail_fast, fault_state, fault_stream, on_fault
from netobj.port import Port, Stream
from netobj.proxy import Proxy
from netobj.record import Record
from netobj.site import Site
from netobj.ticket import Ticket, parse_ticket
from netobj.unify import unify
from netobj.var import Var

__version__ = "0.1.0"

__all__ = [
    "DeadlockError",
    "EntityFailure",
    "FaultStream",
    "MarshalError",
    "NetobjError",
    "PermFailure",
    "Port",
    "ProtocolError",
    "Proxy",
    "Record",
    "RemoteError",
    "Site",
    "SiteClosedError",
    "Stream",
    "TempFailure",
    "Ticket",
    "TicketError",
    "UnificationError",
    "UnknownEntityError",
    "Var",
    "active",
    "by_need",
    "cached",
    "fail_fast",
    "fault_state",
    "fault_stream",
    "on_fault",
    "parse_ticket",
    "protocol_of",
    "reads",
    "replicated",
    "stationary",
    "unify",
]
