"""From a bug hunt (session 61): the day's changes at their edges, as a user of the debugger and of `serve` meets them.

- SnapStart: the snapshot environment (env #1) frozen as a whole once taken and woken for each restore; a copy's
  connections kept from Init moved to its own environment's server (bootstrap/kept_connections.py); shutdown with
  several restores under way, by SIGTERM or SIGKILL of lambdatui.
- A fault armed for an environment not started yet (host/fleet_host.py arm_for_unstarted), as a hand-written scenario
  names one.

Its four findings are fixed (they were strict xfails): a shutdown (SIGTERM, the controller's) skipped environments still
being started (host/fleet_stopping.py now waits for them), a shutdown aimed at the snapshot was carried out (refused
now), and faults armed in another environment, or for one never started, were never said not to have fired.

Real `lambdatui serve` / `lambdatui replay` processes, real HTTP, real extensions; nothing mocked. Every wait is on
the line or process state it means, with a bound. Each test leaves no process, no cgroup folder of its run, and its
state folder (XDG_STATE_HOME) under its own code_dir.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from process_states import cgroup_freezer, wait_frozen

from e2e_support import (ServeProcess, descendants, proc_cmdline, run_cli, wait_all_gone, watcher_extension,
                         write_file)
from test_fleet_support import state_home

__all__ = ["state_home"]  # the fixture, used by name

BOUND_S = 30.0
HELLO = "sample_functions/hello/handler.py"

# An external extension that says which events it gets (INVOKE and SHUTDOWN), one line each.
WATCHER = watcher_extension("INVOKE", "SHUTDOWN")

PID_HANDLER = """\
import os, time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid()}
"""


def _post(url: str, event: dict) -> tuple[object, object]:
    """(status, parsed body) of a synchronous invoke; ("no answer", why) when the connection ended without one."""
    request = urllib.request.Request(url, data=json.dumps(event).encode())
    try:
        with urllib.request.urlopen(request, timeout=BOUND_S) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode(errors="replace")
    except (OSError, ValueError) as lost:
        return "no answer", repr(lost)


def _cgroups_of(pid: int) -> list[str]:
    root = Path("/sys/fs/cgroup/unified")
    if not (root / "cgroup.controllers").exists():
        root = Path("/sys/fs/cgroup")
    try:
        return [entry.name for entry in root.iterdir() if entry.name.startswith(f"lambdatui-{pid}-")]
    except OSError:
        return []


def _envs_with(lines: list[str], source: str, pattern: str) -> set[int]:
    """The numbers of the environments that printed a line of `source` matching `pattern` (`#N [source] text`)."""
    regex = re.compile(r"^#(\d+) \[" + re.escape(source) + r"\]\s+" + pattern)
    return {int(match.group(1)) for match in map(regex.search, lines) if match}


def _snap_function(code_dir: Path) -> Path:
    handler = write_file(code_dir / "handler.py", PID_HANDLER)
    write_file(code_dir / "extensions" / "watcher", WATCHER, executable=True)
    return handler


def _replay(scenario: Path, *extra: str, handler: str = HELLO) -> str:
    done = run_cli("replay", handler, str(scenario), *extra)
    said = done.stdout + done.stderr
    assert "Traceback" not in said, said[-3000:]
    return said


# ---------------------------------------------------------------------- bugs


def test_a_fault_armed_for_an_environment_never_started_is_said_never_to_have_fired(tmp_path: Path) -> None:
    """`fault` with `env = 5` and `at = "invoke.start"`, then one invoke (env #1). The step says "env #5 is not started
    yet: ... armed for it, from its start" (DebugSession → FleetHost.arm_for_unstarted), env #5 never starts, and the
    replay ends PASSED with nothing more. A fault armed in env #1 that never fires gets, at the replay's end, "armed,
    never fired (no step after it reached that point)" (scenario/run.py), from the focused environment's armed faults
    only: the fleet's `_armed_for` is read by nobody."""
    scenario = write_file(tmp_path / "typo.toml", """\
[[step]]
fault = "crash"
target = "runtime"
env = 5
at = "invoke.start"

[[step]]
invoke = {}
""")
    said = _replay(scenario)
    assert "env #5 is not started yet" in said, said[-3000:]  # the step took it, armed
    assert "never fired" in said, said[-3000:]


def test_a_fault_armed_in_another_environment_that_never_fires_is_said_so(tmp_path: Path) -> None:
    """Two environments (a parallel step); a crash armed for env #2 at invoke.start; the last invoke goes to env #1.
    The fault waits in env #2 for good: scenario/run.py says "armed, never fired" for `session.snapshot().armed_faults`,
    which are env #1's (the focused one) only, so the replay passes without a word about env #2's."""
    scenario = write_file(tmp_path / "armed.toml", """\
[function]
concurrency = 3

[[step]]
parallel = [{}, {}]

[[step]]
fault = "crash"
target = "runtime"
env = 2
at = "invoke.start"

[[step]]
invoke = {}
env = 1
""")
    said = _replay(scenario)
    assert re.search(r"#2\s+armed\s+crash runtime", said), said[-3000:]
    assert "never fired" in said, said[-3000:]


def test_a_shutdown_aimed_at_the_snapstart_snapshot_leaves_the_restored_environments_running(tmp_path: Path) -> None:
    """A crash or `new_environment` aimed at the snapshot is refused (core/fault_rules.py SNAPSHOT_KEPT: "every
    restored environment (env #2 on) runs a copy of its processes, which would end with them, and Lambda never changes
    a snapshot once taken"), but `shutdown = true, env = 1` (the debugger's `s` on env #1 alike: FleetHost.remove) is
    not: env #1 leaves, env #2's runtime dies with its PID namespace unseen while frozen, and the next invoke, warm in
    env #2, fails `Runtime.ExitError: signal: killed`; a burst after it gets one 409 ResourceConflictException (no
    snapshot) and one re-initialised environment. Lambda never shuts a snapshot down while the version is invoked."""
    scenario = write_file(tmp_path / "snapshot_shutdown.toml", """\
[[step]]
invoke = {}
expect = { succeeded = true }

[[step]]
shutdown = true
env = 1

[[step]]
invoke = {}
expect = { succeeded = true }
""")
    said = _replay(scenario, "--snapstart")
    assert "Runtime.ExitError" not in said, said[-3000:]
    assert re.search(r"^PASSED ", said, re.M), said[-3000:]


def test_sigterm_during_a_burst_of_restores_takes_the_snapshot_down_last(code_dir: Path, state_home: Path) -> None:
    """Eight callers at once on `serve --snapstart`, SIGTERM as the first restore begins. FleetHost.shutdown (and
    request_shutdown) spins down `self._members`, then the snapshot; an environment is a member only once `_add` has
    started it, so those still being added are skipped: the snapshot goes first ("#1 [watcher] event SHUTDOWN"), their
    restore then finds it gone ("env #N was re-initialised, not restored: the snapshot's process is gone", Init run
    during the shutdown), some run their invoke after the SIGTERM, and they end by the run's kill: their extensions get
    no SHUTDOWN (a RemoteDisconnected traceback instead). README: the snapshot is shut down last; SIGTERM "shuts down
    as Lambda does: SHUTDOWN (spindown) to extensions within the budget". (The same skip happens without SnapStart, for
    environments still cold-starting.)"""
    lines, answers = _sigterm_during_a_burst(code_dir, 8, {}, r"^#\d+ \[platform\]\s+RESTORE_START", "--snapstart",
                                             ready=r"^#1 \[platform\]\s+INIT_REPORT")
    assert len(answers) == 8, answers
    reinitialised = [line for line in lines if "re-initialised, not restored" in line]
    assert not reinitialised, reinitialised
    _every_extension_shut_down(lines)


def test_sigterm_while_environments_cold_start_answers_every_caller_and_shuts_every_extension_down(
        code_dir: Path, state_home: Path) -> None:
    """The same without SnapStart: four callers at once, SIGTERM as the first Init begins. Environments still being
    started were skipped by the shutdown: their invokes ran after the SIGTERM, three callers of four got no HTTP answer
    at all, and their extensions no SHUTDOWN. Now each joins the fleet, its invoke is answered as a stopping fleet
    answers, and it goes with the rest."""
    lines, answers = _sigterm_during_a_burst(code_dir, 4, {"sleep": 0.3}, r"^#\d+ \[platform\]\s+INIT_START",
                                             "--concurrency", "4")
    assert len(answers) == 4 and all(status != "no answer" for status, _ in answers), answers
    _every_extension_shut_down(lines)


def _sigterm_during_a_burst(code_dir: Path, callers: int, event: dict, when: str, *options: str,
                            ready: str = "") -> tuple[list[str], list[tuple[object, object]]]:
    """`serve` with the watcher extension; `callers` invokes at once; SIGTERM at the first line matching `when`; every
    process gone after. Its lines, and each caller's answer."""
    handler = _snap_function(code_dir)
    answers: list[tuple[object, object]] = []
    served = ServeProcess(handler, *options)
    try:
        served.start()
        if ready:
            served.wait_for_line(ready, BOUND_S)
        threads = [threading.Thread(target=lambda: answers.append(_post(served.invoke_url(), event)))
                   for _ in range(callers)]
        for thread in threads:
            thread.start()
        served.wait_for_line(when, BOUND_S)
        pids = descendants(served.proc.pid)
        served.signal(signal.SIGTERM)
        assert served.wait(BOUND_S) == 0, served.output()[-3000:]
        for thread in threads:
            thread.join(BOUND_S)
        assert wait_all_gone(pids, 10) == {}
    finally:
        served.close()
    return list(served.lines), answers


def _at_once(served: ServeProcess, callers: int, event: dict) -> list[tuple[object, object]]:
    """`callers` invokes sent at once; each one's answer, once all are in."""
    answers: list[tuple[object, object]] = []
    threads = [threading.Thread(target=lambda: answers.append(_post(served.invoke_url(), event))) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BOUND_S)
    return answers


def _every_extension_shut_down(lines: list[str]) -> None:
    registered = _envs_with(lines, "watcher", "registered")
    shut_down = _envs_with(lines, "watcher", "event SHUTDOWN")
    assert registered <= shut_down, f"extensions registered in {sorted(registered)}, SHUTDOWN in {sorted(shut_down)}"


# ---------------------------------------------------------------------- checked and right (pinned)


def test_concurrent_restores_each_run_their_own_copy_and_every_extension_gets_shutdown_snapshot_last(
        code_dir: Path, state_home: Path) -> None:
    """Four callers at once on `serve --snapstart` with an external extension: four restored environments (each its
    own copy of the snapshot's runtime), every caller its own answer; then, all idle, the snapshot's runtime is frozen
    again and a SIGTERM gives every environment's extension its SHUTDOWN, the snapshot's last; nothing is left."""
    handler = _snap_function(code_dir)
    with ServeProcess(handler, "--snapstart") as served:
        served.wait_for_line(r"^#1 \[platform\]\s+INIT_REPORT", BOUND_S)
        answers = _at_once(served, 4, {"sleep": 0.3})
        assert sorted(status for status, _ in answers) == [200] * 4, answers
        assert len({body["pid"] for _, body in answers}) == 4, answers  # type: ignore[index]
        served.wait_for_lines(r"^#\d+ \[platform\]\s+RESTORE_REPORT", 4, BOUND_S)
        runtimes = [pid for pid in descendants(served.proc.pid) if "lambdatui/bootstrap" in proc_cmdline(pid)]
        assert len(runtimes) == 5, runtimes  # the snapshot's and four copies
        if cgroup_freezer():
            for runtime in runtimes:
                wait_frozen(runtime)
        pids = descendants(served.proc.pid)
        served.signal(signal.SIGTERM)
        assert served.wait(BOUND_S) == 0, served.output()[-3000:]
    lines = list(served.lines)
    shut = [int(m.group(1)) for m in map(re.compile(r"^#(\d+) \[watcher\]\s+event SHUTDOWN spindown").search, lines)
            if m]
    assert sorted(shut) == [1, 2, 3, 4, 5] and shut[-1] == 1, shut
    assert wait_all_gone(pids, 10) == {}
    assert _no_cgroups_left(served.proc.pid), _cgroups_of(served.proc.pid)


def test_sigkill_of_serve_with_a_frozen_snapshot_and_restored_environments_leaves_nothing(
        code_dir: Path, state_home: Path) -> None:
    """SIGKILL of `serve --snapstart` (no shutdown of its own) while the snapshot is frozen and two restored
    environments idle: every process it started ends (its watchdog's work, a frozen cgroup included) and no cgroup
    folder of the run is left."""
    handler = _snap_function(code_dir)
    with ServeProcess(handler, "--snapstart") as served:
        served.wait_for_line(r"^#1 \[platform\]\s+INIT_REPORT", BOUND_S)
        answers = _at_once(served, 2, {"sleep": 0.3})
        assert [status for status, _ in answers] == [200, 200], answers
        runtimes = [pid for pid in descendants(served.proc.pid) if "lambdatui/bootstrap" in proc_cmdline(pid)]
        if cgroup_freezer():
            for runtime in runtimes:
                wait_frozen(runtime)
        pids = descendants(served.proc.pid)
        assert len(pids) >= 6, pids
        served.signal(signal.SIGKILL)
        served.wait(BOUND_S)
        assert wait_all_gone(pids, 10) == {}
    assert _no_cgroups_left(served.proc.pid), _cgroups_of(served.proc.pid)


def _no_cgroups_left(pid: int, bound: float = 10.0) -> bool:
    """Until no cgroup folder of run `pid` is left (the watchdog removes them once the processes are gone)."""
    deadline = time.monotonic() + bound
    while _cgroups_of(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


KEPT_HANDLER = r'''
import http.client, os
API = os.environ["AWS_LAMBDA_METADATA_API"]
TOKEN = os.environ["AWS_LAMBDA_METADATA_TOKEN"]
RUNTIME_API = os.environ["AWS_LAMBDA_RUNTIME_API"]

def call(connection):
    connection.request("GET", "/2026-01-15/metadata/execution-environment", headers={"Authorization": "Bearer " + TOKEN})
    answer = connection.getresponse()
    return [answer.status, answer.read().decode()]

KEPT = [http.client.HTTPConnection(API, timeout=5) for _ in range(3)]
AT_INIT = [call(connection) for connection in KEPT]

def handler(event, context):
    return {"at_init": AT_INIT, "now": [call(connection) for connection in KEPT]}
'''


def test_several_connections_kept_from_init_each_reach_the_copys_own_endpoint(code_dir: Path,
                                                                              state_home: Path) -> None:
    """Three keep-alive connections opened at Init to the metadata endpoint: in each of two restored copies (two
    callers at once), every one of them is answered for the copy's own environment (use1-az2 / use1-az3), none for the
    snapshot's (use1-az1)."""
    handler = write_file(code_dir / "handler.py", KEPT_HANDLER)
    answers: list[tuple[object, object]] = []
    with ServeProcess(handler, "--snapstart") as served:
        served.wait_for_line(r"^#1 \[platform\]\s+INIT_REPORT", BOUND_S)
        callers = [threading.Thread(target=lambda: answers.append(_post(served.invoke_url(), {})))
                   for _ in range(2)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(BOUND_S)
    assert [status for status, _ in answers] == [200, 200], answers
    zones: list[str] = []
    for _, body in answers:
        assert all("use1-az1" in text for _, text in body["at_init"]), body  # type: ignore[index]
        now = body["now"]  # type: ignore[index]
        assert [status for status, _ in now] == [200, 200, 200], body
        seen = {json.loads(text)["AvailabilityZoneID"] for _, text in now}
        assert len(seen) == 1 and seen != {"use1-az1"}, body
        zones += seen
    assert sorted(zones) == ["use1-az2", "use1-az3"], answers

