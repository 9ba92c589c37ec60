"""Invoke latency through `lambdatui serve`'s Invoke API, measured from a separate client process.

    python benchmarks/invoke_latency.py [--invokes 1000] [--function sample_functions/hello/handler.py]

Prints:
- cold start, two ways: `lambdatui serve` process start -> first response (includes Python importing
  lambdatui), and the execution environment's own cold start (runtime spawn -> first response), which is
  what Lambda calls a cold start: INIT's duration plus the first invoke, read from the REPORT line;
- warm invoke latency p50/p95/p99 over N sequential invokes on one keep-alive connection;
- invokes per second over the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

from harness import ROOT, connect, free_port, invoke, percentile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=1000)
    parser.add_argument("--function", default=str(ROOT / "sample_functions" / "hello" / "handler.py"))
    args = parser.parse_args()

    port = free_port()
    log_path = ROOT / "benchmarks" / ".serve.log"
    with open(log_path, "w") as log:
        started = time.monotonic()
        server = subprocess.Popen(
            [sys.executable, "-m", "lambdatui", "serve", args.function, "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        try:
            conn = connect(port, started + 30)
            invoke(conn)
            cold_process_ms = (time.monotonic() - started) * 1000

            latencies: list[float] = []
            run_started = time.perf_counter()
            for _ in range(args.invokes):
                t0 = time.perf_counter()
                invoke(conn)
                latencies.append((time.perf_counter() - t0) * 1000)
            run_seconds = time.perf_counter() - run_started
            conn.close()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)

    report = log_path.read_text()
    first = re.search(r"REPORT RequestId: \S+\tDuration: ([\d.]+) ms.*?Init Duration: ([\d.]+) ms", report)
    env_cold_ms = float(first.group(1)) + float(first.group(2)) if first else float("nan")
    latencies.sort()
    figures = {
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "cold_start_process_to_first_response_ms": round(cold_process_ms, 1),
        "cold_start_environment_init_plus_first_invoke_ms": round(env_cold_ms, 1),
        "warm_invokes": args.invokes,
        "warm_p50_ms": round(percentile(latencies, 0.50), 3),
        "warm_p95_ms": round(percentile(latencies, 0.95), 3),
        "warm_p99_ms": round(percentile(latencies, 0.99), 3),
        "warm_mean_ms": round(statistics.fmean(latencies), 3),
        "invokes_per_second": round(args.invokes / run_seconds, 1),
    }
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key.ljust(width)}  {value}")
    print(json.dumps(figures), file=sys.stderr)


if __name__ == "__main__":
    main()
