"""Test support, public so that applications can test their own distributed code.

* :class:`SimNetwork` - a seeded in-memory network (latency, loss, partition, cut, crash);
* :func:`run_simulation` / :class:`VirtualClockLoop` - an event loop whose clock is virtual:
  when nothing is ready it jumps to the next timer instead of sleeping, so a schedule with
  heartbeats, timeouts and latencies runs in milliseconds and replays exactly from its seed;
* :func:`check_transport` - the conformance suite every Transport must pass;
* :class:`Relay` - a TCP relay between real processes that a test can cut and restore.
"""

from netobj.testing.conformance import check_transport
from netobj.testing.relay import Relay
from netobj.testing.vclock import VirtualClockLoop, run_simulation
from netobj.transport.sim import SimNetwork, SimTransport

__all__ = [
    "Relay",
    "SimNetwork",
    "SimTransport",
    "VirtualClockLoop",
    "check_transport",
    "run_simulation",
]
