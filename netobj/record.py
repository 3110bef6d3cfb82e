"""``netobj.Record``: an immutable Oz-style record, copied by value, unifiable.

``Record("point", x=1, y=2)`` has a label and named fields; it compares, hashes (when its
fields do) and unifies by label and fields, and travels as CBOR tag ``tags.RECORD``: it
encodes itself (``__netobj_wire__``) and registers its decoder with the codec
(:func:`netobj.wire.codec.register_value_type`) when this module is imported.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterator, Mapping
from typing import Any

from netobj.errors import ProtocolError
from netobj.wire import codec, tags


class Record(Mapping[str, Any]):
    __slots__ = ("_fields", "_label")

    def __init__(self, label: str, /, **fields: Any) -> None:
        if not isinstance(label, str) or not label:
            raise TypeError("a Record's label is a non-empty str")
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_fields", dict(sorted(fields.items())))

    @property
    def label(self) -> str:
        return self._label  # type: ignore[no-any-return]

    @property
    def fields(self) -> dict[str, Any]:
        """A copy of the fields."""
        return dict(self._fields)

    def __getitem__(self, name: str) -> Any:
        return self._fields[name]

    def __getattr__(self, name: str) -> Any:
        try:
            return object.__getattribute__(self, "_fields")[name]
        except KeyError:
            raise AttributeError(f"Record {self._label!r} has no field {name!r}") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Records are immutable")

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return bool(self._label == other._label and self._fields == other._fields)

    def __hash__(self) -> int:
        return hash((self._label, tuple(self._fields.items())))

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        return f"Record({self._label!r}{', ' if inner else ''}{inner})"

    def __reduce__(self) -> Any:
        return (_rebuild, (self._label, self._fields))

    # wire form (see netobj.wire.codec): [label, {field: value}]
    def __netobj_wire__(self) -> tuple[int, list[Any]]:
        return tags.RECORD, [self._label, self._fields]

    def __netobj_fields__(self) -> dict[str, Any]:
        return self._fields  # type: ignore[no-any-return]


def _rebuild(label: str, fields: dict[str, Any]) -> Record:
    return Record(label, **fields)


def _from_wire(content: object) -> Record:
    if not (isinstance(content, list | tuple) and len(content) == 2
            and isinstance(content[0], str) and content[0] and isinstance(content[1], dict)
            and all(isinstance(k, str) for k in content[1])):
        raise ProtocolError("malformed record on the wire")
    return Record(content[0], **content[1])


codec.register_value_type(tags.RECORD, _from_wire)
