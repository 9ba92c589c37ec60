"""The runtime's command line and environment where the code is at /var/task and the layers at /opt (issue 11)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from lambdatui.config import FunctionConfig
from lambdatui.host.launch import (extension_environment, function_files, launch_failure, runtime_argv,
                                   runtime_environment)
from lambdatui.model.paths import OPT, TASK_ROOT, SandboxPaths
from lambdatui.processes.spawning import LaunchError
from lambdatui.runtime_choice import RuntimeCommand

OURS = RuntimeCommand(("/usr/bin/python3.12", "/site/lambdatui/bootstrap"), ours=True, description="python:3")
CUSTOM = RuntimeCommand(("/home/me/fn/bootstrap",), ours=False, description="provided:al2023")
LAID_OUT = SandboxPaths("/home/me/fn", TASK_ROOT, ("/home/me/layer",), OPT)
HOST = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": "/usr/local/lib"}


def config(runtime: RuntimeCommand = OURS, **env: str) -> FunctionConfig:
    return FunctionConfig(name="fn", code_dir=Path("/home/me/fn"), handler="handler.handler", runtime=runtime,
                          env=env)


def environment(cfg: FunctionConfig, paths: SandboxPaths = LAID_OUT) -> dict[str, str]:
    return runtime_environment(cfg, "127.0.0.1:9001", "stream", None, HOST, paths=paths)


def test_the_runtime_sees_var_task_and_opt() -> None:
    env = environment(config())
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["PATH"] == "/usr/bin:/bin:/opt/bin"
    assert env["LD_LIBRARY_PATH"] == "/usr/local/lib:/var/task:/var/task/lib:/opt/lib"  # as Lambda orders them
    assert env["LAMBDATUI_OPT"] == "/opt"
    assert "LAMBDATUI_OPT" not in extension_environment(env)
    assert extension_environment(env)["PATH"] == "/usr/bin:/bin:/opt/bin"


def test_the_users_path_wins_as_in_lambda() -> None:
    assert environment(config(PATH="/mine"))["PATH"] == "/mine"


def test_without_layers_outside_a_namespace_nothing_points_at_opt() -> None:
    env = environment(config(), SandboxPaths("/home/me/fn", "/home/me/fn"))
    assert env["LAMBDA_TASK_ROOT"] == "/home/me/fn"
    assert env["PATH"] == "/usr/bin:/bin" and "LD_LIBRARY_PATH" not in env and "LAMBDATUI_OPT" not in env


def test_our_runtime_starts_through_the_exec_wrapper_with_its_command_line_as_arguments() -> None:
    cfg = config(AWS_LAMBDA_EXEC_WRAPPER="/opt/otel-instrument")
    assert runtime_argv(cfg, environment(cfg), LAID_OUT) == ["/opt/otel-instrument", *OURS.argv]
    assert runtime_argv(config(), environment(config()), LAID_OUT) == list(OURS.argv)


def test_a_custom_runtime_ignores_the_wrapper_and_starts_from_var_task() -> None:
    cfg = config(CUSTOM, AWS_LAMBDA_EXEC_WRAPPER="/opt/wrapper")
    assert runtime_argv(cfg, environment(cfg), LAID_OUT) == ["/var/task/bootstrap"]
    assert environment(cfg)["LAMBDA_RUNTIME_DIR"] == "/var/task"


def test_outside_the_layout_a_wrapper_under_opt_is_the_layer_file(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    (layer).mkdir()
    (layer / "wrapper").write_text("#!/bin/sh\nexec \"$@\"\n")
    paths = SandboxPaths("/home/me/fn", "/home/me/fn", (str(layer),), str(layer))
    cfg = config(AWS_LAMBDA_EXEC_WRAPPER="/opt/wrapper")
    assert runtime_argv(cfg, environment(cfg, paths), paths)[0] == str(layer / "wrapper")


def test_the_layers_extensions_join_the_functions_own(tmp_path: Path) -> None:
    code = tmp_path / "fn"
    (code / "extensions").mkdir(parents=True)
    (code / "extensions" / "local").write_text("")
    (code / "extensions" / "shared").write_text("")
    layer = tmp_path / "layer"
    (layer / "extensions").mkdir(parents=True)
    (layer / "extensions" / "shared").write_text("")
    (layer / "extensions" / "from-layer").write_text("")
    base = FunctionConfig(name="fn", code_dir=code, handler="handler.handler", runtime=OURS,
                          extensions=(code / "extensions" / "local", code / "extensions" / "shared"), layers=(layer,))
    merged, files, notes = function_files(base, tmp_path / "state")
    assert merged.extension_names == ("from-layer", "local", "shared")
    assert dict(zip(merged.extension_names, merged.extensions))["shared"] == layer / "extensions" / "shared"
    assert files.layers == (layer,) and files.code_dir == code
    assert len(notes) == 1 and notes[0].startswith("extension shared: ")


def not_found() -> LaunchError:
    """What starting a program the processes cannot find raises (the exec's ENOENT as its cause)."""
    failure = LaunchError("cannot start")
    failure.__cause__ = OSError(errno.ENOENT, os.strerror(errno.ENOENT))
    return failure


def test_a_link_leading_out_of_the_laid_out_folder_is_named_as_why_nothing_starts(tmp_path: Path) -> None:
    # Seen at /var/task, a relative link that climbs out of the function's folder leads where the processes have
    # nothing; the host, following it from the real folder, finds the file and would blame the #! line instead.
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "ext").write_text("#!/bin/sh\n")
    (tmp_path / "fn" / "extensions").mkdir(parents=True)
    (tmp_path / "fn" / "extensions" / "out").symlink_to("../../shared/ext")
    paths = SandboxPaths(str(tmp_path / "fn"), TASK_ROOT, (), OPT)
    reason = launch_failure(not_found(), ["/var/task/extensions/out"], TASK_ROOT, {}, paths)
    assert reason.startswith(f"no such file: {tmp_path / 'fn' / 'extensions' / 'out'} is a symbolic link to "
                             "../../shared/ext, which the processes, seeing the link at /var/task/extensions/out, "
                             "follow to /var/shared/ext, where they find nothing"), reason


def test_a_link_inside_the_laid_out_folder_leaves_the_reason_to_its_target(tmp_path: Path) -> None:
    (tmp_path / "fn" / "bin").mkdir(parents=True)
    (tmp_path / "fn" / "bin" / "ext").write_text("#!/no/such/interpreter\n")
    (tmp_path / "fn" / "extensions").mkdir()
    (tmp_path / "fn" / "extensions" / "inside").symlink_to("../bin/ext")
    paths = SandboxPaths(str(tmp_path / "fn"), TASK_ROOT, (), OPT)
    reason = launch_failure(not_found(), ["/var/task/extensions/inside"], TASK_ROOT, {}, paths)
    assert reason == (f"cannot execute {tmp_path / 'fn' / 'extensions' / 'inside'}: its interpreter was not found "
                      "(check the #! line)")
