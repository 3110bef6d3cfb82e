"""Running operations of a cached or replicated object on its local instance: through
netobj.runtime.executor, the one place that runs user methods."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from netobj import errors
from netobj.mobile.host import EntityHost
from netobj.runtime.executor import Call, run_async_call, run_calls
from netobj.var import Var
from netobj.wire import netobj_pb2 as pb

#: An operation: (function of the class, args, kwargs, result Var).
Op = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], Var[Any]]
OP = pb.Mobile


def _as_calls(obj: object, ops: Sequence[Op]) -> list[Call]:
    return [(i, "", fn, [obj, *args], kwargs, False)
            for i, (fn, args, kwargs, _) in enumerate(ops)]


def _call_all(obj: object, ops: Sequence[Op]) -> list[tuple[bool, Any]]:
    return [(ok, value) for _, _, ok, value in run_calls(_as_calls(obj, ops))]


async def run_ops(host: EntityHost, obj: object, ops: Sequence[Op],
                  lane: asyncio.Lock | None = None) -> None:
    """Run ``ops`` on ``obj`` in order: consecutive ``def`` methods as one batch off the
    loop (one batch at a time per ``lane``), ``async def`` ones awaited here; settle each
    op's Var."""
    i, n = 0, len(ops)
    while i < n:
        fn, args, kwargs, var = ops[i]
        if inspect.iscoroutinefunction(fn):
            try:
                ok, value = await run_async_call(fn, [obj, *args], kwargs)
            except asyncio.CancelledError:
                var._reject(errors.SiteClosedError("the site closed while the call ran"))
                raise
            if ok:
                var._resolve(value)
            else:
                var._reject(value)
            i += 1
            continue
        j = i + 1
        while j < n and not inspect.iscoroutinefunction(ops[j][0]):
            j += 1
        batch = ops[i:j]
        outcomes: list[tuple[bool, Any]]
        if lane is None:
            outcomes = await host.run_blocking(_call_all, obj, batch)
        else:
            async with lane:
                outcomes = await host.run_blocking(_call_all, obj, batch)
        for (ok, value), op in zip(outcomes, batch, strict=True):
            if ok:
                op[3]._resolve(value)
            else:
                op[3]._reject(value)
        i = j


def fail_ops(ops: Sequence[Op], exc: BaseException) -> None:
    for op in ops:
        op[3]._reject(exc)
