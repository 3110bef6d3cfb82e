"""The bounded version of the benchmarks (``make bench`` runs the full one): the quick run
works end to end on every system and writes a report with every table and ratio."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_runs_every_system_and_reports_ratios(tmp_path: Path) -> None:
    out = tmp_path / "quick.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = out.read_text()
    for system in ("netobj", "netobj (tcp)", "Pyro5", "RPyC", "grpc.aio"):
        assert f"| sequential | {system} |" in report
        assert f"| pipelined | {system} |" in report
    for protocol in ("stationary", "active", "cached", "replicated"):
        assert f"| sequential get() | {protocol} |" in report
    assert "| cached Coder, state moved here | `x = obj.get()` |" in report
    for floor in ("bare uvloop echo", "grpc.aio bidi ping-pong"):
        assert f"| sequential | {floor} |" in report
    assert "| echo 64 KiB | bare uvloop echo |" in report
    for system in ("netobj", "netobj (tcp)"):
        assert f"| sequential async def | {system} |" in report
    summary = proc.stdout  # the ratio lines come after the tables
    assert "pipelined: netobj / Pyro5 BatchProxy" in summary, summary[-2000:]
    assert "the speed of a plain call" in summary
    for ratio in (
        "netobj (tcp) sequential def / Pyro5 sequential",
        "netobj (tcp) sequential def / bare uvloop echo",
        "netobj (tcp) sequential async def / bare uvloop echo",
        "netobj (grpc) sequential def / grpc.aio bidi ping-pong",
        "netobj (tcp) echo 64 KiB MB/s / bare uvloop 64 KiB echo",
        "netobj (grpc) pipelined / Pyro5 BatchProxy",
        "netobj (grpc) one-way Port / Pyro5 @oneway",
        "local call, cached (state moved here), `x = obj.get()` / plain call",
    ):
        assert f"acceptance: {ratio}" in summary, ratio


@pytest.mark.timeout(120)
def test_scale_benchmark_smoke_reports_a_row_per_client_count() -> None:
    """A tiny scale run (1 and 2 clients, 0.3 s): the table has both rows, numbers positive.
    Nothing about speed is asserted."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", "--quick", "--clients", "1,2",
         "--duration", "0.3", "--rounds", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=110,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = {}
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0].isdigit():
            rows[int(cells[0])] = [float(c.replace(",", "")) for c in cells[1:]]
    assert sorted(rows) == [1, 2], proc.stdout[-3000:]
    for clients, (rounds, agg, agg_best, lo, hi, fair, fair_best, rss, _growth, rss_after,
                  cpu, cpu_best) in rows.items():
        assert rounds == 1
        assert agg > 0 and agg_best > 0 and 0 < lo <= hi, (clients, rows[clients])
        assert fair >= 1 and fair_best >= 1
        assert rss > 0 and rss_after > 0 and cpu > 0 and cpu_best > 0
    assert "Growth from 1 to 2 clients" in proc.stdout
