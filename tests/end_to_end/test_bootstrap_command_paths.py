"""A `--bootstrap` command's words are paths of the host's only where they name one: its program as exec finds it
on PATH, and its absolute arguments. Taken for paths relative to lambdatui's working folder, a bare `python3` run
from /tmp was `/tmp/python3`, which no namespace can keep: the environment lost its private /tmp (the function saw
and wrote the host's), and the note blamed the OS. From a project under /tmp, a flag made that folder seen in the
environment's /tmp, "needed" for `-u`. And a script in a folder of /tmp named after the second word was hidden."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from e2e_support import CLI_TIMEOUT, REPO, lambdatui_argv, write_file
from sandbox_support import expected_sandbox, without_host_folders

# A custom runtime, the standard library only: answers each invoke with what it sees in /tmp.
RUNTIME = '''import json, os, urllib.request as request

api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with request.urlopen(api + "next") as answer:
        request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
    body = json.dumps(sorted(os.listdir("/tmp"))).encode()
    request.urlopen(request.Request(api + request_id + "/response", data=body, method="POST")).close()
'''

NOT_ISOLATED = "/tmp is not isolated"
SEEN_IN_IT = "/tmp is the environment's own, but the host's "


def invoke_from(cwd: str, code_dir: Path, script: Path) -> subprocess.CompletedProcess[str]:
    python = Path(sys.executable).name  # a bare name, found on PATH, as a user types it
    env_path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    return subprocess.run([*lambdatui_argv(), "invoke", str(code_dir), "--bootstrap", f"{python} -u {script}"],
                          cwd=cwd, env={**os.environ, "PATH": env_path}, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)


@pytest.fixture
def folder_in_tmp() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="lambdatui-test-project-", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def skip_without_private_tmp(code_dir: Path) -> None:
    if expected_sandbox(code_dir).mode != "mount-namespace":
        pytest.skip("no private /tmp here")


def test_a_bare_program_name_run_from_tmp_keeps_the_private_tmp(code_dir: Path) -> None:
    skip_without_private_tmp(code_dir)
    script = write_file(code_dir / "runtime.py", RUNTIME)
    result = invoke_from("/tmp", code_dir, script)
    assert result.returncode == 0, result.stderr
    assert without_host_folders(json.loads(result.stdout)) == [], "the function saw the host's /tmp"
    assert NOT_ISOLATED not in result.stderr and "/tmp/python" not in result.stderr, result.stderr


def test_a_flag_run_from_a_project_under_tmp_keeps_nothing_of_it(code_dir: Path, folder_in_tmp: Path) -> None:
    skip_without_private_tmp(code_dir)
    script = write_file(code_dir / "runtime.py", RUNTIME)
    result = invoke_from(str(folder_in_tmp), code_dir, script)
    assert result.returncode == 0, result.stderr
    assert without_host_folders(json.loads(result.stdout)) == [], result.stdout
    assert str(folder_in_tmp) not in result.stderr, result.stderr


def test_a_script_named_after_the_flags_in_a_folder_of_tmp_is_kept(code_dir: Path, folder_in_tmp: Path) -> None:
    skip_without_private_tmp(code_dir)
    script = write_file(folder_in_tmp / "runtime.py", RUNTIME)
    result = invoke_from(str(REPO), code_dir, script)
    assert result.returncode == 0, result.stderr
    assert without_host_folders(json.loads(result.stdout)) == [folder_in_tmp.name], result.stdout
    (note,) = [line for line in result.stderr.splitlines() if SEEN_IN_IT in line]
    seen = note.split(" seen in it too ")[0]  # the folders kept (a clone under /tmp adds its own)
    needs = note.split(": the processes need ")[1]  # and what each is kept for
    assert str(folder_in_tmp) in seen and str(script) in needs, note
