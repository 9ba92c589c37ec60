"""SnapStart: an invoke that needs a new environment, restored from the snapshot, against one that cold-starts it.

    python benchmarks/snapstart.py [--rounds 5] [--per-launch 3] [--init-ms 500]

The same function under both: its Init sleeps --init-ms (500 ms: a framework, a model, clients made at module
level), its handler answers at once. Both through `lambdatui serve` and plain HTTP (http.client, one keep-alive
connection, TCP_NODELAY), `--idle-shutdown off`, the function in this interpreter:
- on demand: `lambdatui serve handler.py`; a new environment runs Init (INIT_START, `Init Duration` in REPORT);
- SnapStart: `lambdatui serve handler.py --snapstart`; env #1's Init ran once at start, into the snapshot; a new
  environment is restored from it (RESTORE_START, the runtime a fork of the snapshot's, `Restore Duration`).

What is measured: the invoke request -> its response, for an invoke that needs a NEW environment. Each launch first
invokes once, unmeasured (the on-demand side's env #1 Init, or the snapshot and its first restore: one warm
environment either way). Then, --per-launch times: every environment alive takes a holding invoke (its handler
waits for a release file), the log's START lines say they all run, and the measured invoke goes out: no
environment is free, so the fleet starts one for it. Its REPORT line must carry `Init Duration` (on demand) or
`Restore Duration` (SnapStart), else the run stops: a sample that reused an environment would be no sample. Then
the holds are released. Launches alternate sides, round after round; the figures are the medians of all samples
of each side, and their ratio.

Everything it starts is stopped when it ends, on Ctrl-C or SIGTERM too (it is the subreaper of whatever serve
leaves, and sweeps it); its scratch folder (the function, the release files, serve's logs) is under ~/.cache,
never /tmp (each environment has a /tmp of its own), and is removed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from compare import Interrupted, compile_lambdatui, describe_tree, lambdatui_command, raise_interrupted
from peer_processes import Processes
from harness import PATH, connect, free_port

HOLD_LIMIT_S = 60.0  # a holding handler gives up by itself after this, should the benchmark die before releasing it
STARTED_WITHIN_S = 30.0

HANDLER = '''\
"""benchmarks/snapstart.py's function: Init takes {init_ms} ms; an invoke answers at once, or holds its
environment until a release file exists."""

import os
import time

time.sleep({init_s!r})  # Init's work: SnapStart does it once, into the snapshot; an on-demand cold start every time


def handler(event, context):
    release = event.get("hold")
    if release:
        deadline = time.monotonic() + {hold_limit_s!r}
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.01)
    return {{"ok": True}}
'''

START = re.compile(rb"\bSTART RequestId: ")


@dataclass
class Side:
    key: str
    label: str
    options: list[str]
    duration: str  # the REPORT field a new environment's first invoke carries
    latencies_ms: list[float] = field(default_factory=list)
    durations_ms: list[float] = field(default_factory=list)  # Init Duration or Restore Duration, from REPORT


def post(conn: http.client.HTTPConnection, event: dict) -> tuple[int, str | None, str | None, bytes]:
    """(status, X-Amz-Function-Error, X-Amzn-RequestId, body) of one invoke."""
    conn.request("POST", PATH, body=json.dumps(event).encode(), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return (response.status, response.getheader("X-Amz-Function-Error"), response.getheader("X-Amzn-RequestId"),
            response.read())


def must_succeed(what: str, answer: tuple[int, str | None, str | None, bytes]) -> str:
    status, function_error, request_id, body = answer
    if status != 200 or function_error or body != b'{"ok": true}':
        raise SystemExit(f"{what} failed: {status} {function_error} {body[:300]!r}")
    return request_id or ""


def starts(log: Path) -> int:
    return len(START.findall(log.read_bytes()))


def wait_for_starts(log: Path, count: int) -> None:
    deadline = time.monotonic() + STARTED_WITHIN_S
    while starts(log) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"the holding invokes did not all start within {STARTED_WITHIN_S:g} s (see {log})")
        time.sleep(0.002)  # polling serve's log is how the benchmark learns they run, not a guess at timing


def report_duration(log: Path, request_id: str, field_name: str) -> float:
    """The new environment's `Init Duration` or `Restore Duration` from the measured invoke's REPORT line."""
    deadline = time.monotonic() + 10
    pattern = re.compile(rb"REPORT RequestId: " + re.escape(request_id.encode()) + rb"\t[^\n]*")
    while True:
        line = pattern.search(log.read_bytes())
        if line is not None:
            found = re.search(field_name.encode() + rb": ([\d.]+) ms", line.group())
            if found is None:
                raise SystemExit(f"the measured invoke {request_id} did not start a new environment (no "
                                 f"{field_name} in its REPORT): {line.group().decode(errors='replace')}")
            return float(found.group(1))
        if time.monotonic() > deadline:
            raise SystemExit(f"no REPORT line for the measured invoke {request_id} in {log}")
        time.sleep(0.005)


def hold(port: int, release: Path, answers: list, index: int) -> None:
    conn = connect(port, time.monotonic() + 10, timeout=HOLD_LIMIT_S + 30)
    try:
        answers[index] = post(conn, {"hold": str(release)})
    finally:
        conn.close()


def one_launch(procs: Processes, side: Side, handler: Path, work: Path, launch: int, per_launch: int) -> None:
    port = free_port()
    log = work / "logs" / f"{side.key}-{launch}.log"
    argv = [*lambdatui_command(), "serve", str(handler), "--port", str(port), "--idle-shutdown", "off",
            "--python", sys.executable, "--timeout", str(int(HOLD_LIMIT_S + 10)), *side.options]
    proc = procs.start(argv, handler.parent, log)
    try:
        conn = connect(port, time.monotonic() + 60, timeout=HOLD_LIMIT_S, what=side.label)
        must_succeed(f"{side.label}: the first invoke", post(conn, {}))  # one warm environment, not measured
        for sample in range(per_launch):
            alive = sample + 1  # the warm environments: each measured invoke before added one
            release = work / f"release-{side.key}-{launch}-{sample}"
            answers: list = [None] * alive
            before = starts(log)
            holders = [threading.Thread(target=hold, args=(port, release, answers, i), daemon=True)
                       for i in range(alive)]
            for holder in holders:
                holder.start()
            wait_for_starts(log, before + alive)
            t0 = time.perf_counter()
            answer = post(conn, {})
            took_ms = (time.perf_counter() - t0) * 1000
            release.touch()
            for holder in holders:
                holder.join(HOLD_LIMIT_S + 30)
            request_id = must_succeed(f"{side.label}: the measured invoke", answer)
            for i, held in enumerate(answers):
                must_succeed(f"{side.label}: holding invoke {i}", held or (0, None, None, b"(no answer)"))
            side.durations_ms.append(report_duration(log, request_id, side.duration))
            side.latencies_ms.append(took_ms)
            print(f"  {side.label:<28} launch {launch}, new environment {sample + 1}: {took_ms:7.1f} ms "
                  f"({side.duration} {side.durations_ms[-1]:.1f} ms)", file=sys.stderr)
        conn.close()
    finally:
        procs.stop(proc)


def summary(side: Side) -> str:
    values = side.latencies_ms
    return (f"{side.label:<34} median {statistics.median(values):7.1f} ms  (min {min(values):6.1f}, max "
            f"{max(values):6.1f}, n={len(values)});  {side.duration} median "
            f"{statistics.median(side.durations_ms):.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="launches of each side, alternating (default 5)")
    parser.add_argument("--per-launch", type=int, default=3, help="new environments measured per launch (default 3)")
    parser.add_argument("--init-ms", type=float, default=500.0, help="what the function's Init sleeps (default 500)")
    args = parser.parse_args()
    if args.rounds < 1 or args.per_launch < 1 or args.init_ms < 0:
        parser.error("--rounds and --per-launch take 1 or more, --init-ms 0 or more")

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, raise_interrupted)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lambdatui-snapstart-", dir=cache))
    procs = Processes()
    try:
        handler = work / "function" / "handler.py"
        handler.parent.mkdir()
        (work / "logs").mkdir()
        handler.write_text(HANDLER.format(init_ms=f"{args.init_ms:g}", init_s=args.init_ms / 1000,
                                          hold_limit_s=HOLD_LIMIT_S))
        compile_lambdatui()
        sides = [Side("on-demand", "on demand (cold start)", [], "Init Duration"),
                 Side("snapstart", "SnapStart (restore)", ["--snapstart"], "Restore Duration")]
        print(f"lambdatui {describe_tree()}; {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; Init sleeps "
              f"{args.init_ms:g} ms; {args.rounds} launches per side x {args.per_launch} new environments each",
              file=sys.stderr)
        for launch in range(1, args.rounds + 1):
            for side in sides if launch % 2 else sides[::-1]:
                one_launch(procs, side, handler, work, launch, args.per_launch)
        on_demand, snapstart = sides
        print(f"invoke request -> response, for an invoke that needs a new environment (Init sleeps "
              f"{args.init_ms:g} ms; `lambdatui serve`, plain HTTP):")
        for side in sides:
            print("  " + summary(side))
        ratio = statistics.median(on_demand.latencies_ms) / statistics.median(snapstart.latencies_ms)
        print(f"  ratio: a restore answers {ratio:.1f}x sooner than a cold start (median over median)")
        return 0
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"\ninterrupted ({str(exc) or 'SIGINT'}): stopping what was started", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
