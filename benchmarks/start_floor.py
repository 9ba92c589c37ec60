"""What any trio host pays before its first invoke, beside `lambdatui invoke` and python-lambda-local.

Issue 9 asks for `lambdatui invoke hello -e '{}'` at or below python-lambda-local's whole command. This prints,
as medians of alternated runs, the floor under that figure: Python's own start, and Python with trio imported
and one empty `trio.run` (as lambdatui runs it: with its method cache, so that attrs' methods are not compiled
again, the imports trio makes but uses late deferred, and libpthread found without `ldconfig -p`). Whatever
lambdatui does on top (its own modules, the sandbox, the runtime's Init, the invoke, the shutdown) must fit in what
is left between that floor and python-lambda-local.

    python benchmarks/start_floor.py [--runs 21]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from compare import HELLO, compile_lambdatui, lambdatui_command, python_lambda_local

TRIO_FLOOR = ("from lambdatui import dataclass_cache, deferred_imports, library_lookup\n"
              "deferred_imports.install(); dataclass_cache.install(); library_lookup.install(); import trio\n"
              "async def main(): pass\n"
              "trio.run(main)\n")


def timed(argv: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    elapsed = (time.perf_counter() - t0) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({done.returncode}): {(done.stdout + done.stderr)[-300:]!r}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21, help="runs of each command, alternated (21)")
    args = parser.parse_args()
    compile_lambdatui()
    with tempfile.TemporaryDirectory(prefix="lambdatui-floor-") as work:
        event = Path(work) / "event.json"
        event.write_text(json.dumps({}))
        commands = {
            "Python's start (`python -c pass`)": [sys.executable, "-c", "pass"],
            "Python, trio imported, one empty trio.run": [sys.executable, "-c", TRIO_FLOOR],
            "`lambdatui invoke hello -e '{}'`": [*lambdatui_command(), "invoke", str(HELLO), "-e", "{}",
                                                 "--python", sys.executable],
        }
        pll = python_lambda_local()
        if pll is not None:
            commands["python-lambda-local hello"] = [*pll, "-f", "handler", str(HELLO), str(event)]
        for argv in commands.values():  # warm-up: bytecode, the method cache, the page cache
            timed(argv, Path(work))
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                samples[name].append(timed(argv, Path(work)))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians.get("python-lambda-local hello")
    print(f"| command (median of {args.runs}, alternated) | ms | against python-lambda-local |")
    print("| --- | --- | --- |")
    for name, value in medians.items():
        print(f"| {name} | {value:.0f} | {f'{value / base:.2f}×' if base else 'n/a'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
