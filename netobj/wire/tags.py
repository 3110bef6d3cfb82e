"""Every CBOR tag number netobj puts on the wire, in one place.

Never change or reuse a number: a site of one version must read what another wrote.
They sit in the IANA "first come first served" range (32768-18446744073709551615) and
were picked to be unlikely to collide with tags a user value could carry.
"""

from __future__ import annotations

from typing import Final

#: A Python tuple (CBOR has only arrays; a bare array decodes as a list).
TUPLE: Final = 40960
#: A reference to a distributed entity: [kind, protocol, site_id, address, key].
REF: Final = 40961
#: An exception: [type_name, message, args, traceback_text].
EXCEPTION: Final = 40962
#: A failed value (a failed Var, sent): [exception] (it arrives as a fresh failed Var).
FAILED: Final = 40963
#: A netobj.Record: [label, {field: value}].
RECORD: Final = 40964
#: A Var that was already bound when sent: [value] (it arrives as a fresh bound Var).
BOUND_VAR: Final = 40965

ALL: Final = frozenset({TUPLE, REF, EXCEPTION, FAILED, RECORD, BOUND_VAR})

#: Entity kinds inside a REF tag.
KIND_OBJECT: Final = "object"
KIND_VAR: Final = "var"
KIND_PORT: Final = "port"
