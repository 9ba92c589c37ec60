"""A serverless developer's projects through the real CLI: extensions that cannot be launched, a Python package named
`extensions`, native libraries shipped with the code, and an --env-file whose blocks name other functions.
Everything lives in `code_dir` (never under /tmp)."""

from __future__ import annotations

import ctypes.util
import json
import shutil
from pathlib import Path

import pytest

from e2e_support import platform_lines, run_cli, write_file

HANDLER = "def handler(event, context):\n    return 'ok'\n"
TEMPLATE = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: python3.12
"""


def test_two_extensions_that_cannot_be_launched_still_answer_the_invoke(code_dir: Path) -> None:
    # The second extension's launch fails while the reset the first one's failure began waits for it: the reset
    # (and so the invoke, and the whole command) never ended, and SIGINT did not stop it either.
    handler = write_file(code_dir / "handler.py", HANDLER)
    write_file(code_dir / "ext" / "first", "not a program\n")  # not executable
    write_file(code_dir / "ext" / "second", "not a program either\n")
    done = run_cli("invoke", str(handler), "--extensions", str(code_dir / "ext"), timeout=30)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["errorType"] == "Extension.LaunchError"
    assert any(line.startswith("REPORT") and "Extension.LaunchError" in line for line in platform_lines(done.stderr))


def test_a_python_package_named_extensions_is_imported_not_launched(code_dir: Path) -> None:
    # Lambda launches /opt/extensions only; /var/task/extensions is the function's own code.
    write_file(code_dir / "template.yaml", TEMPLATE)
    write_file(code_dir / "src" / "app.py", "from extensions.db import DB\n\n\ndef handler(event, context):\n"
                                            "    return {'db': DB}\n")
    write_file(code_dir / "src" / "extensions" / "__init__.py", "")
    write_file(code_dir / "src" / "extensions" / "db.py", "DB = 'sqlite'\n")
    done = run_cli("invoke", str(code_dir / "template.yaml"), timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"db": "sqlite"}


def test_a_namespace_package_named_extensions_is_imported_not_launched(code_dir: Path) -> None:
    # The same without __init__.py (a namespace package, Python 3's default): its modules are the function's code.
    handler = write_file(code_dir / "app.py", "from extensions import db\n\n\ndef handler(event, context):\n"
                                              "    return {'db': db.DB}\n")
    write_file(code_dir / "extensions" / "db.py", "DB = 'sqlite'\n")
    done = run_cli("invoke", str(handler), timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"db": "sqlite"}
    assert f"[lambdatui]  {code_dir / 'extensions'} holds Python modules only, none executable: taken for the " \
           "function's own code" in done.stderr, done.stderr


def test_a_native_library_in_the_code_folder_loads_by_name(code_dir: Path) -> None:
    # Lambda's LD_LIBRARY_PATH holds /var/task and /var/task/lib before /opt/lib (lambda-spec §5).
    found = ctypes.util.find_library("z")
    system = next((Path(d) / found for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64",
                                              "/usr/lib64", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu")
                   if found and (Path(d) / found).exists()), None)
    if system is None:
        pytest.skip("no libz on this machine to ship as the function's own library")
    write_file(code_dir / "template.yaml", TEMPLATE)
    (code_dir / "src" / "lib").mkdir(parents=True)
    shutil.copyfile(system, code_dir / "src" / "lib" / "libshipped.so")
    write_file(code_dir / "src" / "app.py", "import ctypes, os\n\n\ndef handler(event, context):\n"
                                            "    ctypes.CDLL('libshipped.so')\n"
                                            "    return os.environ['LD_LIBRARY_PATH'].split(':')[-3:]\n")
    done = run_cli("invoke", str(code_dir / "template.yaml"), timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    task_root = "/var/task" if "/var/task and /opt are not laid out" not in done.stderr else str(code_dir / "src")
    assert json.loads(done.stdout)[:2] == [task_root, f"{task_root}/lib"]


def test_an_env_file_with_blocks_for_other_functions_says_so(code_dir: Path) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", HANDLER)
    env_file = write_file(code_dir / "env.json", json.dumps({"OtherFunction": {"TABLE": "t"}}))
    done = run_cli("invoke", str(handler), "--env-file", str(env_file), timeout=30)
    assert done.returncode == 2
    assert "values must be strings" not in done.stderr
    assert "OtherFunction" in done.stderr, done.stderr
