"""A review of this round's changes to the process, bootstrap and model layers, against the real system.

- The sandbox init and its pid 1 ask for their children's exits only (SA_NOCLDSTOP): a runtime killed while it is
  stopped (the freeze fault, then the timeout) is still heard at once, and the environment reset.
- A refused bootstrap is described by its first bytes (ELF machine, PT_INTERP): an ELF file with no program header
  table (a relocatable object, `gcc -c` without the link) must be described, not crash lambdatui.
- The globals report's bounded repr no longer sorts a copy of a dict: a dict subclass (defaultdict, Counter,
  OrderedDict: the usual caches) is still repr'd whole, in the function's memory.
- A printed line is one record up to 256 KB: a longer one is cut at a character boundary, nothing lost; `with
  sys.stderr` leaves stderr open.
"""

from __future__ import annotations

import json
import platform
import re
import struct
from pathlib import Path

import pytest

from e2e_support import max_memory_used, platform_lines, reports, run_cli, source_lines, write_file

BOUND = 30

# e_machine (elf.h) of the machine this runs on.
_MACHINES = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183}


# ------------------------------------------------------------------------------- a refused bootstrap's first bytes

def relocatable_object(machine: int) -> bytes:
    """A 64-bit little-endian ELF relocatable object (ET_REL, what `gcc -c main.c -o bootstrap` writes): no program
    header table, so e_phoff, e_phentsize and e_phnum are all 0. The kernel refuses it (ENOEXEC)."""
    return struct.pack("<4s5B7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7,
                       1, machine, 1, 0, 0, 0, 0, 64, 0, 0, 64, 0, 0)


def test_a_relocatable_object_as_bootstrap_fails_init_naming_it(code_dir: Path) -> None:
    """A custom runtime's author who compiled without linking (`gcc -c`) has an ELF file the kernel refuses. Lambda
    fails Init with Runtime.InvalidEntrypoint; lambdatui must do the same and name the file, as it does for any other
    bootstrap it cannot start, not end with a traceback."""
    here = _MACHINES.get(platform.machine())
    if here is None:
        pytest.skip(f"no ELF machine number known here for {platform.machine()}")
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_bytes(relocatable_object(here))
    bootstrap.chmod(0o755)

    done = run_cli("invoke", str(bootstrap), "--timeout", "3", timeout=BOUND)

    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 1, done.stderr[-3000:]
    assert json.loads(done.stdout)["errorType"] == "Runtime.InvalidEntrypoint", done.stdout
    assert any(str(bootstrap) in line for line in done.stderr.splitlines() if "could not be started" in line)


@pytest.mark.parametrize("case", ["big-endian 32-bit", "truncated"])
def test_an_elf_the_reader_cannot_follow_is_still_described(code_dir: Path, case: str) -> None:
    """The first bytes are read with the ELF's own class and byte order; a file too short to hold a header says
    what errno says. Either way Init fails naming the file."""
    if platform.machine() not in _MACHINES:
        pytest.skip(f"no ELF machine number known here for {platform.machine()}")
    if case == "big-endian 32-bit":  # a MIPS (8) executable, as an old router's toolchain builds
        data = struct.pack(">4s5B7sHHIIIIIHHHHHH", b"\x7fELF", 1, 2, 1, 0, 0, b"\0" * 7,
                           2, 8, 1, 0x400000, 52, 0, 0, 52, 32, 0, 0, 0, 0) + b"\0" * 12
        wanted = "ELF machine 8"
    else:
        data = b"\x7fELF\x02\x01\x01" + b"\0" * 13
        wanted = "neither a binary nor a script"
    bootstrap = code_dir / "bootstrap"
    bootstrap.write_bytes(data)
    bootstrap.chmod(0o755)

    done = run_cli("invoke", str(bootstrap), "--timeout", "3", timeout=BOUND)

    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert json.loads(done.stdout)["errorType"] == "Runtime.InvalidEntrypoint", done.stdout
    [line, *_] = [line for line in done.stderr.splitlines() if "could not be started" in line] or [done.stderr]
    assert str(bootstrap) in line and wanted in line, line


# ------------------------------------------------------------------------ exits heard while stopped (SA_NOCLDSTOP)

FROZEN_HANDLER = '''import os
import subprocess
import time


def handler(event, context):
    subprocess.run(["true"], check=True)  # a child of the runtime's, waited for: its exit is heard
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid()}
'''

