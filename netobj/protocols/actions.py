"""Actions shared by the object-state machines (migratory, replicated): the glue runs or
fails the operations they hand back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Run(Generic[T]):
    """Run these operations now, in this order (the glue calls ``on_done(n)`` when finished)."""

    ops: list[T]


@dataclass(frozen=True, slots=True)
class Fail(Generic[T]):
    """These operations fail, for ``reason``."""

    ops: list[T]
    reason: str
