"""How long the host's event loop stands still (every environment's APIs with it) while an environment starts:
a fleet's next environment (a scale-out), and the re-Init after a crash.

    python benchmarks/loop_lag.py [--launches 8]

In-process (lambdatui's own `open_environment`, as `serve` runs it): one task keeps environment #1 busy with warm
invokes, another sleeps 1 ms at a time and records how late it wakes. Then, per launch:
- scale-out: one more invoke comes while #1 is busy, so a second environment starts for it (a launch where it
  found #1 free between two of its invokes, and no second environment started, is taken again);
- after a crash: #1's handler exits the process, and the next invoke initialises it again.
Printed: the loop's largest lag during each (from the invoke that starts the environment to its answer), the
median over the launches and each launch's. Its scratch folder is under ~/.cache, never /tmp; every environment
ends with the run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

import trio

from lambdatui.config import resolve_function
from lambdatui.runner import open_environment

HANDLER = '''\
"""benchmarks/loop_lag.py's function: an answer, or the process's end."""

import os


def handler(event, context):
    if event.get("crash"):
        os._exit(1)
    return {"ok": True}
'''
TICK_S = 0.001
BUSY_BEFORE_S = 0.2  # #1's warm invokes and the lag's steady state before the environment starts


async def largest_lag(handler: Path, crash: bool) -> float | None:
    """The loop's largest lag, in ms, while an environment starts (a scale-out, or #1's re-Init after a crash); None
    when the invoke meant to need a second environment found #1 free between two of its invokes."""
    lags: list[tuple[float, float, float]] = []
    async with open_environment(resolve_function(str(handler))) as running:
        fleet = running.fleet
        for _ in range(100):
            await fleet.invoke(b"{}")
        stop = trio.Event()

        async def monitor() -> None:
            while not stop.is_set():
                slept = trio.current_time()
                await trio.sleep(TICK_S)
                woke = trio.current_time()
                lags.append((slept, woke, (woke - slept - TICK_S) * 1000))

        async def keep_busy() -> None:
            while not stop.is_set():
                await fleet.invoke(b"{}")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(monitor)
            if crash:
                await trio.sleep(BUSY_BEFORE_S)
                began = trio.current_time()
                await fleet.invoke(b'{"crash": true}')
                await fleet.invoke(b"{}")
            else:
                nursery.start_soon(keep_busy)
                await trio.sleep(BUSY_BEFORE_S)
                began = trio.current_time()
                await fleet.invoke(b"{}")
            ended = trio.current_time()
            stop.set()
        if not crash and len(fleet.hosts()) < 2:
            return None
    return max((lag for slept, woke, lag in lags if woke >= began and slept <= ended), default=0.0)


async def measure(launches: int, work: Path) -> None:
    handler = work / "handler.py"
    handler.write_text(HANDLER)
    for label, crash in (("a fleet's next environment starts", False), ("the re-Init after a crash", True)):
        lags: list[float] = []
        for _ in range(launches * 3):  # a launch whose invoke found #1 free is taken again
            lag = await largest_lag(handler, crash)
            if lag is not None:
                lags.append(lag)
            if len(lags) == launches:
                break
        print(f"{label}: the loop's largest lag, median {statistics.median(lags):.1f} ms "
              f"(each launch: {', '.join(f'{lag:.1f}' for lag in lags)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=8)
    args = parser.parse_args()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lambdatui-loop-lag-", dir=cache))
    try:
        trio.run(measure, args.launches, work)
    except KeyboardInterrupt:
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
