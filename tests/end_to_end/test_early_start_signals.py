"""A signal while env #1 is being started ahead of the host (host/early_start.py) ends lambdatui as it would at any
other moment: nothing left behind, no traceback, and a SIGKILL's cgroups removed by the watchdog.

Each test runs `lambdatui invoke` in an interpreter of its own whose start sends the signal itself at one precise
point of the early start (the real code, the real signal: its handler runs at the next instruction), where a
signal sent from outside would hit that point one run in many.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e_support import REPO, wait_all_gone, writable_cgroups, write_file

BOUND = 60.0

SCRIPT = r'''
import json, os, signal, sys
sys.path.insert(0, sys.argv[3])
from e2e_support import descendants
where, handler = sys.argv[1], sys.argv[2]
if where == "handlers":  # right after the SIGTERM handler is put in place
    real_signal = signal.signal
    def installing(number, action):
        previous = real_signal(number, action)
        if number == signal.SIGTERM and callable(action) and not getattr(installing, "sent", False):
            installing.sent = True
            os.kill(os.getpid(), signal.SIGTERM)
        return previous
    signal.signal = installing
elif where in ("processes", "twice"):  # once env #1's folder, cgroups, watchdog, init and runtime's start are there
    from lambdatui.host import early_start
    if where == "twice":  # and a second SIGTERM as the first one's cleanup begins (a terminal closed, then a kill)
        real_abandon = early_start.EarlyStart.abandon
        def abandon(self):
            if not getattr(abandon, "sent", False):
                abandon.sent = True
                os.kill(os.getpid(), signal.SIGTERM)
            real_abandon(self)
        early_start.EarlyStart.abandon = abandon
    real_boot = early_start.EarlyStart.boot
    def boot(self, spec):
        real_boot(self, spec)
        cgroup = self.supervisor.cgroup
        print(json.dumps({"pids": descendants(os.getpid()), "state_dir": str(self.state_dir),
                          "cgroups": [str(cgroup.path)] if cgroup is not None else []}), flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
    early_start.EarlyStart.boot = boot
elif where == "cgroup":  # SIGKILL the moment env #1's cgroups are made
    from lambdatui.processes import cgroup as cgroups
    real_create = cgroups.EnvironmentCgroup.create.__func__
    def create(cls, *args, **kwargs):
        made = real_create(cls, *args, **kwargs)
        if made is None:  # no writable cgroup here (an ordinary user): nothing is made, the test skips
            print(json.dumps({"cgroups": []}), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        paths = [str(made.path)] + ([str(made.memory.path)] if made.memory is not None and made.memory.own else [])
        print(json.dumps({"cgroups": paths}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    cgroups.EnvironmentCgroup.create = classmethod(create)
from lambdatui.entry import main
sys.argv = ["lambdatui", "invoke", handler, "-e", "{}"]
sys.exit(main())
'''


def _run(code_dir: Path, where: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    handler = write_file(code_dir / "fn" / "handler.py", "def handler(event, context):\n    return event\n")
    state = code_dir / "state"
    env = dict(os.environ, PYTHONPATH=str(REPO), XDG_STATE_HOME=str(state))
    env.pop("LAMBDATUI_EARLY_START", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT, where, str(handler), str(Path(__file__).parent)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=BOUND,
                          stdin=subprocess.DEVNULL)
    return done, state / "lambdatui"


def _gone(paths: list[str], bound: float) -> list[str]:
    """`paths` still there after waiting for them to go (the watchdog removes cgroups once their processes end)."""
    deadline = time.monotonic() + bound
    while (left := [path for path in paths if os.path.exists(path)]) and time.monotonic() < deadline:
        for path in left:
            os.stat(os.path.dirname(path))
    return left


@pytest.mark.parametrize("where", ["handlers", "processes", "twice"])
def test_sigterm_while_env_1_starts_ahead_ends_lambdatui_and_leaves_nothing(code_dir: Path, where: str) -> None:
    done, runs = _run(code_dir, where)
    assert done.returncode == -signal.SIGTERM, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert not list(runs.glob("run-*")), list(runs.iterdir())  # removed before lambdatui ended
    if where in ("processes", "twice"):
        seen = json.loads(done.stdout)
        # The watchdog, the init (and the cgroups, where lambdatui may make them): there was something to end.
        assert seen["pids"] and (seen["cgroups"] or not writable_cgroups()), seen
        assert wait_all_gone({int(pid): start for pid, start in seen["pids"].items()}, 10) == {}
        assert _gone(seen["cgroups"], 10) == []
        assert not Path(seen["state_dir"]).exists()


def test_a_sigkill_as_env_1_cgroups_are_made_leaves_them_to_the_watchdog(code_dir: Path) -> None:
    done, _ = _run(code_dir, "cgroup")
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr)
    made = json.loads(done.stdout)["cgroups"]
    if not made:
        pytest.skip("no writable cgroup here")
    assert _gone(made, 10) == []  # told to the watchdog before they were made: removed, not left to the next start
