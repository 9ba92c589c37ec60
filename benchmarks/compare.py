"""lambdatui side by side with the AWS Runtime Interface Emulator (RIE) and python-lambda-local, in one run.

    RIE_BIN=/path/to/aws-lambda-rie python benchmarks/compare.py [--quick]

Peers, each used when it is there:
- RIE, when the environment variable RIE_BIN names its binary (it is not on PyPI: the README's Benchmarks
  section says how to build it). It runs `python -m awslambdaric handler.handler`, from --ric-python (default:
  this interpreter), which must have awslambdaric (`pip install '.[test]'` brings it).
- python-lambda-local, when PYTHON_LAMBDA_LOCAL names its command, else when `python-lambda-local` is on PATH or
  next to this interpreter, else when this interpreter can import `lambda_local`.
A peer that is not there leaves its column empty and says how to add it; lambdatui's figures are printed anyway.

What is measured, launch after launch with the sides alternating (lambdatui, then RIE; next round the other way):
- warm invoke p50/p99: `serve`'s Invoke API (or RIE's), one keep-alive client, --invokes sequential invokes
  per launch; the median of the launches' figures. Once with lambdatui's own runtime, once with awslambdaric
  under both;
- environment cold start, runtime spawn -> response, awslambdaric under both: after the handler crashes
  (`os._exit`), the next invoke re-initialises the environment on demand in both; the spawn is stamped by the
  runtime's wrapper script (`date +%s%N`, then `exec python -m awslambdaric`), the response by this client.
  Also for the first environment of a launch (the client invokes as soon as the port opens);
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
import ctypes
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import ROOT, connect, free_port, invoke, percentile, post, rss_kb

HELLO = ROOT / "sample_functions" / "hello" / "handler.py"
PR_SET_CHILD_SUBREAPER = 36
STOP_GRACE_S = 15.0

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

# The runtime as awslambdaric, behind a wrapper that stamps its spawn on stderr (the host's log has it: lambdatui's
# environment may write nothing but /tmp, as Lambda's): what both hosts start.
BOOTSTRAP = """\
#!/bin/sh
echo "{marker} $(date +%s%N)" >&2
exec {python} -m awslambdaric handler.handler
"""
SPAWN_MARKER = "benchmark-runtime-spawned"


class Interrupted(Exception):
    """SIGTERM or SIGHUP: stop like Ctrl-C, through every `finally`."""


# ------------------------------------------------------------------ processes


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of `pid`, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19])


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def descendants(root: int) -> list[tuple[int, int]]:
    """Every process below `root` as (pid, start time), deepest last."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            children.setdefault(stat[0], []).append((int(entry), stat[1]))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


