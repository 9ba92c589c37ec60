"""The one mapping between the paths the function's processes see (/var/task, /opt) and the host's files."""

from __future__ import annotations

from lambdatui.model.paths import OPT, TASK_ROOT, SandboxPaths, host_path, sandbox_path
from lambdatui.model.stacks import hung_frame, parse_faulthandler

CODE = "/home/me/project/fn"
FIRST, SECOND = "/home/me/layers/first", "/state/run-1/layers/2-second"
PATHS = SandboxPaths(CODE, TASK_ROOT, (FIRST, SECOND), OPT)
# Which layer files exist, as the host's file system would say.
EXISTING = {f"{FIRST}/python/shared.py", f"{SECOND}/python/shared.py", f"{FIRST}/python/only_first.py"}


def mapped(path: str) -> str:
    return host_path(path, PATHS, exists=EXISTING.__contains__)


def test_var_task_is_the_users_code_folder() -> None:
    assert mapped("/var/task/handler.py") == f"{CODE}/handler.py"
    assert mapped("/var/task/pkg/../handler.py") == f"{CODE}/handler.py"
    assert mapped("/var/task") == CODE
    assert mapped("/var/taskforce/x.py") == "/var/taskforce/x.py"


def test_opt_is_the_last_layer_that_provides_the_file() -> None:
    assert mapped("/opt/python/shared.py") == f"{SECOND}/python/shared.py"
    assert mapped("/opt/python/only_first.py") == f"{FIRST}/python/only_first.py"
    assert mapped("/opt/python/nowhere.py") == "/opt/python/nowhere.py"


def test_other_paths_and_non_paths_are_left_alone() -> None:
    for path in ("/usr/lib/python3.11/threading.py", "<frozen importlib._bootstrap>", "???", ""):
        assert mapped(path) == path


def test_without_the_layout_the_paths_are_the_hosts_already() -> None:
    native = SandboxPaths(CODE, CODE, (FIRST,), FIRST)
    assert host_path(f"{CODE}/handler.py", native) == f"{CODE}/handler.py"
    assert host_path("/var/task/handler.py", native) == "/var/task/handler.py"
    assert sandbox_path(f"{FIRST}/extensions/ext", native) == f"{FIRST}/extensions/ext"


def test_sandbox_path_names_layer_files_under_opt_and_code_under_var_task() -> None:
    assert sandbox_path(f"{SECOND}/extensions/ext", PATHS) == "/opt/extensions/ext"
    assert sandbox_path(f"{CODE}/extensions/local", PATHS) == "/var/task/extensions/local"
    assert sandbox_path(f"{CODE}/bootstrap", PATHS) == "/var/task/bootstrap"
    assert sandbox_path("/usr/bin/python3", PATHS) == "/usr/bin/python3"


def test_a_dump_under_var_task_names_the_users_file_and_where_it_hung() -> None:
    dump = ("Current thread 0x00007f8166c17b80 (most recent call first):\n"
            '  File "/opt/python/shared.py", line 3 in slow_call\n'
            '  File "/var/task/handler.py", line 12 in handler\n'
            '  File "/site/lambdatui/bootstrap/loop.py", line 100 in handle_invocation\n')
    stacks = parse_faulthandler(dump, "req-1", PATHS)
    files = [frame.file for frame in stacks.threads[0].frames]
    assert files[:2] == [host_path("/opt/python/shared.py", PATHS), f"{CODE}/handler.py"]
    assert stacks.text == dump  # as the process wrote it
    frame = hung_frame(stacks, CODE)
    assert frame is not None and (frame.file, frame.line) == (f"{CODE}/handler.py", 12)
