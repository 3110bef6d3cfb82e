"""What a method that holds the GIL does to its peers (a measurement, not a benchmark race).

A ``def`` method that blocks in ``time.sleep`` or in I/O releases the GIL: the site's
event loop goes on (heartbeats, other objects' calls) while it runs, and no peer sees a
fault. A method that *holds* the GIL (a long C-level loop such as ``sum(range(n))`` or a
regular expression that backtracks) stops every thread of its process, the loop included:
no heartbeat leaves, and after the link's temporary-failure timeout (2 heartbeat intervals
plus 4 round-trip timeouts, about 2.4 s on loopback with the default LinkConfig) its peers
see ``temp_fail`` — and ``ok`` again once the method returns. Nothing is lost: calls made
meanwhile are answered afterwards.

    python -m benchmarks.gil_hold [--seconds 5] [--carrier tcp]

Prints when the peer saw each fault state change, counted from the start of the call.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

import netobj
import netobj.site


@netobj.stationary
class Hog:
    def calibrate(self, n: int) -> float:
        t0 = time.perf_counter()
        sum(range(n))
        return time.perf_counter() - t0

    def hold_gil(self, n: int) -> int:
        return sum(range(n))  # one C call: the GIL is not released until it returns


async def serve(carrier: str) -> None:
    async with netobj.Site(transport=carrier) as site:
        print(site.offer(Hog()), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def measure(carrier: str, seconds: float) -> None:
    server = subprocess.Popen([sys.executable, "-m", "benchmarks.gil_hold", "--serve",
                               "--carrier", carrier], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        ticket = server.stdout.readline().strip()
        async with netobj.Site(transport=carrier) as site:
            hog = await asyncio.wait_for(site.take(ticket), 30)
            n = 10_000_000
            took = await asyncio.wait_for(hog.calibrate(n), 60)
            n = int(n * seconds / max(took, 1e-6))
            stream = netobj.fault_stream(hog)
            seen: list[tuple[float, str]] = []
            t0 = time.perf_counter()

            async def watch() -> None:
                async for state in stream:
                    seen.append((time.perf_counter() - t0, state))

            watcher = asyncio.ensure_future(watch())
            await asyncio.wait_for(hog.hold_gil(n), seconds * 4 + 30)
            held = time.perf_counter() - t0
            await asyncio.sleep(0.5)
            stream.close()
            watcher.cancel()
        print(f"carrier {carrier}: the method held the GIL for about {held:.2f} s")
        for t, state in seen:
            print(f"  {t:6.2f} s  peer sees {state}")
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--carrier", choices=["tcp", "grpc"], default="tcp")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    loop = netobj.site.new_event_loop()
    loop.run_until_complete(serve(args.carrier) if args.serve
                            else measure(args.carrier, args.seconds))


if __name__ == "__main__":
    main()
