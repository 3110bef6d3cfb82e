"""Dataflow variables and ports across real OS processes over gRPC on loopback."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import netobj
from netobj.link import LinkConfig
from tests.support.procs import ROOT, finish, read_line, start_script, start_site

WORKER = ROOT / "tests" / "support" / "sites" / "var_worker.py"


async def start_worker(*args: str) -> asyncio.subprocess.Process:
    return await start_script(WORKER, *args)


@netobj.stationary
class RaceCoordinator:
    def __init__(self, rounds: int, racers: int) -> None:
        self.racers = racers
        self.vars: list[netobj.Var[int]] = [netobj.Var() for _ in range(rounds)]
        self.go: list[netobj.Var[bool]] = [netobj.Var() for _ in range(rounds)]
        self.fetched: list[int] = [0] * rounds
        self.ready: list[netobj.Var[bool]] = [netobj.Var() for _ in range(rounds)]
        self.reports: list[list[tuple[str, str, int]]] = [[] for _ in range(rounds)]
        self.reported: list[netobj.Var[bool]] = [netobj.Var() for _ in range(rounds)]
        self._lock = threading.Lock()

    def round(self, r: int) -> list[Any]:
        with self._lock:
            self.fetched[r] += 1
            if self.fetched[r] == self.racers:
                self.ready[r].bind(True)
        return [self.vars[r], self.go[r]]

    def report(self, r: int, name: str, outcome: str, final: int) -> None:
        with self._lock:
            self.reports[r].append((name, outcome, final))
            if len(self.reports[r]) == self.racers:
                self.reported[r].bind(True)


async def test_five_processes_race_to_bind_one_var_50_times(site: netobj.Site) -> None:
    rounds, racers = 50, 5
    coord = RaceCoordinator(rounds, racers)
    ticket = site.offer(coord)
    procs = [await start_worker("race", ticket, f"w{k}", str(100 + k), str(rounds))
             for k in range(racers)]
    try:
        for r in range(rounds):
            await asyncio.wait_for(coord.ready[r], 60)
            coord.go[r].bind(True)  # all five are waiting on this: they bind together
            await asyncio.wait_for(coord.reported[r], 60)
            reports = coord.reports[r]
            finals = {final for _, _, final in reports}
            assert len(finals) == 1, reports
            assert finals == {coord.vars[r].result()}
            outcomes = sorted(outcome for _, outcome, _ in reports)
            assert outcomes == ["lost"] * 4 + ["won"], reports
            winner = next(name for name, outcome, _ in reports if outcome == "won")
            assert coord.vars[r].result() == 100 + int(winner[1:])
        for p in procs:
            assert await read_line(p) == "DONE"
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
        await finish(procs)


async def test_owner_killed_while_three_processes_wait() -> None:
    owner = await start_site("--expose", "var")
    procs: list[asyncio.subprocess.Process] = []
    try:
        ticket = owner.tickets["var"]
        procs = [await start_worker("wait", ticket) for _ in range(3)]
        for p in procs:
            assert await read_line(p) == "WAITING"
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        owner.kill()
        bound = LinkConfig().perm_timeout_s  # the workers' failure bound
        lines = [await read_line(p, bound + 10) for p in procs]
        elapsed = loop.time() - t0
        assert all(line.startswith("PERMFAILURE") for line in lines), lines
        assert elapsed < bound  # a refused reconnection declares it long before
    finally:
        owner.kill()
        await owner.close()
        await finish(procs)


@netobj.stationary
class SendCoordinator:
    def __init__(self) -> None:
        self.done: dict[str, int] = {}

    def sent(self, tag: str, n: int) -> bool:
        self.done[tag] = n
        return True


async def test_three_senders_10000_messages_each_to_one_port(site: netobj.Site) -> None:
    port = netobj.Port()
    coord = SendCoordinator()
    port_ticket, coord_ticket = site.offer(port), site.offer(coord)
    n = 10_000
    procs = [await start_worker("send", port_ticket, coord_ticket, f"s{k}", str(n))
             for k in range(3)]
    try:
        got: list[tuple[str, int]] = []

        async def collect() -> None:
            async for msg in port.stream:
                got.append(tuple(msg))
                if len(got) == 3 * n:
                    return

        await asyncio.wait_for(collect(), 120)
        for p in procs:
            assert await read_line(p) == "DONE"
        assert len(got) == 3 * n
        for k in range(3):
            assert [i for tag, i in got if tag == f"s{k}"] == list(range(n))
        assert sorted(coord.done.values()) == [n, n, n]
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
        await finish(procs)


async def test_clean_close_delivers_what_was_sent(site: netobj.Site) -> None:
    port = netobj.Port()
    proc = await start_worker("sendclose", site.offer(port), "3000")
    try:
        got: list[int] = []

        async def collect() -> None:
            async for msg in port.stream:
                got.append(msg)
                if len(got) == 3000:
                    return

        await asyncio.wait_for(collect(), 60)
        assert got == list(range(3000))
        assert await read_line(proc) == "CLOSED"
    finally:
        await finish([proc])
