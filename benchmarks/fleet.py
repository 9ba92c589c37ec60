"""The fleet under load: 32 concurrent clients, a handler that sleeps 10 ms, `serve --concurrency 8` against one
environment (issue 12).

    python benchmarks/fleet.py [--clients 32] [--concurrency 8] [--seconds 8] [--sleep-ms 10]

Each client is a thread with one keep-alive HTTP connection (http.client, TCP_NODELAY) that invokes in a loop
for --seconds after a warm-up second (the fleet's cold starts happen in the warm-up; what is measured is warm).
A throttled client (429 TooManyRequestsException) waits one handler duration and sends again, as an SDK's retry
would (botocore's own back-off is longer). Counted for every run, warm-up included:
- answered: 200 with the handler's own body and no X-Amz-Function-Error;
- throttled: 429 TooManyRequestsException;
- lost: a request with neither answer (no HTTP answer at all, another status, a function error). Must be 0.
  Checked from the other side too: after serve has stopped, its REPORT lines must equal the 200 answers (an
  invoke that ran without its caller hearing of it would be one more REPORT).
Throughput is answered invokes per second in the measured window; p50/p99 is the latency of those answered
requests (the attempt that got the 200; the back-off before a retry is not in it).

Three runs, each a fresh `lambdatui serve` (--idle-shutdown off):
1. the fleet: --clients clients, `--concurrency 8`;
2. one environment, one client: the single-environment figure the ratio divides by. It is one environment at its
   best, with no throttling to absorb: every request finds the environment free, so its throughput is its own
   capacity (about 1 / (sleep + overhead)). A ratio against it is the conservative one;
3. one environment, --clients clients (`--concurrency 1`): shown for what it is, answered against throttled; its
   answered rate is not the ratio's base, since 31 clients spinning on 429s take CPU from the one environment
   on a small machine, which would flatter the fleet.
The ratio is run 1's throughput over run 2's; the target is at least 4x.

Everything it starts is stopped when it ends (on Ctrl-C and SIGTERM too: it is the subreaper of whatever serve
leaves); its scratch folder (the function, serve's logs) is under ~/.cache, never /tmp, and is removed.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import PATH, ROOT, connect, free_port, percentile
from peer_processes import Processes

STOP_GRACE_S = 20.0
WARMUP_S = 1.0
OK_BODY = b'{"ok": true}'

HANDLER = '''\
"""benchmarks/fleet.py's function: sleeps, then answers."""

import os
import time

SLEEP_S = float(os.environ.get("SLEEP_MS", "10")) / 1000


def handler(event, context):
    time.sleep(SLEEP_S)
    return {"ok": True}
