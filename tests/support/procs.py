"""Start and control real site processes for the multi-process tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "tests" / "support" / "sites" / "serve.py"


@dataclass
class SiteProcess:
    proc: asyncio.subprocess.Process
    tickets: dict[str, str] = field(default_factory=dict)
    address: str = ""
    site_id: str = ""
    stderr_lines: list[str] = field(default_factory=list)
    _stderr_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.stderr_lines.append(line.decode(errors="replace"))

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def cont(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    async def close(self) -> None:
        if self.proc.returncode is None:
            with_stdin = self.proc.stdin
            if with_stdin is not None:
                with_stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.kill()
                await self.proc.wait()
        if self._stderr_task is not None:
            await asyncio.wait_for(self._stderr_task, 5)

    async def wait_for_log(self, text: str, timeout: float = 10) -> str:
        async def look() -> str:
            while True:
                for line in self.stderr_lines:
                    if text in line:
                        return line
                await asyncio.sleep(0.05)

        return await asyncio.wait_for(look(), timeout)


async def start_site(*args: str, env: dict[str, str] | None = None,
                     timeout: float = 30, prefix: tuple[str, ...] = ()) -> SiteProcess:
    """Start tests/support/sites/serve.py (``prefix``: a command to run it under, e.g. a netns)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "NETOBJ_LOG": "INFO", **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        *prefix, sys.executable, str(SERVE), *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=full_env,
    )
    sp = SiteProcess(proc)
    sp._stderr_task = asyncio.ensure_future(sp._drain_stderr())
    assert proc.stdout is not None

    async def read_banner() -> None:
        while True:
            line = (await proc.stdout.readline()).decode()  # type: ignore[union-attr]
            if not line:
                raise RuntimeError("site process exited early:\n" + "".join(sp.stderr_lines))
            parts = line.split()
            if parts[0] == "TICKET":
                sp.tickets[parts[1]] = parts[2]
            elif parts[0] == "READY":
                sp.address, sp.site_id = parts[1], parts[2]
                return

    try:
        await asyncio.wait_for(read_banner(), timeout)
    except BaseException:
        sp.kill()
        raise
    return sp


async def start_script(script: Path, *args: str, stdin: bool = False,
                       env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    """Run a worker script of tests/support/sites with this interpreter (stdout and stderr
    piped)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, str(script), *args,
        stdin=asyncio.subprocess.PIPE if stdin else None,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


async def read_line(proc: asyncio.subprocess.Process, timeout: float = 60) -> str:
    """The worker's next line on stdout; its stderr in the error if it exited instead."""
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), timeout)).decode()
    if not line:
        assert proc.stderr is not None
        err = (await proc.stderr.read()).decode()
        raise AssertionError(f"worker exited: {err[-3000:]}")
    return line.strip()


async def finish(procs: list[asyncio.subprocess.Process]) -> None:
    """Let workers end (closing their stdin, if piped), killing any still there after 20 s."""
    for p in procs:
        if p.returncode is None:
            if p.stdin is not None:
                p.stdin.close()
            try:
                await asyncio.wait_for(p.wait(), 20)
            except TimeoutError:
                p.kill()
                await p.wait()
