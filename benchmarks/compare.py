"""lambdatui side by side with the AWS Runtime Interface Emulator (RIE) and python-lambda-local, in one run.

    RIE_BIN=/path/to/aws-lambda-rie python benchmarks/compare.py [--quick]

Peers, each used when it is there:
- RIE, when the environment variable RIE_BIN names its binary (it is not on PyPI: the README's Benchmarks
  section says how to build it). It runs `python -m awslambdaric handler.handler`, from --ric-python (default:
  this interpreter), which must have awslambdaric (`pip install '.[test]'` brings it).
- python-lambda-local, when PYTHON_LAMBDA_LOCAL names its command, else when `python-lambda-local` is on PATH or
  next to this interpreter, else when this interpreter can import `lambda_local`.
A peer that is not there is named, with how to add it, and lambdatui's previous release (the last commit before
issue 9's work, run from this checkout's git history: previous_release.py) is measured in its place, in the same run;
its rows show the ratios without judging issue 9's targets, which are about the peers. --against-previous uses it in
place of both peers even where they are there. Without the git history, lambdatui's figures are printed alone.

What is measured, launch after launch with the sides alternating (lambdatui, then RIE; next round the other way):
- warm invoke p50/p99: `serve`'s Invoke API (or RIE's), one keep-alive client, --invokes sequential invokes
  per launch; the median of the launches' figures. Once with lambdatui's own runtime, once with awslambdaric
  under both;
- environment cold start, runtime spawn -> response, awslambdaric under both: after the handler crashes
  (`os._exit`), the next invoke re-initialises the environment on demand in both; the spawn is stamped by the
  runtime's wrapper script (`date +%s%N`, sent to this script on a datagram, then `exec python -m awslambdaric`:
  spawn_stamps.py), the response by this client.
  Taken in --resets pairs, both servers up at once and their resets alternating (reset_pairs.py says why). Also
  for the first environment of a launch (the client invokes as soon as the port opens). The pairs also time the
  invoke that crashed, to its error;
- `serve` process start -> first response (RIE: process start -> its first response, Init included);
- one invoke printing --lines lines on a warm environment, headless (each side's output goes to a file);
- `lambdatui invoke sample_functions/hello/handler.py -e '{}'`, the whole command, against
  python-lambda-local running the same handler (--commands runs each, alternating; median);
- sequential throughput over --soak-invokes invokes on one connection, and the host process's resident
  memory after the first invoke and at the end (lambdatui's own runtime; RIE with awslambdaric).

Everything it starts is stopped when it ends, on Ctrl-C or SIGTERM too (it is the subreaper of whatever they leave);
its scratch folder (the function, the runtime wrapper, logs) is under ~/.cache, never /tmp, and is removed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from compare_table import Figures, Peer, render, table_rows
from harness import ROOT, connect, free_port, invoke, percentile, rss_kb
from peer_processes import Processes
from previous_release import LABEL, git, previous_release
from reset_pairs import measure_pairs
from spawn_stamps import SpawnStamps

HELLO = ROOT / "sample_functions" / "hello" / "handler.py"

HANDLER = '''\
"""compare.py's function: hello, a crash on demand, or a burst of log lines."""

import os
import re


def handler(event, context):
    if event.get("crash"):
        os._exit(1)
    lines = event.get("lines", 0)
    if lines:
        for n in range(lines):
            print(f"log line {n} of a burst")
        return {"lines": lines}
    print(f"hello: received {event!r}")
    return {"message": "hello", "event": event}