'''


class Interrupted(Exception):
    pass


def raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def lambdatui_command() -> list[str]:
    script = Path(sys.executable).with_name("lambdatui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lambdatui"]


@dataclass
class Tally:
    """One client's counts; the latencies are those of answered requests sent in the measured window."""

    answered: int = 0
    answered_in_window: int = 0
    throttled: int = 0
    lost: int = 0
    latencies: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    label: str
    clients: int
    concurrency: int
    window_s: float
    tallies: list[Tally]
    reports: int  # REPORT lines serve printed: invokes that ran

    @property
    def answered(self) -> int:
        return sum(t.answered for t in self.tallies)

    @property
    def throttled(self) -> int:
        return sum(t.throttled for t in self.tallies)

    @property
    def lost(self) -> int:
        return sum(t.lost for t in self.tallies)

    @property
    def throughput(self) -> float:
        return sum(t.answered_in_window for t in self.tallies) / self.window_s

    def latency_ms(self, fraction: float) -> float:
        values = sorted(v for t in self.tallies for v in t.latencies)
        return percentile(values, fraction) * 1000 if values else float("nan")

    @property
    def unanswered_runs(self) -> int:
        """Invokes that ran without a 200 reaching their caller (REPORT lines beyond the answers)."""
        return max(0, self.reports - self.answered)


def client(port: int, windows: dict[str, float], backoff_s: float, tally: Tally, ready: threading.Barrier) -> None:
    """Connects, waits for every other client, then invokes until the window ends."""
    conn = connect(port, time.monotonic() + 60, timeout=60)
    ready.wait(60)
    start_window, end_window = windows["start"], windows["end"]
    while True:
        sent = time.monotonic()
        if sent >= end_window:
            break
        try:
            conn.request("POST", PATH, body=b"{}", headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            tally.lost += 1
            tally.problems.append(repr(exc))
            conn.close()
            conn = connect(port, time.monotonic() + 30, timeout=60)
            continue
        took = time.monotonic() - sent
        if response.status == 200 and response.getheader("X-Amz-Function-Error") is None and body == OK_BODY:
            tally.answered += 1
            if sent >= start_window:
                tally.answered_in_window += 1
                tally.latencies.append(took)
        elif response.status == 429 and response.getheader("x-amzn-ErrorType") == "TooManyRequestsException":
            tally.throttled += 1
            time.sleep(backoff_s)  # a client's back-off before it tries again, not synchronisation
        else:
            tally.lost += 1
            tally.problems.append(f"{response.status} {response.getheader('X-Amz-Function-Error')} {body[:120]!r}")
    conn.close()


class Serve:
    """One `lambdatui serve`, its output in a file; `procs` starts it and stops it (SIGTERM, then SIGKILL)."""

    def __init__(self, procs: Processes, handler: Path, log: Path, concurrency: int, sleep_ms: float) -> None:
        self.port = free_port()
        self.log = log
        self.proc = procs.start([*lambdatui_command(), "serve", str(handler), "--port", str(self.port),
                                 "--concurrency", str(concurrency), "--idle-shutdown", "off", "--timeout", "30"],
                                ROOT, log, env=dict(os.environ, SLEEP_MS=str(sleep_ms)))

    def reports(self) -> int:
        return len(re.findall(rb"\[platform\]\s+REPORT RequestId:", self.log.read_bytes()))


def run(label: str, handler: Path, work: Path, *, clients: int, concurrency: int, seconds: float,
        sleep_ms: float, procs: Processes) -> Outcome:
    serve = Serve(procs, handler, work / f"serve-{concurrency}-{clients}.log", concurrency, sleep_ms)
    try:
        tallies = [Tally() for _ in range(clients)]
        windows: dict[str, float] = {}

        def open_window() -> None:  # the barrier's action: every client is connected, the clock starts now
            now = time.monotonic()
            windows["start"], windows["end"] = now + WARMUP_S, now + WARMUP_S + seconds

        ready = threading.Barrier(clients, action=open_window)
        threads = [threading.Thread(target=client, args=(serve.port, windows, sleep_ms / 1000, tally, ready),
                                    daemon=True) for tally in tallies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WARMUP_S + seconds + 120)
        if any(thread.is_alive() for thread in threads):
            raise SystemExit(f"{label}: a client never came back")
    finally:
        procs.stop(serve.proc)
    return Outcome(label, clients, concurrency, windows["end"] - windows["start"], tallies, serve.reports())


def show(outcome: Outcome) -> None:
    problems = [p for t in outcome.tallies for p in t.problems]
    print(f"{outcome.label:<44} {outcome.throughput:8.1f}/s  p50 {outcome.latency_ms(0.50):6.2f} ms  "
          f"p99 {outcome.latency_ms(0.99):7.2f} ms  answered {outcome.answered:6d}  throttled {outcome.throttled:6d}  "
          f"lost {outcome.lost}  ran unanswered {outcome.unanswered_runs}")
    for problem in problems[:5]:
        print(f"    lost: {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window of each run (after 1 s warm-up)")
    parser.add_argument("--sleep-ms", type=float, default=10.0, help="what the handler sleeps")
    args = parser.parse_args()

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, raise_interrupted)
    procs = Processes(STOP_GRACE_S)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lambdatui-fleet-", dir=cache))
    try:
        handler = work / "function" / "handler.py"
        handler.parent.mkdir()
        handler.write_text(HANDLER)
        print(f"handler sleeps {args.sleep_ms:g} ms; {args.seconds:g} s measured per run after {WARMUP_S:g} s of "
              f"warm-up; {os.cpu_count()} CPUs; throttled clients wait {args.sleep_ms:g} ms and retry")
        common = dict(seconds=args.seconds, sleep_ms=args.sleep_ms, procs=procs)
        fleet = run(f"fleet: {args.clients} clients, --concurrency {args.concurrency}", handler, work,
                    clients=args.clients, concurrency=args.concurrency, **common)
        show(fleet)
        single = run("one environment: 1 client, --concurrency 1", handler, work, clients=1, concurrency=1, **common)
        show(single)
        crowded = run(f"one environment: {args.clients} clients, --concurrency 1", handler, work,
                      clients=args.clients, concurrency=1, **common)
        show(crowded)
        ratio = fleet.throughput / single.throughput if single.throughput else float("inf")
        lost = fleet.lost + single.lost + crowded.lost
        unanswered = fleet.unanswered_runs + single.unanswered_runs + crowded.unanswered_runs
        print(f"ratio: {ratio:.1f}x the single-environment throughput (target >= 4x); "
              f"lost invokes: {lost}; invokes run without their answer: {unanswered}")
        return 0 if ratio >= 4 and lost == 0 and unanswered == 0 else 1
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
