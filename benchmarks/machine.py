"""The machine a run happens on: CPU, load, Python and library versions, the git revision;
and the CPU-time and memory readings of a process (Linux /proc)."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

from benchmarks._common import REPO_ROOT


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return ""


def _git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "netobj"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + (" (netobj/ has uncommitted changes)" if dirty else "")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def machine_lines() -> list[str]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    uname = platform.uname()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}",
        f"- machine: {uname.machine} ({platform.processor() or 'processor n/a'}); "
        f"CPU: {_cpu_model() or 'unknown'}",
        f"- nproc: {usable} usable of {os.cpu_count()}; "
        f"OS: {uname.system} {uname.release}; load average at start: {load}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}); "
        f"grpcio {_version('grpcio')}, Pyro5 {_version('Pyro5')}, rpyc {_version('rpyc')}, "
        f"uvloop {_version('uvloop')}, cbor2 {_version('cbor2')}",
        f"- netobj {_version('netobj')} at git {_git_revision()}",
    ]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, formatted; "?" where the OS has none."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
