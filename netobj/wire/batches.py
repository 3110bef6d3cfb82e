"""The bodies of CallBatch and ReplyBatch: flat lists, laid out and read back side by side.

A batch body is one CBOR array (``codec.dump`` / a decoder turn it into bytes and back; this
module only builds and reads the Python list, so it is pure and cheap to test). Four layouts:

* **uniform calls** (``CallBatch.method`` set, ``arity`` positional arguments each):
  ``[a1_1, ..., a1_arity, a2_1, ...]`` - ``count * arity`` items;
* **mixed calls** (``CallBatch.method`` empty): per call ``method, n, *args`` when it has no
  keyword arguments, ``method, -1 - n, *args, kwargs`` when it has;
* **uniform outcomes** (``ReplyBatch.values``): the bare values of consecutive call ids
  from ``first_call_id``, all returned (not raised);
* **mixed outcomes** (``ReplyBatch.outcomes``): per call ``call_id, ok, value``.

Readers never trust the peer: a body that does not have the layout gives back what parsed
before the first malformed item (mixed calls) or None (the rest), never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["mixed_calls", "outcomes", "parse_mixed_calls", "parse_outcomes",
           "parse_uniform_calls", "uniform_calls"]

#: One call of a mixed batch: (method, positional arguments, keyword arguments or None).
MixedCall = tuple[str, Sequence[Any], "dict[str, Any] | None"]


def uniform_calls(args: Iterable[Sequence[Any]]) -> list[Any]:
    """The body of calls that all take the same number of positional arguments."""
    return [a for call_args in args for a in call_args]


def parse_uniform_calls(items: list[Any], count: int, arity: int) -> list[list[Any]] | None:
    """The ``count`` argument lists of a uniform body, or None if it is not ``count * arity``
    items long."""
    if arity < 0 or len(items) != count * arity:
        return None
    return [items[k * arity:(k + 1) * arity] for k in range(count)]


def mixed_calls(calls: Iterable[MixedCall]) -> list[Any]:
    """The body of calls with different methods, arities or keyword arguments."""
    flat: list[Any] = []
    append, extend = flat.append, flat.extend
    for method, args, kwargs in calls:
        append(method)
        if kwargs is None:
            append(len(args))
            extend(args)
        else:
            append(-1 - len(args))
            extend(args)
            append(kwargs)
    return flat


def parse_mixed_calls(items: list[Any], count: int) -> list[tuple[str, list[Any], dict[str, Any]]]:
    """At most ``count`` calls, in order, up to the first malformed one (fewer than ``count``
    calls back: the rest of the batch was missing or malformed)."""
    calls: list[tuple[str, list[Any], dict[str, Any]]] = []
    pos, end = 0, len(items)
    while pos < end and len(calls) < count:
        method = items[pos]
        n = items[pos + 1] if pos + 1 < end else None
        if type(method) is not str or type(n) is not int:
            break
        kwargs: dict[str, Any] = {}
        if n >= 0:
            args = items[pos + 2:pos + 2 + n]
            pos += 2 + n
        else:
            n = -1 - n
            args = items[pos + 2:pos + 2 + n]
            kw = items[pos + 2 + n] if pos + 2 + n < end else None
            pos += 3 + n
            if type(kw) is not dict:
                break
            kwargs = kw
        if len(args) != n:
            break
        calls.append((method, args, kwargs))
    return calls


def outcomes(items: Iterable[tuple[int, bool, Any]]) -> list[Any]:
    """The body of a mixed ReplyBatch from (call_id, ok, value) triples."""
    flat: list[Any] = []
    for triple in items:
        flat += triple
    return flat


def parse_outcomes(items: list[Any]) -> tuple[list[int], list[Any], list[Any]] | None:
    """(call ids, oks, values) of a mixed ReplyBatch body, or None if it is malformed."""
    if len(items) % 3:
        return None
    ids = items[::3]
    if not all(type(i) is int for i in ids):
        return None
    return ids, items[1::3], items[2::3]
