"""Helpers for the scenario tests: replay in-process through the real host, or as the real CLI.

Nothing is faked: every replay starts real runtime and extension processes. Waits are on the controller
(`settled()`, facts) inside `run_scenario`, and every run carries a bound.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import trio

from lambdatui.config import resolve_function
from lambdatui.model import facts as f
from lambdatui.runner import open_environment
from lambdatui.scenario.fleet_settings import scenario_fleet
from lambdatui.scenario.parse import check_targets, parse_scenario
from lambdatui.scenario.report import TimelinePrinter
from lambdatui.scenario.run import STEP_MARGIN_S, ReplayResult, run_scenario

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_functions"
AUDIT_EXTENSIONS = SAMPLES / "extension" / "extensions"
BOUND = 90  # seconds for a whole replay: generous, a normal one takes one or two
CLI_TIMEOUT = 120

# A function that does whatever the event asks, and reports what it saw.
PROBE = '''import os
import tempfile
import time

invocations = 0
LABEL = "probe"


def handler(event, context):
    global invocations
    invocations += 1
    if "write" in event:
        with open(os.path.join(tempfile.gettempdir(), event["write"]), "w") as fh:
            fh.write("x")
    if "sleep" in event:
        time.sleep(event["sleep"])
    print(f"probe: invocation {invocations}", flush=True)
    return {"invocations": invocations, "event": event, "greeting": os.environ.get("GREETING")}
'''


@dataclass
class Replayed:
    result: ReplayResult
    out: str  # the timeline, as stdout would show it
    err: str  # the function's own output, as stderr would show it
    facts: list[f.Fact]


def write_probe(code_dir: Path, text: str = PROBE) -> Path:
    path = code_dir / "handler.py"
    path.write_text(text)
    return path


def freeze_scenario(expect: str, at: str = "") -> str:
    """A function with a 1 s timeout, warmed by one invoke; its runtime frozen (at boundary `at`, else at once);
    then an invoke whose step checks `expect` (a TOML line)."""
    armed = f'at = "{at}"\n' if at else ""
    return (f'[function]\ntimeout = 1\n\n[[step]]\ninvoke = {{}}\n\n[[step]]\nfault = "freeze"\ntarget = "runtime"\n'
            f"{armed}\n[[step]]\ninvoke = {{}}\n{expect}\n")


def write_scenario(directory: Path, text: str, name: str = "scenario.toml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


async def replay(function: Path, scenario_text: str, scenario_dir: Path, *, margin_s: float = STEP_MARGIN_S,
                 verbose: bool = False, extensions: Optional[Path] = None, python: Optional[str] = None,
                 **settings: object) -> Replayed:
    """Run a scenario in-process on a fresh environment, as `lambdatui replay` does, with the fleet its
    [function] table asks for; `python` runs the function (default: as `--python` left out chooses)."""
    path = write_scenario(scenario_dir, scenario_text)
    scenario = parse_scenario(path.read_text(), path)
    config = resolve_function(
        str(function),
        timeout_s=settings.get("timeout", scenario.function.timeout or 3),  # type: ignore[arg-type]
        handler=scenario.function.handler,
        extensions_dir=str(extensions) if extensions else None,
        env_pairs=[f"{k}={v}" for k, v in scenario.function.env.items()],
        python=python,
    )
    check_targets(scenario, config.extension_names)
    out, err = io.StringIO(), io.StringIO()
    printer = TimelinePrinter(out, err, code_dir=str(config.code_dir), verbose=verbose)
    facts: list[f.Fact] = []
    with trio.fail_after(BOUND):
        async with open_environment(config, inspect=True, fleet=scenario_fleet(scenario.function),
                                    first_ahead=False) as running:
            running.session.subscribe(facts.append)
            result = await run_scenario(scenario, running.session, printer, margin_s=margin_s)
    return Replayed(result, out.getvalue(), err.getvalue(), facts)


def lambdatui_argv() -> list[str]:
    script = Path(sys.executable).with_name("lambdatui")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "lambdatui"]


def run_cli(*args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*lambdatui_argv(), *args], cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)
