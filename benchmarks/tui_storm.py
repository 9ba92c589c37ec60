"""A storm of invokes through the debugger's Invoke API (`lambdatui PATH --port`): how many it answers a second while
it shows them, and how many updates the host hands its UI meanwhile.

The debugger's UI shares its thread with the host (trio runs as a guest on Textual's asyncio loop), so every update
it renders is time the host's invokes wait: the bridge hands over at most ~30 updates a second under a steady
stream of steps (host/bridge.py, REFRESH_S), and only an invoke's REPORT after a result that came after a quiet
spell follows a frame after it. Each round is a debugger of its own (Textual's headless driver, which still lays out
and renders every frame), Init continued, then one keep-alive client invoking the hello sample back to back for a
second of warm-up and `--seconds` measured.

    python benchmarks/tui_storm.py [--rounds 3] [--seconds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELLO = ROOT / "sample_functions" / "hello" / "handler.py"


async def storm(seconds: float) -> tuple[float, float]:
    """(invokes a second, updates a second) over `seconds` of a storm, in this process's debugger."""
    from lambdatui.config import resolve_function
    from lambdatui.model.boundaries import EnvState
    from lambdatui.tui import build_debugger

    app = build_debugger(resolve_function(str(HELLO), timeout_s=30), invoke_port=0)
    updates: list[float] = []
    hand_over = app._snapshot_arrived

    def recorded(snapshot, facts) -> None:  # type: ignore[no-untyped-def]
        updates.append(time.monotonic())
        hand_over(snapshot, facts)

    app._snapshot_arrived = recorded  # type: ignore[method-assign]
    invoked = 0
    stop = threading.Event()

    def client(address: str) -> None:
        nonlocal invoked
        host, _, port = address.rpartition(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        while not stop.is_set():
            connection.request("POST", "/2015-03-31/functions/function/invocations", body=b"{}")
            connection.getresponse().read()
            invoked += 1
        connection.close()

    async def until(check, bound: float = 30.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + bound
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError("the debugger never got there")
            await asyncio.sleep(0.005)

    def snapshot():  # type: ignore[no-untyped-def]
        return app.controller.snapshot() if app.controller is not None else None

    async with app.run_test(size=(160, 48)):
        await until(lambda: (s := snapshot()) is not None and s.environment.held_at is not None)
        app.action_continue()
        await until(lambda: snapshot().environment.state is EnvState.FROZEN and snapshot().environment.held_at is None)
        thread = threading.Thread(target=client, args=(app.invoke_api,), daemon=True)
        thread.start()
        await asyncio.sleep(1.0)
        invokes, shown, start = invoked, len(updates), time.monotonic()
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - start
        invokes, shown = invoked - invokes, len(updates) - shown
        stop.set()
        await asyncio.to_thread(thread.join, 30)
        await app.run_action("quit")
    if app.backend is not None:
        app.backend.stop()
        await asyncio.wait_for(app.backend.wait_stopped(), 30)
    return invokes / elapsed, shown / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.once:
        print(json.dumps(asyncio.run(storm(args.seconds))))
        return 0
    rates, paces = [], []
    for n in range(args.rounds):
        # A process a round: the debugger's trio guest run is a process's one and only.
        out = subprocess.run([sys.executable, __file__, "--once", "--seconds", str(args.seconds)],
                             capture_output=True, text=True, timeout=120, check=True)
        rate, pace = json.loads(out.stdout.strip().splitlines()[-1])
        rates.append(rate)
        paces.append(pace)
        print(f"round {n + 1}: {rate:.0f} invokes/s, {pace:.1f} updates/s", file=sys.stderr)
    print(f"| storm through the debugger's --port (median of {args.rounds}) | value |")
    print("| --- | --- |")
    print(f"| invokes answered a second | {statistics.median(rates):.0f}/s |")
    print(f"| updates handed to the UI a second | {statistics.median(paces):.1f}/s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