'''



class Interrupted(Exception):
    """SIGTERM or SIGHUP: stop like Ctrl-C, through every `finally`."""


# ------------------------------------------------------------------ sides


@dataclass
class Side:
    key: str
    label: str
    argv: Callable[[int], list[str]]  # the listening port -> the command
    cwd: Path
    stamps_spawns: bool = False  # the runtime is awslambdaric behind the wrapper, which stamps its spawns


def one_launch(procs: Processes, side: Side, fig: Figures, args: argparse.Namespace, logs: Path, n: int,
               stamps: SpawnStamps) -> None:
    port = free_port()
    log = logs / f"{side.key}-{n}.log"
    stamps.take()
    started = time.monotonic()
    proc = procs.start(side.argv(port), side.cwd, log)
    try:
        conn = connect(port, started + 30, what=side.label)
        invoke(conn)
        answered, answered_ns = time.monotonic(), time.time_ns()
        fig.start_ms.append((answered - started) * 1000)
        spawned = stamps.take()
        if side.stamps_spawns and len(spawned) == 1:
            fig.first_env_ms.append((answered_ns - spawned[0]) / 1e6)

        latencies = []
        for _ in range(args.invokes):
            t0 = time.perf_counter()
            invoke(conn)
            latencies.append((time.perf_counter() - t0) * 1000)
        latencies.sort()
        fig.warm_p50_ms.append(percentile(latencies, 0.50))
        fig.warm_p99_ms.append(percentile(latencies, 0.99))

        event = json.dumps({"lines": args.lines}).encode()
        t0 = time.perf_counter()
        invoke(conn, event)
        fig.lines_ms.append((time.perf_counter() - t0) * 1000)
        conn.close()
    finally:
        procs.stop(proc)


def soak(procs: Processes, side: Side, fig: Figures, invokes: int, logs: Path) -> None:
    port = free_port()
    proc = procs.start(side.argv(port), side.cwd, logs / f"{side.key}-soak.log")
    try:
        conn = connect(port, time.monotonic() + 30, what=side.label)
        invoke(conn)
        rss_start = rss_kb(proc.pid)
        t0 = time.perf_counter()
        for _ in range(invokes):
            invoke(conn)
        fig.throughput = invokes / (time.perf_counter() - t0)
        fig.rss_mb = (rss_start / 1024, rss_kb(proc.pid) / 1024)
        conn.close()
    finally:
        procs.stop(proc)


def timed_command(argv: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, check=False, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True)
    elapsed = (time.perf_counter() - t0) * 1000
    if done.returncode != 0 or b"hello" not in done.stdout:
        raise SystemExit(f"{shlex.join(argv)} failed ({done.returncode}): {(done.stdout + done.stderr)[-400:]!r}")
    return elapsed


# ------------------------------------------------------------------ finding the peers


def lambdatui_command() -> list[str]:
    script = Path(sys.executable).parent / "lambdatui"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lambdatui"]


def compile_lambdatui() -> None:
    """Compile lambdatui's bytecode, as README's `pip install .` leaves it. An editable install run where
    PYTHONDONTWRITEBYTECODE is set (containers often set it) otherwise recompiles every module at every start
    (measured here: `invoke` 400 ms against 310 ms, `serve`'s first response 540 against 300), and python-lambda-local's
    installed bytecode would be compared with lambdatui's source."""
    import lambdatui
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(lambdatui.__file__).parent)], check=True,
                   stdout=subprocess.DEVNULL)


def can_import(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], check=False, capture_output=True).returncode == 0


def python_lambda_local() -> list[str] | None:
    named = os.environ.get("PYTHON_LAMBDA_LOCAL")
    if named:
        return shlex.split(named)
    for candidate in (shutil.which("python-lambda-local"), Path(sys.executable).parent / "python-lambda-local"):
        if candidate and Path(candidate).exists():
            return [str(candidate)]
    return [sys.executable, "-m", "lambda_local"] if can_import(sys.executable, "lambda_local") else None


def describe_tree() -> str:
    commit = git("rev-parse", "--short", "HEAD").stdout.strip() or "?"
    dirty = git("status", "--porcelain", "--", "lambdatui").stdout.strip()
    return f"{commit}{' + uncommitted changes in lambdatui/' if dirty else ''}"


# ------------------------------------------------------------------ main


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer of everything: done in under a minute")
    parser.add_argument("--rounds", type=int, help="launches of each server, alternating (default 7, quick 2)")
    parser.add_argument("--invokes", type=int, help="warm invokes per launch (default 1000, quick 300)")
    parser.add_argument("--resets", type=int, help="crash-and-re-init cold starts, in pairs (default 30, quick 6)")
    parser.add_argument("--lines", type=int, default=100_000, help="lines the log-burst invoke prints (100000)")
    parser.add_argument("--commands", type=int, help="whole `invoke` commands per side (default 7, quick 3)")
    parser.add_argument("--soak-invokes", type=int, help="invokes for throughput and RSS (default 10000, quick 1000)")
    parser.add_argument("--ric-python", default=sys.executable, help="interpreter with awslambdaric (default: this one)")
    parser.add_argument("--json", action="store_true", help="also print every sample as JSON after the table")
    parser.add_argument("--against-previous", action="store_true",
                        help="set lambdatui against its previous release, even where RIE or python-lambda-local is")
    args = parser.parse_args()
    quick = {"rounds": 2, "invokes": 300, "resets": 6, "commands": 3, "soak_invokes": 1000}
    full = {"rounds": 7, "invokes": 1000, "resets": 30, "commands": 7, "soak_invokes": 10_000}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main() -> int:
    args = options()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, raise_interrupted)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lambdatui-compare-", dir=cache))
    procs = Processes()
    stamps = SpawnStamps()
    try:
        return run(args, work, procs, stamps)
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"\ninterrupted ({str(exc) or 'SIGINT'}): stopping what was started", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        procs.stop_all()
        stamps.close()
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path, procs: Processes, stamps: SpawnStamps) -> int:
    fn, logs = work / "function", work / "logs"
    fn.mkdir()
    logs.mkdir()
    (fn / "handler.py").write_text(HANDLER)
    bootstrap = fn / "bootstrap"
    # The runtime as awslambdaric, behind the wrapper that stamps its spawn: what both hosts start.
    bootstrap.write_text(stamps.wrapper(f"{shlex.quote(args.ric_python)} -m awslambdaric handler.handler"))
    bootstrap.chmod(0o755)

    load_start = os.getloadavg()[0]
    missing: dict[str, str] = {}
    have_ric = can_import(args.ric_python, "awslambdaric")
    if not have_ric:
        note = f"awslambdaric not importable by {args.ric_python}: pip install awslambdaric, or pass --ric-python"
        missing["RIE"] = missing["lambdatui+ric"] = note
    rie_bin = os.environ.get("RIE_BIN")
    if not rie_bin or not os.access(rie_bin, os.X_OK):
        missing["RIE"] = ("RIE not available: set RIE_BIN=/path/to/aws-lambda-rie (README, Benchmarks, says how to "
                          "build it)" + (f"; {rie_bin!r} is not an executable file" if rie_bin else ""))
    pll = python_lambda_local()
    if pll is None:
        missing["python-lambda-local"] = ("python-lambda-local not available: pip install python-lambda-local (in this "
                                          "or a scratch venv), or set PYTHON_LAMBDA_LOCAL=/path/to/python-lambda-local")
    if args.against_previous:
        missing.setdefault("RIE", "RIE not used: --against-previous")
        missing.setdefault("python-lambda-local", "python-lambda-local not used: --against-previous")
        pll = None
    # Issue 9: where a peer is missing, lambdatui's previous release stands in for it, measured in this run too.
    previous: list[str] | None = None
    if "RIE" in missing or "python-lambda-local" in missing:
        previous, why = previous_release(work)
        if previous is None and args.against_previous:
            print(f"compare.py: --against-previous: {LABEL} is not available: {why}", file=sys.stderr)
            return 2
        missing["about the previous release"] = (
            f"{LABEL} not available either: {why}" if previous is None else
            f"{LABEL}: lambdatui's previous release (the last commit before issue 9's work, from this checkout's "
            "history) in their place, measured in this run; the targets are not about it")

    compile_lambdatui()
    lt = lambdatui_command()

    def serve(command: list[str], path: Path) -> Callable[[int], list[str]]:
        return lambda port: [*command, "serve", str(path), "--port", str(port), "--timeout", "60",
                             *(["--python", sys.executable] if path.name == "handler.py" else [])]

    sides = [Side("lambdatui", "lambdatui serve", serve(lt, fn / "handler.py"), fn)]
    if "lambdatui+ric" not in missing:
        sides.append(Side("lambdatui+ric", "lambdatui serve (awslambdaric)", serve(lt, bootstrap), fn, True))
    if "RIE" not in missing:
        sides.append(Side("RIE", "RIE", lambda port: [
            rie_bin, "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
            "--runtime-api-address", f"127.0.0.1:{free_port()}", str(bootstrap)], fn, True))
    elif previous:
        sides.append(Side("previous", LABEL, serve(previous, fn / "handler.py"), fn))
        if "lambdatui+ric" not in missing:
            sides.append(Side("previous+ric", f"{LABEL} (awslambdaric)", serve(previous, bootstrap), fn, True))
    figures = {side.key: Figures() for side in sides}

    print(f"lambdatui {describe_tree()}; {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
          f"RIE: {rie_bin if 'RIE' not in missing else 'no'}; "
          f"python-lambda-local: {shlex.join(pll) if pll else 'no'}"
          f"{f'; in their place: {LABEL}' if previous else ''}", file=sys.stderr)

    def measure(key: str, label: str, step: Callable[[], object]) -> None:
        """A step of side `key`. The previous release runs as it was: where it fails (a limit it had), its rows stay
        empty and the table says why; a failure of today's code or of a peer ends the run."""
        if key in missing:
            return
        try:
            step()
        except (SystemExit, OSError, http.client.HTTPException) as failure:
            if not key.startswith("previous"):
                raise
            hint = (" (07b9fb1 gave a custom runtime its own /tmp, which hides this interpreter: it lies under /tmp)"
                    if key == "previous+ric" and Path(os.path.abspath(args.ric_python)).is_relative_to("/tmp") else "")
            missing[key] = f"{label} failed, so its rows are empty: {str(failure)[:300]}{hint}"
            if key in figures:
                figures[key] = Figures()  # nothing half-measured

    # Unmeasured: one start of each, so that no side pays for compiling bytecode or a cold page cache.
    for side in sides:
        print(f"warm-up: {side.label}", file=sys.stderr)
        measure(side.key, side.label, partial(one_launch, procs, side, Figures(),
                                              argparse.Namespace(invokes=10, lines=10), logs, 0, stamps))

    for n in range(1, args.rounds + 1):
        order = sides if n % 2 else sides[::-1]
        print(f"round {n}/{args.rounds}: {', '.join(side.label for side in order)}", file=sys.stderr)
        for side in order:
            measure(side.key, side.label, lambda: one_launch(procs, side, figures[side.key], args, logs, n, stamps))

    stamped = [side for side in sides if side.stamps_spawns]
    if len(stamped) == 2:
        ours, theirs = stamped
        print(f"cold starts after a crash: {ours.label} and {theirs.label}, {args.resets} pairs", file=sys.stderr)
        measure(theirs.key, theirs.label,
                partial(measure_pairs, procs, ours, theirs, figures, args.resets, logs, stamps))

    (work / "event.json").write_text("{}")
    command_peer = (Peer("python-lambda-local", Figures(), judged=True) if pll or not previous
                    else Peer(LABEL, Figures(), judged=False))
    print(f"whole command: lambdatui invoke, {command_peer.label} × {args.commands}", file=sys.stderr)
    ours = [*lt, "invoke", str(HELLO), "-e", "{}", "--python", sys.executable]
    theirs = ([*pll, "-f", "handler", "-t", "60", str(HELLO), str(work / "event.json")] if pll
              else previous and [*previous, "invoke", str(HELLO), "-e", "{}", "--python", sys.executable])
    timed_command(ours, ROOT)
    theirs_key = "python-lambda-local" if pll else "previous-command"
    if theirs:
        measure(theirs_key, f"{LABEL}'s invoke", lambda: timed_command(theirs, ROOT))
    for n in range(args.commands):
        pairs = [(ours, figures["lambdatui"]), (theirs, command_peer.own)]
        for argv, fig in pairs if n % 2 == 0 else pairs[::-1]:
            if argv is ours:
                fig.command_ms.append(timed_command(argv, ROOT))
            elif argv and theirs_key not in missing:
                measure(theirs_key, f"{LABEL}'s invoke", lambda: fig.command_ms.append(timed_command(argv, ROOT)))
    if theirs_key in missing:
        command_peer.own = Figures()

    for key in ("lambdatui", "RIE", "previous"):
        if key in figures:
            print(f"throughput and RSS: {key}, {args.soak_invokes} invokes", file=sys.stderr)
            side = next(side for side in sides if side.key == key)
            measure(key, side.label, partial(soak, procs, side, figures[key], args.soak_invokes, logs))

    if "RIE" in figures:
        peer = Peer("RIE", figures["RIE"], judged=True)
    elif "previous" in figures:
        peer = Peer(LABEL, figures["previous"], figures.get("previous+ric", Figures()), judged=False)
    else:
        peer = Peer("RIE", Figures(), judged=True)
    print(f"lambdatui {describe_tree()}; {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
          f"1-minute load average {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print(render(table_rows(args, figures["lambdatui"], figures.get("lambdatui+ric", Figures()), peer, command_peer),
                 missing))
    if args.json:
        samples = {key: fig.__dict__ for key, fig in figures.items()}
        samples[command_peer.label] = command_peer.own.__dict__
        print(json.dumps(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
