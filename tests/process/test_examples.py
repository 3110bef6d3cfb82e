"""The examples run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_coder_demo_two_processes() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "coder.py"), "--demo"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "100\n347\n22\n" in out.stdout
    assert "ok: 100, 347, 22" in out.stdout


def test_repl_takes_a_ticket_and_calls() -> None:
    """The console of ``python -m netobj``, driven through its stdin."""
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "coder.py"), "serve"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        ticket = server.stdout.readline().strip()
        script = (f"c = site.take({ticket!r}).wait(10)\n"
                  "print('got', [c.get().wait(10) for _ in range(3)])\n")
        out = subprocess.run([sys.executable, "-m", "netobj"], input=script,
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert "got [100, 347, 22]" in out.stdout, out.stdout + out.stderr
        assert "netobj 0.1.0 console" in out.stderr
    finally:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.close()
        server.wait(10)
        server.stdout.close()


def test_async_coder_demo() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "async_coder.py"), "--demo"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "100\n347\n22\nsum 469\n" in out.stdout
    assert "ok: 100 + 347 + 22 = 469" in out.stdout


def test_pipeline_demo() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "pipeline.py"), "--demo",
                          "-n", "30"],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    got = [int(line.split()[1]) for line in out.stdout.splitlines()
           if line.strip().startswith("got ")]
    assert got == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    assert "producer sees total 165" in out.stdout
    assert "  total 165" in out.stdout
    assert "ok: the consumer got the 10 multiples of 3 up to 30 in order" in out.stdout


def test_protocols_demo() -> None:
    """The same client program against the Coder as stationary, active, cached, replicated."""
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "protocols.py"), "--demo",
                          "-n", "20"],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    # protocol, get: 1st msgs, msgs/call, µs/call, peek: 1st msgs, msgs/call, µs/call,
    # burst: msgs, µs/call
    rows = {cols[0]: cols[1:] for cols in map(str.split, out.stdout.splitlines())
            if len(cols) == 9 and cols[0] in ("stationary", "active", "cached", "replicated")}
    assert sorted(rows) == ["active", "cached", "replicated", "stationary"], out.stdout
    msgs = {p: [float(row[i]) for i in (0, 1, 3, 4, 6)] for p, row in rows.items()}
    # a sequential call to a stationary or active object: one call, one reply
    assert msgs["stationary"][:4] == [2, 2, 2, 2]
    assert msgs["active"][:4] == [2, 2, 2, 2]
    # cached: the first get() moves the state here (GET, PUT); then no message at all
    assert msgs["cached"] == [2, 0, 0, 0, 0]
    # replicated: writes go home; the first read subscribes (SUBSCRIBE, COMMIT), then reads
    # are local
    assert msgs["replicated"][:4] == [2, 2, 2, 0]
    assert out.stdout.splitlines()[-1].startswith(
        "ok: get() returned the same 40 values under all four protocols")


def test_failure_watch_demo() -> None:
    """A watcher sees its object's home stopped (temp_fail), resumed (ok) and killed
    (perm_fail); the calls that waited through the stop ran exactly once."""
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "failure_watch.py"),
                          "--demo"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    # the watcher's lines are "  1.23s  TEXT": the states seen, and the signals sent, in order
    events = []
    for line in out.stdout.splitlines():
        text = line.split(None, 1)[1] if line.startswith(" ") else ""
        if text.startswith("state: "):
            events.append(text.split()[1])
        elif text.startswith("SIG"):
            events.append(text.split()[0])
    assert [e for e in events if not e.startswith("SIG")] == [
        "ok", "temp_fail", "ok", "perm_fail"], out.stdout
    assert events == [
        "ok", "SIGSTOP", "temp_fail", "SIGCONT", "ok", "SIGKILL", "perm_fail"], out.stdout
    assert "the fail_fast call failed: TempFailure" in out.stdout
    assert "the waiting incr() calls returned 4, 5" in out.stdout
    assert "value() -> 5" in out.stdout
    assert "incr() failed after" in out.stdout and "PermFailure" in out.stdout
    assert out.stdout.splitlines()[-1] == "ok: saw ok -> temp_fail -> ok -> perm_fail"