FREEZE_THEN_TIMEOUT = """[[step]]
invoke = {}
expect = { cold = true, succeeded = true }

[[step]]
fault = "freeze"
target = "runtime"
at = "invoke.start"
after_ms = 100

[[step]]
invoke = { sleep = 0.5 }
expect = { error_type = "Sandbox.Timedout" }

[[step]]
invoke = {}
expect = { cold = true, succeeded = true }
"""


def test_a_runtime_frozen_mid_invoke_is_killed_at_the_timeout_and_the_next_invoke_starts_cold(code_dir: Path) -> None:
    """The init hears exits only now, not stops and continues: a runtime stopped by the freeze fault and then killed
    at the timeout must still be reaped and the environment reset, so the next invoke starts cold and succeeds."""
    handler = write_file(code_dir / "handler.py", FROZEN_HANDLER)
    scenario = write_file(code_dir / "frozen.toml", FREEZE_THEN_TIMEOUT)

    done = run_cli("replay", str(handler), str(scenario), "--timeout", "1", timeout=BOUND)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"exited\s+runtime: signal: killed", done.stdout), done.stdout
    assert "reset" in done.stdout, done.stdout


# ---------------------------------------------------------------- the globals report's repr of a dict's subclasses

# A cache of 250,000 entries sharing one 400-character value: ~35 MB held, a ~100 MB repr.
BIG_DEFAULTDICT = '''import collections

TEMPLATE = "x" * 400
CACHE = collections.defaultdict(str)
for i in range(250_000):
    CACHE[i] = TEMPLATE


def handler(event, context):
    return {"n": len(CACHE)}
'''

ONE_INVOKE = """[[step]]
invoke = {}
expect = { succeeded = true }
"""


def test_a_defaultdict_cache_costs_the_function_no_memory_in_the_globals_report(code_dir: Path) -> None:
    """3b9e143 made the report's repr of a dict take its first items without a sorted copy, so that watching a
    function under the debugger or replay costs it no memory. A cache is as often a defaultdict or a Counter:
    reprlib dispatches by type name, finds no repr_defaultdict and calls the type's own repr, which builds the whole
    text (here ~100 MB of characters) in C before the 50 ms alarm can stop it. Under `invoke` the same function
    uses about as much memory as under replay, give or take the few MB the earlier fix allowed."""
    handler = write_file(code_dir / "handler.py", BIG_DEFAULTDICT)
    scenario = write_file(code_dir / "one.toml", ONE_INVOKE)
    invoked = run_cli("invoke", str(handler), "--memory", "128", timeout=BOUND)
    assert invoked.returncode == 0, invoked.stderr[-2000:]
    invoked_mb = max_memory_used(reports(invoked.stderr)[0])

    replayed = run_cli("replay", str(handler), str(scenario), "--memory", "128", timeout=BOUND)

    assert replayed.returncode == 0 and "Runtime.OutOfMemory" not in replayed.stdout, replayed.stdout[-3000:]
    replayed_mb = int(re.search(r"Max Memory Used: (\d+) MB", replayed.stdout).group(1))
    assert replayed_mb <= invoked_mb + 10, (invoked_mb, replayed_mb)


# ------------------------------------------------------------------------------ a line past 256 KB, `with stderr`

LONG_LINE_HANDLER = '''import sys


def handler(event, context):
    print("a" + "\\u00e9" * 150000)  # 300,001 bytes: the 256 KB cut falls inside a two-byte character
    with sys.stderr as err:
        err.write("written in the with\\n")
    print("stdout after the with")
    sys.stderr.write("stderr after the with\\n")
    return "ok"
'''


def test_a_300_kb_line_is_cut_at_a_character_and_stderr_outlives_a_with(code_dir: Path) -> None:
    """A line longer than a log event's 256 KB is cut where it fits, at a character boundary: no replacement mark
    on either side, nothing lost. `with sys.stderr as err:` leaves stderr open, as awslambdaric's proxy does."""
    handler = write_file(code_dir / "handler.py", LONG_LINE_HANDLER)

    done = run_cli("invoke", str(handler), timeout=BOUND)

    assert done.returncode == 0 and json.loads(done.stdout) == "ok", done.stderr[-2000:]
    lines = source_lines(done.stderr, "function")
    long_parts = [line for line in lines if line.startswith(("a\u00e9", "\u00e9"))]
    assert len(long_parts) == 2, [len(line) for line in lines]
    assert all("\ufffd" not in part and len(part.encode()) <= 256 * 1024 for part in long_parts)
    assert "".join(long_parts) == "a" + "\u00e9" * 150000
    assert {"written in the with", "stdout after the with", "stderr after the with"} <= set(lines), lines
    assert any(line.startswith("REPORT ") for line in platform_lines(done.stderr))
