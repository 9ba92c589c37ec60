"""Probe (round 4): `lambdatui serve` with env #1 started early (host/early_start.py), against the reference
(LAMBDATUI_EARLY_START=0): concurrent invokes fired the moment it says it serves, a crash and a timeout of env #1
and the invoke after each, the idle shutdown of env #1, a runtime that cannot start, and a port already in use.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_probe4_support import BOUND, MODES, Serve, post, run_folders, start, finish, write  # noqa: E402
from e2e_support import descendants, wait_all_gone, writable_cgroups  # noqa: E402
from probe_support import cgroups_of, wait_paths_gone  # noqa: E402

HANDLER = r'''
import os, time
PID = os.getpid()
COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    time.sleep(event.get("sleep", 0))
    if event.get("crash"):
        os._exit(5)
    existed = os.path.exists("/tmp/probe4-marker")
    with open("/tmp/probe4-marker", "a") as fh:
        fh.write("x")
    return {"count": COUNT, "tmp_existed": existed, "n": event.get("n"),
            "stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]}
'''


@pytest.fixture(autouse=True)
def _no_stale_run_folders():
    yield
    from probe_support import remove_stale_runs

    remove_stale_runs()


def both_serving(path: Path, *extra: str) -> dict[str, Serve]:
    servers = {mode: Serve(mode, str(path), "--port", "0", *extra) for mode in MODES}
    try:
        for server in servers.values():
            server.started()
    except BaseException:
        for server in servers.values():
            server.close()
        raise
    return servers


def test_concurrent_invokes_fired_at_once(code_dir: Path) -> None:
    path = write(code_dir / "handler.py", HANDLER)
    servers = both_serving(path)
    try:
        answers: dict[str, list] = {mode: [None] * 4 for mode in MODES}

        def fire(mode: str, i: int) -> None:
            answers[mode][i] = post(servers[mode].url(), {"sleep": 2, "n": i})

        threads = [threading.Thread(target=fire, args=(mode, i)) for mode in MODES for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(BOUND)
        for mode in MODES:
            statuses = [a[0] for a in answers[mode]]
            bodies = [json.loads(a[2]) for a in answers[mode]]
            assert statuses == [200] * 4, (mode, answers[mode], servers[mode].output())
            assert sorted(b["n"] for b in bodies) == [0, 1, 2, 3]
            assert all(b["count"] == 1 for b in bodies), (mode, bodies)  # four environments, one invoke each
            assert len({b["stream"] for b in bodies}) == 4, (mode, bodies)
            servers[mode].wait_for(r"REPORT", start=0)
        for mode in MODES:
            assert servers[mode].count(r"INIT_START") == 4, (mode, servers[mode].output())
    finally:
        for server in servers.values():
            server.close()


def _sequence(server: Serve, events: list[dict]) -> list[tuple[int, str, object]]:
    out = []
    for event in events:
        status, headers, body = post(server.url(), event)
        payload = json.loads(body)
        if isinstance(payload, dict):
            payload.pop("stream", None)
            payload.pop("errorMessage", None)
            payload.pop("requestId", None)
        out.append((status, headers.get("x-amz-function-error", ""), payload))
    return out


@pytest.mark.parametrize("case", ["crash", "timeout"])
def test_env1_fails_then_the_next_invoke(code_dir: Path, case: str) -> None:
    path = write(code_dir / "handler.py", HANDLER)
    failing = {"crash": True} if case == "crash" else {"sleep": 3}
    servers = both_serving(path, "--timeout", "1")
    try:
        results = {mode: _sequence(server, [{"n": 1}, failing, {"n": 2}, {"n": 3}])
                   for mode, server in servers.items()}
        outputs = {mode: server.output() for mode, server in servers.items()}
    finally:
        for server in servers.values():
            server.close()
    assert results["early"] == results["late"], (results, outputs["early"])
    early = results["early"]
    assert early[0][:2] == (200, "") and early[1][1] == "Unhandled", early
    assert early[2][2]["count"] == 1, early  # a new runtime after the failure
    count = {mode: len(re.findall(r"INIT_START", text)) for mode, text in outputs.items()}
    assert count["early"] == count["late"], (count, outputs["early"])


def test_idle_shutdown_of_env1_removes_its_cgroup_and_folder(code_dir: Path) -> None:
    path = write(code_dir / "handler.py", HANDLER)
    for mode in MODES:  # one after the other: env #1's idle time runs from its Init
        with Serve(mode, str(path), "--port", "0", "--idle-shutdown", "2") as server:
            server.started()
            assert post(server.url(), {"n": 1})[0] == 200
            member = [p / "member-1" for p in run_folders(server.proc.pid)]
            cgroups = cgroups_of(server.proc.pid)
            assert member and member[0].exists() and (cgroups or not writable_cgroups()), (mode, member, cgroups)
            server.wait_for(r"env #1 has been idle for 2 s", 15)
            # env #1's cgroup and folder go with it (env #2 has none yet: no invoke since)
            assert wait_paths_gone(cgroups, 10) == [], (mode, cgroups)
            assert wait_paths_gone(member, 10) == [], (mode, member)
            status, _, body = post(server.url(), {"n": 2})
            assert status == 200 and json.loads(body)["count"] == 1, (mode, body)
            assert server.count("INIT_START") == 2


def test_serve_runtime_that_cannot_start_inits_as_often(code_dir: Path) -> None:
    """A runtime without its exec bit: one failed Init at start (then the suppressed-init note), in both modes.
    No invoke is sent (one arriving during the start-up Init would join it): the server is stopped once the note is
    out, and the INIT_STARTs it wrote are counted."""
    bootstrap = write(code_dir / "runtime.sh", "#!/bin/sh\necho never\n", 0o644)
    path = write(code_dir / "handler.py", HANDLER)
    servers = both_serving(path, "--bootstrap", str(bootstrap))
    try:
        for server in servers.values():
            server.wait_for(r"The first invoke will retry Init")
            assert server.close(signal.SIGTERM) == 0, server.output()
        counts = {mode: server.count(r"INIT_START") for mode, server in servers.items()}
        outputs = {mode: server.output() for mode, server in servers.items()}
    finally:
        for server in servers.values():
            server.close()
    assert counts["early"] == counts["late"] == 1, (counts, outputs["early"])


@pytest.mark.parametrize("which", ["--port", "--url-port"])
def test_port_in_use_exits_2_with_one_line_and_leaves_nothing(code_dir: Path, which: str) -> None:
    path = write(code_dir / "handler.py", HANDLER)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = str(taken.getsockname()[1])
    try:
        args = ["--port", port] if which == "--port" else ["--port", "0", "--url-port", port]
        for mode in MODES:
            proc = start(mode, "serve", str(path), *args)
            run = finish(mode, proc)
            assert run.code == 2, (mode, run.stderr)
            assert run.stderr.splitlines() == [
                f"lambdatui: port {port} is already in use on 127.0.0.1: choose another with {which}"], (mode, run.stderr)
            assert cgroups_of(proc.pid) == [] and run_folders(proc.pid) == [], mode
    finally:
        taken.close()


def test_serve_sigterm_right_after_serving_leaves_nothing(code_dir: Path) -> None:
    path = write(code_dir / "handler.py", HANDLER)
    for mode in MODES:
        server = Serve(mode, str(path), "--port", "0")
        try:
            server.started()
            tree = descendants(server.proc.pid)
            cgroups = cgroups_of(server.proc.pid)
            folders = run_folders(server.proc.pid)
            code = server.close(signal.SIGTERM)
        finally:
            server.close()
        assert code == 0, (mode, code, server.output()[-2000:])
        assert wait_all_gone(tree, 10) == {}
        assert wait_paths_gone(cgroups + folders, 10) == []
