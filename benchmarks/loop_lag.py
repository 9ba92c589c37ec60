"""How long the host's event loop stands still (every environment's APIs with it) while an environment starts:
a fleet's next environment (a scale-out), and the re-Init after a crash.

    python benchmarks/loop_lag.py [--launches 8]

In-process (lambdatui's own `open_environment`, as `serve` runs it): a task sleeps 1 ms at a time and records how
late it wakes. Per launch:
- scale-out: one more invoke comes while #1 is busy with an invoke that takes a second, so a second environment
  starts for it;
- after a crash: #1's handler exits the process, and the next invoke initialises it again.
Printed: the loop's largest lag during each (from the invoke that starts the environment to its answer), the
median over the launches and each launch's. Its scratch folder is under ~/.cache, never /tmp; every environment
ends with the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from functools import partial
from pathlib import Path

import trio

from lambdatui.config import resolve_function
from lambdatui.runner import open_environment

HANDLER = '''\
"""benchmarks/loop_lag.py's function: an answer (after a pause, if asked), or the process's end."""

import os
import time


def handler(event, context):
    if event.get("crash"):
        os._exit(1)
    time.sleep(event.get("busy_s", 0))
    return {"ok": True}
'''
TICK_S = 0.001
BUSY_BEFORE_S = 0.2  # the lag's steady state before the environment starts
BUSY_S = 1.0  # #1's invoke while the next environment starts (a scale-out takes ~0.1 s here)


async def largest_lag(handler: Path, crash: bool) -> float:
    """The loop's largest lag, in ms, while an environment starts (a scale-out, or #1's re-Init after a crash)."""
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

        async with trio.open_nursery() as nursery:
            nursery.start_soon(monitor)
            await trio.sleep(BUSY_BEFORE_S)
            if crash:
                began = trio.current_time()
                await fleet.invoke(b'{"crash": true}')
                await fleet.invoke(b"{}")
            else:
                placed = trio.Event()
                nursery.start_soon(partial(fleet.invoke, json.dumps({"busy_s": BUSY_S}).encode(), on_placed=placed.set))
                await placed.wait()  # #1 is busy: the next invoke needs a second environment
                began = trio.current_time()
                await fleet.invoke(b"{}")
                assert len(fleet.hosts()) == 2, "the invoke found no second environment"
            ended = trio.current_time()
            stop.set()
    return max((lag for slept, woke, lag in lags if woke >= began and slept <= ended), default=0.0)


async def measure(launches: int, work: Path) -> None:
    handler = work / "handler.py"
    handler.write_text(HANDLER)
    for label, crash in (("a fleet's next environment starts", False), ("the re-Init after a crash", True)):
        lags = [await largest_lag(handler, crash) for _ in range(launches)]
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
