"""REPORT's Max Memory Used counts the peak Init reached, read at Init's end (fact_publishing.py).

The first invoke's REPORT must count what the runtime held during Init (its VmHWM), whether the invoke returns,
crashes (os._exit) or times out, on every containment this host can run: cgroup or not, PID namespace or not.

Init maps 64 MB populated and unmaps it at once (~30 ms): only the runtime's high-water mark remembers it, a sampler
(the memory watcher that stands in for a cgroup) all but never sees it whole. The handler prints its own VmHWM:
REPORT must say at least that (lambdatui's own rule, environment_processes.py: "at least the runtime's own peak").

A helper session wrote these against ccdef57, which skipped that read after a good Init: four cases failed. Without a
PID namespace, a runtime that died in its first invoke left no peak in an exit status, and Init's was lost; and the
read also settles the OOM kills counted while the runtime lived, so that a child's OOM kill during Init was blamed on
a runtime that SIGKILLed itself in its first invoke (Runtime.OutOfMemory for Runtime.ExitError).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import CLI_TIMEOUT, REPO, platform_lines, write_file

HANDLER = """\
import mmap, os, time

def vm_hwm_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

held = mmap.mmap(-1, 64 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE)
held.close()

def handler(event, context):
    print("VMHWM_KB", vm_hwm_kb(), flush=True)
    if event.get("crash"):
        os._exit(3)
    if event.get("hang"):
        time.sleep(30)
    return "ok"
"""

# The CLI with the host's containment turned off piece by piece, as a host without them runs it.
CLI = """
import os, sys
from lambdatui.processes import cgroup, namespaces
if os.environ.get("PROBE41_NO_CGROUP"):
    cgroup.EnvironmentCgroup.create = classmethod(lambda cls, memory_mb=None, announce=None: None)
if os.environ.get("PROBE41_NO_NAMESPACE"):
    namespaces._probe_cache[os.geteuid()] = (None, "turned off by the test")
from lambdatui.entry import main
sys.exit(main())
"""

CONTAINMENTS = {
    "cgroup+namespace": {},
    "namespace-only": {"PROBE41_NO_CGROUP": "1"},
    "cgroup-only": {"PROBE41_NO_NAMESPACE": "1"},
    "neither": {"PROBE41_NO_CGROUP": "1", "PROBE41_NO_NAMESPACE": "1"},
}


def run(code_dir: Path, containment: str, event: dict, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **CONTAINMENTS[containment]}
    return subprocess.run([sys.executable, "-c", CLI, "invoke", str(code_dir / "handler.py"), "-e", json.dumps(event),
                           *extra], cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT)


def report_and_hwm(done: subprocess.CompletedProcess[str]) -> tuple[str, int, int]:
    report = next(line for line in platform_lines(done.stderr) if line.startswith("REPORT "))
    used = int(re.search(r"Max Memory Used: (\d+) MB", report).group(1))  # type: ignore[union-attr]
    hwm_kb = int(re.search(r"VMHWM_KB (\d+)", done.stderr).group(1))  # type: ignore[union-attr]
    return report, used, -(-hwm_kb // 1024)


@pytest.mark.parametrize("containment", list(CONTAINMENTS))
@pytest.mark.parametrize("outcome", ["returns", "crashes", "times-out"])
def test_first_reports_max_memory_counts_inits_peak(code_dir: Path, containment: str, outcome: str) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    event = {"returns": {}, "crashes": {"crash": True}, "times-out": {"hang": True}}[outcome]
    done = run(code_dir, containment, event, "--memory", "256", "--timeout", "1")
    report, used, hwm_mb = report_and_hwm(done)
    assert hwm_mb >= 64, done.stderr  # Init's mapping, in the runtime's own high-water mark
    if outcome == "returns":
        assert done.returncode == 0 and "Status" not in report, done.stderr
    elif outcome == "crashes":
        assert "Error Type: Runtime.ExitError" in report, done.stderr
    else:
        assert "Status: timeout" in report, done.stderr
    assert used >= hwm_mb, f"{containment}: REPORT says {used} MB, the runtime's own peak was {hwm_mb} MB\n{report}"


# Init starts a child that the OOM killer ends (the largest process under the limit); the runtime survives it, Init
# succeeds. Then the handler SIGKILLs its own runtime: lambdatui's rule (memory_limit.py settle_ooms) is that an OOM
# kill counted while the runtime was seen alive afterwards is not the runtime's, so this is Runtime.ExitError, as
# Lambda says it (not Runtime.OutOfMemory). The runtime is seen alive at Init's end (the peak's read settles them).
OOM_IN_INIT_HANDLER = """\
import os, signal, subprocess, sys
child = subprocess.run([sys.executable, "-c", "b = bytearray(300 << 20)"])
print("INIT_CHILD_RETURNCODE", child.returncode, flush=True)

def handler(event, context):
    if event.get("kill"):
        os.kill(os.getpid(), signal.SIGKILL)
    return "ok"
"""


@pytest.mark.parametrize("containment", ["cgroup+namespace", "cgroup-only"])
@pytest.mark.parametrize("killed_in", ["first-invoke", "second-invoke"])
def test_a_self_kill_after_an_inits_child_was_oom_killed_is_an_exit_error(code_dir: Path, containment: str,
                                                                         killed_in: str) -> None:
    write_file(code_dir / "handler.py", OOM_IN_INIT_HANDLER)
    env = {**os.environ, **CONTAINMENTS[containment]}
    argv = [sys.executable, "-c", CLI, "invoke", str(code_dir / "handler.py"), "--memory", "128"]
    if killed_in == "first-invoke":
        done = subprocess.run([*argv, "-e", json.dumps({"kill": True})], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=CLI_TIMEOUT)
    else:
        # The same event twice on one environment: the first call kills only if a marker file exists in /tmp.
        write_file(code_dir / "handler.py", OOM_IN_INIT_HANDLER.replace(
            '    if event.get("kill"):',
            '    marker = __import__("tempfile").gettempdir() + "/probe41-seen"\n    if os.path.exists(marker):'
        ).replace('    return "ok"', '    open(marker, "w").close()\n    return "ok"'))
        done = subprocess.run([*argv, "--repeat", "2"], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=CLI_TIMEOUT)
    if "enforced by the kernel's OOM killer" not in done.stderr:
        pytest.skip("no memory cgroup here: lambdatui's watcher kills only the runtime")
    if "INIT_CHILD_RETURNCODE -9" not in done.stderr:
        pytest.skip("the OOM killer did not end Init's child here")
    bodies = [json.loads(line) for line in done.stdout.splitlines()]
    assert bodies[-1].get("errorType") == "Runtime.ExitError", (bodies, done.stderr)
    report = [line for line in platform_lines(done.stderr) if line.startswith("REPORT ")][-1]
    assert "Error Type: Runtime.ExitError" in report, report
