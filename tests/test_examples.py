"""The examples run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
