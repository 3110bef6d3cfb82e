"""Sans-IO protocol state machines.

Each machine takes events (a local operation, an incoming message, a completion, a fault
change) and returns a list of actions for the site to carry out. None of them touches a
socket, gRPC, asyncio, the clock or randomness (``tests/unit/test_layering.py`` enforces it), so the
same code runs over gRPC and over the simulated network, and tests drive them directly.
"""
