"""Benchmarks: netobj against Pyro5, RPyC and raw grpc.aio, measured in one interleaved run.

Run ``python -m benchmarks`` (full) or ``python -m benchmarks --quick`` (a few seconds).
Each system lives in its own module (``bench_netobj``, ``bench_pyro``, ``bench_rpyc``,
``bench_grpc``) with the same small interface, see :mod:`benchmarks._common`. Each
module is also the server program: ``python -m benchmarks.bench_pyro serve``.
``bench_protocols`` (netobj only) compares netobj's four object protocols on one class
(``protocol_objects``) and times local calls on a cached object against plain calls.
``bench_uvecho`` and ``bench_grpc_bidi`` are floors (bare uvloop echo, grpc.aio bidi
ping-pong). The run itself: ``cli`` (options) -> ``runner`` (processes, interleaved rounds)
-> ``report`` and ``acceptance`` (tables, ratios); ``machine`` describes the machine,
``samples`` holds the shared names and sizes. ``scale`` is the many-clients benchmark.
"""
