"""Cached and replicated objects at one site: the glue between the sans-IO machines
(:mod:`netobj.protocols.migratory`, :mod:`netobj.protocols.replicated`), the local instance
that holds the state here, and the site (through the public :class:`EntityHost` protocol).

One *entity* per site per cached or replicated object (the home included) keeps the machine,
the local instance and the addresses it learnt (:mod:`.entity`, :mod:`.cached`,
:mod:`.replicated`; the site's table of them: :mod:`.table`). Its proxy is a generated
subclass of :class:`~netobj.proxy.Proxy` with one real method per public method of the class
(:mod:`.stubs`), so a call that can run here (a cached object whose state is here, a read on a
valid replica) is a plain method call on the local instance plus a bound Var: no lookup hook,
no message.

Where methods run: a ``def`` call that finds the state here (cached) or a valid copy (a read
on a replica) runs at once in the caller's thread, like a local call, and takes no lock. Calls
that had to wait for the state run on the object's turn (:mod:`.ops`): ``def`` methods on a
worker thread (one batch at a time), ``async def`` methods as tasks on the loop, in arrival
order. Before the state changes hands (shipped, handed back, a copy invalidated, writes
applied), the glue stops new inline calls and waits until none is still running in any thread
(see :meth:`Entity.inline_calls_running`). Like a local object, a cached object does not
serialize calls made at once from several threads of one site.

Every call returns a Var, as for every other protocol.
"""

from netobj.mobile.cached import CachedEntity
from netobj.mobile.entity import Entity
from netobj.mobile.host import EntityHost
from netobj.mobile.ops import Op, run_ops
from netobj.mobile.replicated import ReplicaEntity, ReplicaHomeEntity
from netobj.mobile.stubs import MobileProxy, proxy_class
from netobj.mobile.table import MobileTable

__all__ = ["CachedEntity", "Entity", "EntityHost", "MobileProxy", "MobileTable", "Op",
           "ReplicaEntity", "ReplicaHomeEntity", "proxy_class", "run_ops"]
