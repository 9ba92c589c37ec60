"""`--memory` on an environment restored from a SnapStart snapshot (found by a bug hunt).

In Lambda a restored environment is the snapshot's whole microVM: what Init allocated is in its memory, and counts
against its memory size as much as what the handler allocates afterwards (lambda-spec §4.8, §10.2; README: `--memory`
is "enforced on the runtime and extensions together: over it, the runtime is SIGKILLed and the invoke fails with
`Runtime.OutOfMemory`"). lambdatui's restored runtime is a fork of the snapshot's process, and the pages it shares
with the snapshot are charged to the snapshot's cgroup, not the copy's: a restored environment got its whole memory
size on top of what Init made. The copy's limit now leaves room for the snapshot's charge (MemoryLimit.inherit).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from e2e_support import reports, run_cli, write_file

# Init holds 100 MB (zero-filled: every page resident), the handler then asks for 100 MB more: 200 MB and an
# interpreter, in a function of 128 MB.
BIG_INIT = """
import time

BIG = bytearray(100 * 1024 * 1024)  # during Init: in the snapshot
held = []


def handler(event, context):
    held.append(bytearray(event["mb"] * 1024 * 1024))
    time.sleep(0.1)
    return {"held_mb": event["mb"] * len(held)}
"""


def test_on_demand_the_same_function_runs_out_of_memory(code_dir: Path) -> None:
    """The reference: without SnapStart, 100 MB of Init and 100 MB of invoke do not fit in 128 MB."""
    write_file(code_dir / "handler.py", BIG_INIT)
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", '{"mb": 100}', "--memory", "128")
    if "enforced by the kernel's OOM killer" not in done.stderr and "Memory: 128 MB" not in done.stderr:
        pytest.skip("no memory limit enforced here")
    assert json.loads(done.stdout)["errorType"] == "Runtime.OutOfMemory", done.stderr


def test_a_restored_environment_counts_the_snapshots_memory_against_its_memory_size(code_dir: Path) -> None:
    write_file(code_dir / "handler.py", BIG_INIT)
    done = run_cli("invoke", str(code_dir / "handler.py"), "-e", '{"mb": 100}', "--memory", "128", "--snapstart")
    if "Memory: 128 MB" not in done.stderr:
        pytest.skip("no memory limit enforced here")
    assert "RESTORE_REPORT" in done.stderr, done.stderr
    answer = json.loads(done.stdout)
    [report] = reports(done.stderr)
    # It answered {"held_mb": 100}, REPORT "Max Memory Used: 128 MB" and no Status: the restored copy held ~210 MB in a
    # 128 MB function, and lived.
    assert answer.get("errorType") == "Runtime.OutOfMemory", (answer, report)
    assert re.search(r"\tStatus: error\tError Type: Runtime\.OutOfMemory\t$", report), report
