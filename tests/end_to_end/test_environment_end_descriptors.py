"""An environment that ends leaves none of lambdatui's descriptors open: a long-running `serve` ends environments
all along (idle shutdowns, the fleet scaling down), and the host must not run out of descriptors over the days.

The end of a life's init (`SandboxInit.aclose`) runs in the host's nursery; where the environment itself was ending,
that task was cancelled at its last checkpoint, before it closed the pidfds of the init, its pid 1 and the runtime
and the init's stderr pipe: three pidfds and a pipe for every environment that ended.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
import trio

from lambdatui.config import resolve_function
from lambdatui.runner import open_environment

from e2e_support import write_file

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
BOUND_S = 60


def descriptors() -> Counter[str]:
    """This process's open descriptors by kind (a pidfd, a pipe, a socket, a file's folder)."""
    kinds: Counter[str] = Counter()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the listing's own, closed meanwhile
        kinds[target if target.startswith("anon_inode") else target.split(":")[0].rsplit("/", 1)[0]] += 1
    return kinds


@pytest.mark.trio
async def test_environments_that_end_leave_no_descriptor_open(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)

    async def one_environment() -> None:
        async with open_environment(resolve_function(str(handler))) as running:
            result, _ = await running.host.invoke(b"{}")
            assert not result.function_error, result.payload

    with trio.fail_after(BOUND_S):
        await one_environment()  # what lambdatui keeps for the process's whole life is made by now
        before = descriptors()
        for _ in range(3):
            await one_environment()
    left = descriptors() - before
    assert not left, f"descriptors left open by three environments that ended: {dict(left)}"
