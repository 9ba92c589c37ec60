"""Lambda's limit on open files (lambda-spec §4.11: 1,024 descriptors) for each process the environment runs, set
between fork and exec whichever way it is started: by the sandbox init in its PID namespace, or by the host itself
(where no namespace can be made). lambdatui's own limit stays as it was: it serves every environment."""

from __future__ import annotations

import resource
import sys
from pathlib import Path
from typing import Iterator

import pytest
import trio
from proc_helpers import python, running

from lambdatui.processes import Sandbox

LAMBDA_FILE_LIMIT = 1024
PRINT_LIMIT = "import resource; print(*resource.getrlimit(resource.RLIMIT_NOFILE))"


@pytest.fixture(params=["by the sandbox init", "by the host"])
def sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> Sandbox:
    env_tmp = tmp_path / "env-tmp"
    env_tmp.mkdir()
    if request.param == "by the host":
        return Sandbox.tmpdir_only(env_tmp, "tests use a plain TMPDIR")
    made = Sandbox.create(env_tmp, [sys.executable, "/bin/sh"])
    if made.init_plan() is None:
        pytest.skip(f"no mount namespace on this host, so no sandbox init: {made.note}")
    return made


@pytest.fixture
def host_limit() -> Iterator[None]:
    """This process's limit is set by the test (the supervisor's children inherit it) and restored after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 2 * LAMBDA_FILE_LIMIT:
        pytest.skip(f"RLIMIT_NOFILE's hard limit is {hard}: not above Lambda's with room to spare")
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def limit_of_a_child(sandbox: Sandbox) -> str:
    async with running(sandbox) as (supervisor, recorder):
        handle = supervisor.spawn(python(PRINT_LIMIT))
        with trio.fail_after(10):
            assert (await recorder.wait_exit(handle)).code == 0, recorder.events
        [line] = recorder.lines("runtime", "stdout")
        return line


@pytest.mark.trio
async def test_a_child_gets_lambdas_1024_descriptors_and_the_host_keeps_its_own(sandbox: Sandbox,
                                                                                host_limit: None) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (2 * LAMBDA_FILE_LIMIT, hard))

    assert await limit_of_a_child(sandbox) == f"{LAMBDA_FILE_LIMIT} {LAMBDA_FILE_LIMIT}"
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (2 * LAMBDA_FILE_LIMIT, hard)


@pytest.mark.trio
async def test_a_host_limit_below_lambdas_is_kept(sandbox: Sandbox, host_limit: None) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (LAMBDA_FILE_LIMIT - 24, hard))

    assert await limit_of_a_child(sandbox) == f"{LAMBDA_FILE_LIMIT - 24} {LAMBDA_FILE_LIMIT}"