class Processes:
    """Starts the peers; stops each and whatever it left behind, and everything at exit."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen] = []
        try:  # orphans of the peers become our children, so nothing they leave escapes the sweep
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass

    def start(self, argv: list[str], cwd: Path, log: Path) -> subprocess.Popen:
        with open(log, "ab") as out:
            # Its own session: the terminal's Ctrl-C reaches only us, and we stop it in order.
            proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.running:
            self.running.remove(proc)
        self.sweep()

    def sweep(self, grace_s: float = 5.0) -> None:
        """Whatever a stopped peer left (a watchdog finishing its round): given `grace_s`, then SIGKILLed."""
        deadline = time.monotonic() + grace_s
        while left := self._strays():
            if time.monotonic() > deadline:
                for pid, start in left:
                    if (stat := _stat(pid)) is not None and stat[1] == start:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                deadline = time.monotonic() + grace_s
            time.sleep(0.05)

    def _strays(self) -> list[tuple[int, int]]:
        """Live processes below us that no running peer accounts for; the dead ones among them are reaped."""
        kept = {p.pid for p in self.running}
        for proc in self.running:
            kept.update(pid for pid, _ in descendants(proc.pid))
        left = []
        for pid, start in descendants(os.getpid()):
            if pid in kept:
                continue
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    continue  # an orphan handed to us that has just ended
            except ChildProcessError:
                pass  # not our child: its own parent is still there to reap it
            if _state(pid) not in (None, "Z"):
                left.append((pid, start))
        return left

    def stop_all(self) -> None:
        for proc in list(self.running):
            self.stop(proc)
        self.sweep()


# ------------------------------------------------------------------ sides


@dataclass
class Side:
    key: str
    label: str
    argv: Callable[[int], list[str]]  # the listening port -> the command
    cwd: Path
    stamps_spawns: bool = False  # the runtime is awslambdaric behind the wrapper, which stamps its spawns in the log


@dataclass
class Figures:
    start_ms: list[float] = field(default_factory=list)
    first_env_ms: list[float] = field(default_factory=list)
    reset_cold_ms: list[float] = field(default_factory=list)
    warm_p50_ms: list[float] = field(default_factory=list)
    warm_p99_ms: list[float] = field(default_factory=list)
    lines_ms: list[float] = field(default_factory=list)
    throughput: float | None = None
    rss_mb: tuple[float, float] | None = None
    command_ms: list[float] = field(default_factory=list)


def spawn_stamps(log: Path) -> list[int]:
    text = log.read_text(errors="replace") if log.exists() else ""
    return [int(stamp) for stamp in re.findall(SPAWN_MARKER + r" (\d+)", text)]


def last_stamp(log: Path, count_before: int) -> int | None:
    """The spawn stamped since `count_before` stamps, if exactly one runtime was spawned."""
    stamps = spawn_stamps(log)
    return stamps[-1] if len(stamps) == count_before + 1 else None


def one_launch(procs: Processes, side: Side, fig: Figures, args: argparse.Namespace, logs: Path, n: int) -> None:
    port = free_port()
    log = logs / f"{side.key}-{n}.log"
    started = time.monotonic()
    proc = procs.start(side.argv(port), side.cwd, log)
    try:
        conn = connect(port, started + 30, what=side.label)
        invoke(conn)
        answered, answered_ns = time.monotonic(), time.time_ns()
        fig.start_ms.append((answered - started) * 1000)
        if side.stamps_spawns and (stamp := last_stamp(log, 0)) is not None:
            fig.first_env_ms.append((answered_ns - stamp) / 1e6)

        latencies = []
        for _ in range(args.invokes):
            t0 = time.perf_counter()
            invoke(conn)
            latencies.append((time.perf_counter() - t0) * 1000)
        latencies.sort()
        fig.warm_p50_ms.append(percentile(latencies, 0.50))
        fig.warm_p99_ms.append(percentile(latencies, 0.99))

        if side.stamps_spawns:
            for _ in range(args.resets):
                status, function_error, body = post(conn, b'{"crash": true}')
                if status == 200 and not function_error:
                    raise SystemExit(f"{side.label}: the crashing invoke succeeded: {body[:200]!r}")
                before = len(spawn_stamps(log))
                invoke(conn)
                if (stamp := last_stamp(log, before)) is not None:
                    fig.reset_cold_ms.append((time.time_ns() - stamp) / 1e6)

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
    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], check=False, cwd=ROOT, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--", "lambdatui")
    return f"{commit}{' + uncommitted changes in lambdatui/' if dirty else ''}"


# ------------------------------------------------------------------ the table


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass
class Row:
    figure: str
    ours: Any
    theirs: Any
    peer: str
    target: str = ""
    show: Callable[[Any], str] = ms
    limit: float | None = None  # the target, when it is a ratio: ours / theirs at most
    size: Callable[[Any], float] = float  # what the ratio compares

    def ratio(self) -> float | None:
        if self.ours is None or self.theirs is None or not self.size(self.theirs):
            return None
        return self.size(self.ours) / self.size(self.theirs)


def render(rows: list[Row], peer_missing: dict[str, str]) -> str:
    table = [("figure", "lambdatui", "peer", "ratio", "target")]
    for row in rows:
        if row.theirs is None:
            peer = f"{row.peer}: {'not available' if row.peer in peer_missing else '—'}"
        else:
            peer = f"{row.peer} {row.show(row.theirs)}"
        ratio = row.ratio()
        target = row.target
        if row.limit is not None and ratio is not None:
            target += " ✓" if ratio <= row.limit else " ✗"
        table.append((row.figure, row.show(row.ours), peer, "—" if ratio is None else f"{ratio:.2f}×", target))
    widths = [max(len(line[i]) for line in table) for i in range(5)]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths)) + " |" for line in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    notes = sorted({note for peer, note in peer_missing.items() if any(row.peer == peer for row in rows)})
    return "\n".join(lines + [f"({note})" for note in notes])


def per_second(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}/s"


def rss(value: tuple[float, float] | None) -> str:
    if value is None:
        return "—"
    start, end = value
    return f"{start:.1f} → {end:.1f} MB ({(end - start) / start * 100:+.1f} %)"


# ------------------------------------------------------------------ main


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer of everything: done in under a minute")
    parser.add_argument("--rounds", type=int, help="launches of each server, alternating (default 7, quick 2)")
    parser.add_argument("--invokes", type=int, help="warm invokes per launch (default 1000, quick 300)")
    parser.add_argument("--resets", type=int, help="crash-and-re-init cold starts per launch (default 3, quick 2)")
    parser.add_argument("--lines", type=int, default=100_000, help="lines the log-burst invoke prints (100000)")
    parser.add_argument("--commands", type=int, help="whole `invoke` commands per side (default 7, quick 3)")
    parser.add_argument("--soak-invokes", type=int, help="invokes for throughput and RSS (default 10000, quick 1000)")
    parser.add_argument("--ric-python", default=sys.executable, help="interpreter with awslambdaric (default: this one)")
    parser.add_argument("--json", action="store_true", help="also print every sample as JSON after the table")
    args = parser.parse_args()
    quick = {"rounds": 2, "invokes": 300, "resets": 2, "commands": 3, "soak_invokes": 1000}
    full = {"rounds": 7, "invokes": 1000, "resets": 3, "commands": 7, "soak_invokes": 10_000}
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
    try:
        return run(args, work, procs)
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"\ninterrupted ({str(exc) or 'SIGINT'}): stopping what was started", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path, procs: Processes) -> int:
    fn, logs = work / "function", work / "logs"
    fn.mkdir()
    logs.mkdir()
    (fn / "handler.py").write_text(HANDLER)
    bootstrap = fn / "bootstrap"
    bootstrap.write_text(BOOTSTRAP.format(marker=SPAWN_MARKER, python=shlex.quote(args.ric_python)))
    bootstrap.chmod(0o755)

    load_start = os.getloadavg()[0]
    missing: dict[str, str] = {}
    have_ric = can_import(args.ric_python, "awslambdaric")
    if not have_ric:
        note = f"awslambdaric not importable by {args.ric_python}: pip install awslambdaric, or pass --ric-python"
        missing["RIE"] = missing["lambdatui+ric"] = note
    rie_bin = os.environ.get("RIE_BIN")
    if not rie_bin or not os.access(rie_bin, os.X_OK):
        missing["RIE"] = ("peer not available: set RIE_BIN=/path/to/aws-lambda-rie (README, Benchmarks, says how to "
                          "build it)" + (f"; {rie_bin!r} is not an executable file" if rie_bin else ""))
    pll = python_lambda_local()
    if pll is None:
        missing["python-lambda-local"] = ("peer not available: pip install python-lambda-local (in this or a scratch "
                                          "venv), or set PYTHON_LAMBDA_LOCAL=/path/to/python-lambda-local")

    compile_lambdatui()
    lt = lambdatui_command()
    sides = [Side("lambdatui", "lambdatui serve", lambda port: [
        *lt, "serve", str(fn / "handler.py"), "--port", str(port), "--python", sys.executable, "--timeout", "60"], fn)]
    if "lambdatui+ric" not in missing:
        sides.append(Side("lambdatui+ric", "lambdatui serve (awslambdaric)", lambda port: [
            *lt, "serve", str(bootstrap), "--port", str(port), "--timeout", "60"], fn, True))
    if "RIE" not in missing:
        sides.append(Side("RIE", "RIE", lambda port: [
            rie_bin, "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
            "--runtime-api-address", f"127.0.0.1:{free_port()}", str(bootstrap)], fn, True))
    figures = {side.key: Figures() for side in sides}
    pll_fig = Figures()

    print(f"lambdatui {describe_tree()}; {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
          f"RIE: {rie_bin if 'RIE' not in missing else 'no'}; "
          f"python-lambda-local: {shlex.join(pll) if pll else 'no'}", file=sys.stderr)

    # Unmeasured: one start of each, so that no side pays for compiling bytecode or a cold page cache.
    for side in sides:
        print(f"warm-up: {side.label}", file=sys.stderr)
        one_launch(procs, side, Figures(), argparse.Namespace(invokes=10, resets=0, lines=10), logs, 0)

    for n in range(1, args.rounds + 1):
        order = sides if n % 2 else sides[::-1]
        print(f"round {n}/{args.rounds}: {', '.join(side.label for side in order)}", file=sys.stderr)
        for side in order:
            one_launch(procs, side, figures[side.key], args, logs, n)

    print(f"whole command: lambdatui invoke{', python-lambda-local' if pll else ''} × {args.commands}",
          file=sys.stderr)
    (work / "event.json").write_text("{}")
    ours = [*lt, "invoke", str(HELLO), "-e", "{}", "--python", sys.executable]
    theirs = pll and [*pll, "-f", "handler", "-t", "60", str(HELLO), str(work / "event.json")]
    timed_command(ours, ROOT)
    if theirs:
        timed_command(theirs, ROOT)
    for n in range(args.commands):
        pairs = [(ours, figures["lambdatui"]), (theirs, pll_fig)]
        for argv, fig in pairs if n % 2 == 0 else pairs[::-1]:
            if argv:
                fig.command_ms.append(timed_command(argv, ROOT))

    for key in ("lambdatui", "RIE"):
        if key in figures:
            print(f"throughput and RSS: {key}, {args.soak_invokes} invokes", file=sys.stderr)
            soak(procs, next(side for side in sides if side.key == key), figures[key], args.soak_invokes, logs)

    us = figures["lambdatui"]
    ric = figures.get("lambdatui+ric", Figures())
    rie = figures.get("RIE", Figures())
    m = median
    runs = f"{args.invokes:,} invokes × {args.rounds} launches"
    rows = [
        Row(f"warm invoke p50 via serve ({runs}, median)", m(us.warm_p50_ms), m(rie.warm_p50_ms), "RIE",
            "≤ 1.0× RIE", limit=1.0),
        Row("warm invoke p99", m(us.warm_p99_ms), m(rie.warm_p99_ms), "RIE", "≤ 1.5× RIE", limit=1.5),
        Row("warm invoke p50, awslambdaric under both", m(ric.warm_p50_ms), m(rie.warm_p50_ms), "RIE",
            "≤ 1.0× RIE", limit=1.0),
        Row("warm invoke p99, awslambdaric under both", m(ric.warm_p99_ms), m(rie.warm_p99_ms), "RIE",
            "≤ 1.5× RIE", limit=1.5),
        Row(f"environment cold start after a crash: runtime spawn → response (awslambdaric under both, "
            f"{args.resets} × {args.rounds})", m(ric.reset_cold_ms), m(rie.reset_cold_ms), "RIE", "≤ 1.0× RIE",
            limit=1.0),
        Row("first environment: runtime spawn → first response (lambdatui spawns at start, RIE on the invoke)",
            m(ric.first_env_ms), m(rie.first_env_ms), "RIE"),
        Row("serve process start → first response (RIE: process start, awslambdaric)", m(us.start_ms),
            m(rie.start_ms), "RIE", "≤ 150 ms" + (" ✓" if us.start_ms and m(us.start_ms) <= 150 else " ✗")),
        Row("serve process start → first response, awslambdaric under both", m(ric.start_ms), m(rie.start_ms),
            "RIE"),
        Row(f"`lambdatui invoke hello -e '{{}}'`, whole command (median of {args.commands}, alternating)",
            m(us.command_ms), m(pll_fig.command_ms), "python-lambda-local", "≤ 1.0× python-lambda-local",
            limit=1.0),
        Row(f"one invoke printing {args.lines:,} lines, headless (warm)", m(us.lines_ms), m(rie.lines_ms), "RIE",
            "≤ 1.2× RIE", limit=1.2),
        Row(f"one invoke printing {args.lines:,} lines, awslambdaric under both", m(ric.lines_ms), m(rie.lines_ms),
            "RIE", "≤ 1.2× RIE", limit=1.2),
        Row(f"sequential throughput, one client, {args.soak_invokes:,} invokes (higher is better)", us.throughput,
            rie.throughput, "RIE", "≥ 1,200/s" + (" ✓" if (us.throughput or 0) >= 1200 else " ✗"),
            show=per_second),
        Row(f"host RSS after the first invoke → after {args.soak_invokes:,} more (ratio: at the end)", us.rss_mb,
            rie.rss_mb, "RIE", "flat, ±5 %" + (" ✓" if us.rss_mb and abs(us.rss_mb[1] / us.rss_mb[0] - 1) <= 0.05
                                               else " ✗"), show=rss, size=lambda value: value[1]),
    ]
    load_end = os.getloadavg()[0]
    print(f"lambdatui {describe_tree()}; {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
          f"1-minute load average {load_start:.2f} at the start, {load_end:.2f} at the end")
    print(render(rows, missing))
    if args.json:
        samples = {key: fig.__dict__ for key, fig in figures.items()}
        samples["python-lambda-local"] = pll_fig.__dict__
        print(json.dumps(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
