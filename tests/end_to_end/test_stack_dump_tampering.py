"""A function that replaces the file its stacks are dumped to never stops the host (the host must survive its code).

The runtime's stack dump lives in lambdatui's run folder, which stays writable inside the sandbox, and its path is
in the environment the runtime was started with (`LAMBDATUI_STACK_FILE`: gone from `os.environ` before the function's
code runs, but readable in /proc/self/environ by any code of the process). At a timeout the host read that path whole: a FIFO put
there blocked the host's event loop in open() for good (the timeout's result printed, then nothing, SIGTERM
ignored), and a link to /dev/zero or a huge sparse file would have been read into the host's memory.
"""

from __future__ import annotations

import json

import pytest

from e2e_support import platform_lines, run_cli, write_file

# The handler puts something else where its stacks will be dumped, then sleeps past its 1 s timeout.
HANDLER = """import os, time


def started_with(name):
    with open("/proc/self/environ", "rb") as environ:
        return dict(item.decode().split("=", 1) for item in environ.read().split(b"\\0") if b"=" in item)[name]


def handler(event, context):
    path = started_with("LAMBDATUI_STACK_FILE")
    os.unlink(path)
    if event["as"] == "fifo":
        os.mkfifo(path)
    elif event["as"] == "zero":
        os.symlink("/dev/zero", path)
    else:  # sparse: 64 GiB of nothing on disk
        with open(path, "w") as dump:
            dump.truncate(64 << 30)
    time.sleep(30)
"""


@pytest.mark.parametrize("replacement", ["fifo", "zero", "sparse"])
def test_a_stack_file_replaced_by_the_function_still_ends_the_timeout(code_dir, replacement: str) -> None:
    write_file(code_dir / "handler.py", HANDLER)
    # Bounded well below the handler's sleep: a host stuck on the dump never answers in time.
    result = run_cli("invoke", str(code_dir / "handler.py"), "-e", json.dumps({"as": replacement}),
                     "--timeout", "1", timeout=25)

    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["errorType"] == "Sandbox.Timedout"
    assert any(line.startswith("REPORT ") and "Status: timeout" in line for line in platform_lines(result.stderr))
