"""Shared plumbing: server subprocesses, event-loop threads, the client interface."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

T = TypeVar("T")

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
SERVER_START_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 60.0
ECHO_SIZE = 65_536


@dataclass
class ServerProcess:
    """A benchmark server running in its own OS process."""

    name: str
    popen: subprocess.Popen[str]
    info: list[str]  # the words after READY on the server's first line
    stderr_file: IO[bytes] = field(repr=False)

    def stderr_tail(self, limit: int = 2000) -> str:
        with contextlib.suppress(OSError, ValueError):
            self.stderr_file.flush()
            self.stderr_file.seek(0)
            return self.stderr_file.read()[-limit:].decode(errors="replace")
        return ""

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server process has used so far (Linux /proc only)."""
        try:
            stat = Path(f"/proc/{self.popen.pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the server (SIGTERM, then SIGKILL); never raises, never hangs."""
        p = self.popen
        if p.stdin is not None:
            with contextlib.suppress(OSError):
                p.stdin.close()
        if p.poll() is None:
            with contextlib.suppress(OSError):
                p.terminate()
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    p.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=timeout)
        for stream in (p.stdout,):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(OSError):
            self.stderr_file.close()


def start_server(module: str, timeout: float = SERVER_START_TIMEOUT_S) -> ServerProcess:
    """Start ``python -m <module> serve`` and wait (bounded) for its ``READY ...`` line."""
    stderr_file = tempfile.TemporaryFile()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    popen = subprocess.Popen(
        [sys.executable, "-m", module, "serve"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,  # the server exits when this closes (see exit_with_parent)
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        text=True,
    )
    server = ServerProcess(module.rsplit(".", 1)[-1], popen, [], stderr_file)
    lines: queue.Queue[str] = queue.Queue()

    def read_first_line() -> None:
        assert popen.stdout is not None
        lines.put(popen.stdout.readline())

    threading.Thread(target=read_first_line, daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        server.stop()
        raise RuntimeError(f"{module}: no READY line within {timeout:.0f}s") from None
    words = line.split()
    if not words or words[0] != "READY":
        tail = server.stderr_tail()
        server.stop()
        raise RuntimeError(f"{module}: server failed to start: {line!r}\n{tail}")
    server.info = words[1:]
    return server


def exit_with_parent() -> None:
    """In a server process: exit as soon as stdin reaches EOF (the benchmark closed it or died).

    A server whose benchmark process was SIGKILLed therefore does not linger.
    """

    def watch() -> None:
        with contextlib.suppress(Exception):
            while sys.stdin.buffer.read(4096):
                pass
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class LoopThread:
    """An asyncio event loop (uvloop if asked) running in a daemon thread.

    Async clients keep their loop running between workloads so that background work
    (heartbeats, keepalives) carries on while the other systems take their turn.
    """

    def __init__(self, name: str, use_uvloop: bool = True) -> None:
        self.loop = new_loop(use_uvloop)
        self.uvloop = type(self.loop).__module__.startswith("uvloop")
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout=timeout)
        except TimeoutError:
            fut.cancel()
            raise

    def close(self, timeout: float = 5.0) -> None:
        if self.loop.is_closed():
            return

        async def _cancel_all() -> None:
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for t in tasks:
                t.cancel()
            await asyncio.wait(tasks, timeout=timeout) if tasks else None

        with contextlib.suppress(Exception):
            self.run(_cancel_all(), timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


def new_loop(use_uvloop: bool = True) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        try:
            import uvloop
        except ImportError:  # pragma: no cover
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def close_site(lt: LoopThread, site: Any, name: str) -> None:
    """Close a client's netobj Site on its loop thread (reporting, not raising, a failure)."""
    if site is not None:
        try:
            lt.run(site.aclose(), 10)
        except Exception as exc:
            print(f"{name}: closing the client site failed: {exc!r}", file=sys.stderr)


def serve_offer(make: Callable[[], object], host: str) -> None:
    """A netobj server process: offer ``make()``, print ``READY <ticket>``, serve until
    killed (on netobj's preferred event loop)."""
    import netobj
    from netobj.site import new_event_loop

    async def main() -> None:
        async with netobj.Site(host=host, port=0) as site:
            print("READY", site.offer(make()), flush=True)
            await asyncio.Event().wait()  # until killed

    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main())


class LoopClient:
    """The synchronous faces of an async client whose coroutines run on a LoopThread.

    Subclasses set ``_lt`` and define ``_sequential``, ``_messages``, ``_pipelined`` and
    ``_echo``; each face bounds its wait by the size of the workload.
    """

    _lt: LoopThread

    async def _sequential(self, n: int) -> tuple[float, list[int]]:
        raise NotImplementedError

    async def _messages(self, n: int) -> float:
        raise NotImplementedError

    async def _pipelined(self, n: int) -> float:
        raise NotImplementedError

    async def _echo(self, n: int, payload: bytes) -> tuple[float, list[int]]:
        raise NotImplementedError

    def sequential(self, n: int) -> tuple[float, list[int]]:
        return self._lt.run(self._sequential(n), CALL_TIMEOUT_S + n * 0.01)

    def messages(self, n: int) -> float:
        return self._lt.run(self._messages(n), CALL_TIMEOUT_S + n * 0.01)

    def pipelined(self, n: int) -> float:
        return self._lt.run(self._pipelined(n), CALL_TIMEOUT_S + n * 0.01)

    def echo(self, n: int, payload: bytes) -> tuple[float, list[int]]:
        return self._lt.run(self._echo(n, payload), CALL_TIMEOUT_S + n * 0.05)


class Client(Protocol):
    """What every system's client offers; latencies are in nanoseconds."""

    def sequential(self, n: int) -> tuple[float, list[int]]:
        """``add(a, b)`` n times, each awaited before the next: (seconds, per-call ns)."""
        ...

    def pipelined(self, n: int) -> float:
        """n ``add`` calls issued without waiting, then all results collected; seconds."""
        ...

    def echo(self, n: int, payload: bytes) -> tuple[float, list[int]]:
        """``echo(payload)`` n times, sequentially: (seconds, per-call ns)."""
        ...

    def messages(self, n: int) -> float:
        """n one-way messages, timed until the server has received them all; seconds."""
        ...

    def close(self) -> None: ...


class System(Protocol):
    """The module-level interface of each ``bench_*`` module."""

    NAME: str

    def start_server(self) -> ServerProcess: ...

    def connect(self, server: ServerProcess) -> Client: ...

    def notes(self) -> list[str]: ...


def check(cond: bool, what: str) -> None:
    """A cheap correctness check on results (asserts vanish under -O; this does not)."""
    if not cond:
        raise AssertionError(what)
