"""The Coder of the protocol benchmark (``benchmarks.bench_protocols``), once per protocol.

Cached and replicated objects name their class on the wire by its qualified name
(``module.QualName``) and the receiving site rebuilds the instance from the class *it* has
decorated under that name, so these classes live in an ordinary module that the benchmark
process and the server process both import (a class defined in ``__main__`` would be
``__main__.CachedCoder`` on one side and unknown on the other).

Every decorated class has exactly the methods of the plain :class:`Coder` (inherited, so the
method bodies are the same code); only :class:`ReplicatedCoder` restates ``peek`` to mark it
``@netobj.reads``, with the same body.
"""

from __future__ import annotations

import netobj


class Coder:
    """The plain class: ``get()`` advances the state and returns the old value; ``peek()``
    only reads it."""

    def __init__(self, seed: int = 100) -> None:
        self.seed = seed

    def get(self) -> int:
        x = self.seed
        self.seed = (self.seed * 23 + 49) % 1001
        return x

    def peek(self) -> int:
        return self.seed


@netobj.stationary
class StationaryCoder(Coder):
    pass


@netobj.active
class ActiveCoder(Coder):
    pass


@netobj.cached
class CachedCoder(Coder):
    pass


@netobj.replicated
class ReplicatedCoder(Coder):
    @netobj.reads
    def peek(self) -> int:
        return self.seed


#: protocol name -> class; the order is the order of the rows in the report.
CLASSES: dict[str, type[Coder]] = {
    "stationary": StationaryCoder,
    "active": ActiveCoder,
    "cached": CachedCoder,
    "replicated": ReplicatedCoder,
}


@netobj.stationary
class CoderFactory:
    """On the server: ``fresh(seed)`` makes one new Coder per protocol, homed here.

    The benchmark takes a fresh set each round, so that every round's first call on a cached
    object moves its state, and the first read of a replicated one subscribes."""

    def __init__(self) -> None:
        self._made: list[list[Coder]] = []  # kept alive for the whole run

    def fresh(self, seed: int) -> list[Coder]:
        objs = [cls(seed) for cls in CLASSES.values()]
        self._made.append(objs)
        return objs
