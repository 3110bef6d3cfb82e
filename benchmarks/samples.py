"""What a benchmark run is made of: the systems, the workload names, the run sizes and one
measured run (a Sample). Shared by the runner, the report and the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from benchmarks import (
    bench_dataflow,
    bench_grpc,
    bench_grpc_bidi,
    bench_netobj,
    bench_netobj_tcp,
    bench_protocols,
    bench_pyro,
    bench_rpyc,
    bench_uvecho,
)

#: The floors (bench_uvecho, bench_grpc_bidi) are not RPC systems: they run only the
#: workloads in their module's WORKLOADS, to show what the transport alone costs.
SYSTEMS: tuple[ModuleType, ...] = (
    bench_netobj,
    bench_netobj_tcp,
    bench_pyro,
    bench_rpyc,
    bench_grpc,
    bench_uvecho,
    bench_grpc_bidi,
)
SEQUENTIAL = "sequential"
ASYNC_SEQUENTIAL = "sequential async def"  # netobj only: the method is declared async def
PIPELINED = "pipelined"
ECHO = "echo 64 KiB"
WORKLOADS: tuple[str, ...] = (SEQUENTIAL, ASYNC_SEQUENTIAL, PIPELINED, ECHO)
MESSAGES = "one-way messages"
#: What a system runs when its module has no WORKLOADS of its own.
DEFAULT_WORKLOADS: tuple[str, ...] = (SEQUENTIAL, PIPELINED, ECHO, MESSAGES)


def supports(system: ModuleType, workload: str) -> bool:
    """Whether ``system`` takes part in ``workload``."""
    return workload in getattr(system, "WORKLOADS", DEFAULT_WORKLOADS)


LATENCY = "bind-to-seen"
BIND_ROW = f"netobj bind-to-seen ({bench_dataflow.SITES} sites)"
RTT_ROW = "netobj stationary RTT"
PYRO_RTT_ROW = "Pyro5 RTT (reference)"
ONEWAY_HOW = {
    bench_netobj.NAME: "port.send(i) on a proxy Port",
    bench_netobj_tcp.NAME: "port.send(i) on a proxy Port, TCP carrier",
    bench_pyro.NAME: "@oneway method call",
    bench_rpyc.NAME: "rpyc.async_ call, result ignored",
    bench_grpc.NAME: "client-streaming call, one write per message",
}
#: The protocol tables (benchmarks.bench_protocols): workload names, keyed in ``samples``
#: as (workload, protocol) and (LOCAL, object + " | " + loop body).
PROTOCOLS_OPTION = "protocols"
FIRST_CALL = "first peek(), fresh object"
PROTO_WORKLOADS = {method: f"sequential {method}()" for method in bench_protocols.METHODS}
LOCAL = "local call"
TIMES = "\u00d7"  # the multiplication sign, spelt so for ruff's RUF001
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Sizes:
    sequential: int
    pipelined: int
    echo: int
    rounds: int
    warmup: int
    messages: int
    binds: int
    protocol_calls: int  # sequential get() and peek() calls per protocol per round
    local_calls: int  # calls per timed local run
    local_runs: int  # timed local runs per variant per round

    def calls(self, workload: str) -> int:
        counts = {SEQUENTIAL: self.sequential, ASYNC_SEQUENTIAL: self.sequential}
        return {**counts, PIPELINED: self.pipelined}.get(workload, self.echo)


FULL = Sizes(
    sequential=20_000,
    pipelined=20_000,
    echo=1_000,
    rounds=3,
    warmup=500,
    messages=50_000,
    binds=200,
    protocol_calls=3_000,
    local_calls=200_000,
    local_runs=5,
)
QUICK = Sizes(
    sequential=2_000,
    pipelined=2_000,
    echo=200,
    rounds=1,
    warmup=100,
    messages=5_000,
    binds=30,
    protocol_calls=300,
    local_calls=20_000,
    local_runs=2,
)


@dataclass(frozen=True)
class Sample:
    calls: int
    elapsed_s: float
    latencies_ns: tuple[int, ...] = ()
    client_cpu_s: float | None = None
    server_cpu_s: float | None = None
    # bind-to-seen only: per bind, t_seen - t_bind of each site (index = site), ns
    per_site_ns: tuple[tuple[int, ...], ...] = ()

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.elapsed_s if self.elapsed_s > 0 else float("inf")

    def percentile_us(self, q: float) -> float | None:
        if not self.latencies_ns:
            return None
        ordered = sorted(self.latencies_ns)
        index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
        return ordered[index] / 1000.0

    def cpu_us_per_call(self, which: str) -> float | None:
        cpu = self.client_cpu_s if which == "client" else self.server_cpu_s
        return None if cpu is None else cpu / self.calls * 1e6



def local_key(variant: tuple[str, str]) -> str:
    """The ``samples`` key of a local-call variant (object, loop body)."""
    return " | ".join(variant)
