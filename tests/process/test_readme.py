"""The README's tour, run as it is written: its code blocks are read from README.md, so a
change there that breaks them fails here. Each site runs in its own OS process."""

from __future__ import annotations

import asyncio
import re
import sys
import textwrap
from pathlib import Path

import netobj

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60.0


def tour_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    tour = text[text.index("## A 30-second tour"):text.index("## The design in brief")]
    blocks = re.findall(r"```python\n(.*?)```", tour, re.S)
    assert len(blocks) == 3, "the tour has three code blocks"
    return blocks


def coder_values(n: int) -> list[int]:
    seed, out = 100, []
    for _ in range(n):
        out.append(seed)
        seed = (seed * 23 + 49) % 1001
    return out


async def run(script: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(script), *args, cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def output_of(proc: asyncio.subprocess.Process) -> list[str]:
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 0, err.decode()
    return out.decode().split()


async def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    first, threads, _ = tour_blocks()
    script = tmp_path / "tour.py"
    script.write_text(first + textwrap.dedent("""
        import sys
        if sys.argv[1] == "site1":
            asyncio.run(site1())
        else:
            asyncio.run(site2(sys.argv[2]))
        """))
    thread_script = tmp_path / "threads.py"
    thread_script.write_text("import sys\nimport netobj\nticket = sys.argv[1]\n" + threads)
    home = await run(script, "site1")
    try:
        assert home.stdout is not None
        line = await asyncio.wait_for(home.stdout.readline(), TIMEOUT)
        ticket = line.decode().strip()
        assert ticket.startswith("netobj+tcp://127.0.0.1:"), ticket
        values = coder_values(5)
        # site2: the first value, then the sum of the next three
        assert await output_of(await run(script, "site2", ticket)) == [
            str(values[0]), str(sum(values[1:4]))]
        # the thread version, from a third process: the object went on
        assert await output_of(await run(thread_script, ticket)) == [str(values[4])]
    finally:
        home.kill()
        await home.wait()


async def test_the_dataflow_block_runs_as_written() -> None:
    """The third block, with its three parts run where its comments say: on the owner, on
    another site, back on the owner (two sites of this process, over loopback TCP); the body
    of its ``async for`` (``...`` in the README) records the message and stops."""
    _, _, dataflow = tour_blocks()
    parts = re.split(r"^# \.\.\. .*$\n", dataflow, flags=re.M)
    assert len(parts) == 3, parts
    owner, away, back = parts
    assert "async for msg in port.stream: ..." in back
    back = back.replace("async for msg in port.stream: ...",
                        "async for msg in port.stream: seen.append(msg); break")
    printed: list[object] = []
    seen: list[object] = []
    env: dict[str, object] = {"netobj": netobj, "seen": seen, "print": printed.append}

    async def run_part(code: str) -> None:
        exec("async def _part():\n" + textwrap.indent(code, "    ") +
             "\n    globals().update(locals())\n", env)
        await asyncio.wait_for(env["_part"](), TIMEOUT)  # type: ignore[operator]

    async with netobj.Site() as site, netobj.Site() as other:
        env["site"], env["other"] = site, other
        await run_part(owner)
        await run_part(away)
        await run_part(back)
    assert seen == [netobj.Record("item", n=1)]
    assert printed == [42]
