"""The bounded version of the benchmarks (``make bench`` runs the full one): the quick run
works end to end on every system and writes a report with every table and ratio."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
    summary = proc.stdout  # the ratio lines come after the tables
    assert "pipelined: netobj / Pyro5 BatchProxy" in summary, summary[-2000:]
    assert "the speed of a plain call" in summary
