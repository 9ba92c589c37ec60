"""File descriptors on both sides of the sandbox.

The host: `serve` holds one descriptor for each client of the Invoke API, and every environment's pipes and
channels are numbered after them. The sandbox init waited on its channel with select(), which cannot watch a
descriptor numbered 1,024 or more: once the host held ~1,024, every cold start failed (Runtime.InvalidEntrypoint,
"no answer from the sandbox init"), and so did the next start in the same environment (its dead init was reused).

The function: Lambda gives each of its processes 1,024 descriptors (lambda-spec §4.11), not the host's limit.

Real `lambdatui serve` and `lambdatui invoke`, real runtimes.
"""

from __future__ import annotations

import json
import os
import resource
import socket
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from e2e_support import ServeProcess, run_cli, write_file
from test_fleet_support import READY, InFlight, wait_for_count, write_function

SELECT_LIMIT = 1024  # FD_SETSIZE: select() refuses any descriptor numbered this or more
CLIENTS = 1100  # idle connections to the Invoke API: the host holds one descriptor for each
LAMBDA_FILE_LIMIT = 1024

LIMIT_PROBE = '''import resource


def handler(event, context):
    return list(resource.getrlimit(resource.RLIMIT_NOFILE))
'''


@pytest.fixture
def room_for_clients() -> Iterator[None]:
    """This process (and the served one, which inherits it) may open a few thousand descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * CLIENTS + 500
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"RLIMIT_NOFILE's hard limit is {hard}: {wanted} descriptors are needed")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_cold_starts_succeed_while_the_host_holds_more_than_1024_descriptors(
        code_dir: Path, room_for_clients: None) -> None:
    handler = write_function(code_dir)
    release = code_dir / "release"
    clients: list[socket.socket] = []
    with ServeProcess(handler, "--timeout", "30") as served:
        try:
            host, port = served.address.rsplit(":", 1)
            clients += [socket.create_connection((host, int(port)), timeout=30) for _ in range(CLIENTS)]
            # Answered once the host has accepted it, and so every connection queued before it.
            assert httpx.get(served.invoke_url(), timeout=30).status_code >= 400
            assert open_descriptors(served.proc.pid) > CLIENTS

            # Three at once: environment #1 (started ahead) and two cold starts, each held until all have begun.
            calls = [InFlight(served, {"tag": f"fd-{i}", "release": str(release)}) for i in range(3)]
            wait_for_count(served, READY, 3)
            assert open_descriptors(served.proc.pid) > SELECT_LIMIT  # as it was while they started
            release.touch()
            answers = [call.response() for call in calls]
        finally:
            for client in clients:
                client.close()

        assert [r.status_code for r in answers] == [200] * 3, [r.text for r in answers]
        assert not any(r.headers.get("x-amz-function-error") for r in answers), [r.text for r in answers]
        assert len({r.json()["token"] for r in answers}) == 3, [r.text for r in answers]  # three environments
        assert "could not be started" not in served.output(), served.output()


def test_the_function_gets_lambdas_file_limit_not_the_hosts(code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", LIMIT_PROBE)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # lambdatui's, which it inherits from this process
    expected = [LAMBDA_FILE_LIMIT if limit == resource.RLIM_INFINITY else min(limit, LAMBDA_FILE_LIMIT)
                for limit in (soft, hard)]

    result = run_cli("invoke", str(handler))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected, result.stderr
    assert "Open files: 1,024 descriptors for each process" in result.stderr
