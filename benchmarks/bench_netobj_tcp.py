"""netobj on its plain-TCP carrier (DESIGN §9): the same objects and workloads as
benchmarks.bench_netobj, with both sites on ``transport="tcp"``."""

from __future__ import annotations

import sys

from benchmarks import _common, bench_netobj
from benchmarks._common import ServerProcess, exit_with_parent

NAME = "netobj (tcp)"
CARRIER = "tcp"
WORKLOADS = bench_netobj.WORKLOADS


def start_server() -> ServerProcess:
    return _common.start_server(__name__)


def connect(server: ServerProcess) -> bench_netobj.NetobjClient:
    return bench_netobj.NetobjClient(server, CARRIER)


def notes() -> list[str]:
    return [
        "netobj (tcp): the same code as netobj on the plain-TCP carrier "
        "(length-prefixed frames read by an asyncio.Protocol, TCP_NODELAY; tickets netobj+tcp://)."
    ]


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    exit_with_parent()
    bench_netobj.serve(CARRIER)
