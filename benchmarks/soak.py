"""Soak: many invokes through `lambdatui serve` from concurrent clients, with failures mixed in; nothing may be lost.

    python benchmarks/soak.py [--invokes 10000] [--clients 4]

The handler (benchmarks/soak_function) succeeds, raises, crashes (os._exit) or runs past a 1 s timeout, in a
fixed mix out of every 100 invokes: 94 succeed, 3 raise, 2 crash, 1 times out. Every answer is checked against
what its own invoke asked for. Prints lost answers (no HTTP answer at all) and wrong ones (an answer that is not
the one this invoke must get), which must both be 0, and the host's resident memory and open file descriptors
after warm-up and at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

from harness import PATH, ROOT, connect, free_port, host_figures

FUNCTION = ROOT / "benchmarks" / "soak_function" / "handler.py"
MIX = ["ok"] * 94 + ["raise"] * 3 + ["crash"] * 2 + ["timeout"]
EXPECTED_ERROR = {"raise": "ValueError", "crash": "Runtime.ExitError", "timeout": "Sandbox.Timedout"}


def mode_of(n: int) -> str:
    # Spread the failures through each hundred instead of bunching them at its end.
    return MIX[(n * 37) % len(MIX)]


def check(n: int, status: int, function_error: str | None, body: bytes) -> str | None:
    """None when the answer is the one invoke n must get, else what is wrong with it."""
    mode = mode_of(n)
    if status != 200:
        return f"status {status}"
    try:
        doc = json.loads(body)
    except ValueError:
        return f"body is not JSON: {body[:80]!r}"
    if mode == "ok":
        return None if (function_error is None and doc == {"n": n}) else f"expected {{'n': {n}}}, got {body[:80]!r}"
    if function_error is None or doc.get("errorType") != EXPECTED_ERROR[mode]:
        return f"expected {EXPECTED_ERROR[mode]}, got {function_error} {body[:80]!r}"
    if mode == "raise" and f"n={n}" not in doc.get("errorMessage", ""):
        return f"another invoke's error: {doc.get('errorMessage')!r}"
    return None


def client(port: int, work: queue.Queue[int | None], lost: list[int], wrong: list[str]) -> None:
    conn = connect(port, time.monotonic() + 30, timeout=60)
    while (n := work.get()) is not None:
        body = json.dumps({"n": n, "mode": mode_of(n)}).encode()
        try:
            conn.request("POST", PATH, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            lost.append(n)
            print(f"lost n={n}: {exc!r}", file=sys.stderr)
            conn.close()
            conn = connect(port, time.monotonic() + 30, timeout=60)
            continue
        problem = check(n, response.status, response.getheader("X-Amz-Function-Error"), data)
        if problem:
            wrong.append(f"n={n} ({mode_of(n)}): {problem}")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    port = free_port()
    log_path = ROOT / "benchmarks" / ".soak.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "lambdatui", "serve", str(FUNCTION), "--port", str(port), "--timeout", "1"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        try:
            warm = connect(port, time.monotonic() + 30)
            warm.request("POST", PATH, body=b'{"n": -1, "mode": "ok"}')
            warm.getresponse().read()
            warm.close()
            start_rss, start_fds = host_figures(server.pid)

            work: queue.Queue[int | None] = queue.Queue()
            for n in range(args.invokes):
                work.put(n)
            for _ in range(args.clients):
                work.put(None)
            lost: list[int] = []
            wrong: list[str] = []
            started = time.monotonic()
            threads = [threading.Thread(target=client, args=(port, work, lost, wrong)) for _ in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.monotonic() - started
            end_rss, end_fds = host_figures(server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)

    modes = [mode_of(n) for n in range(args.invokes)]
    figures = {
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "invokes": args.invokes,
        "clients": args.clients,
        "mix": ", ".join(f"{modes.count(m)} {m}" for m in ("ok", "raise", "crash", "timeout")),
        "seconds": round(seconds, 1),
        "lost": len(lost),
        "wrong": len(wrong),
        "host_rss_mb_start_end": f"{start_rss} -> {end_rss}",
        "host_open_fds_start_end": f"{start_fds} -> {end_fds}",
    }
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key.ljust(width)}  {value}")
    for line in wrong[:10]:
        print(f"  wrong: {line}")
    print(json.dumps(figures), file=sys.stderr)
    if lost or wrong:
        sys.exit(1)


if __name__ == "__main__":
    main()
