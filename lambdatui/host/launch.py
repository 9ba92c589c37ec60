"""Argv, environment and working directory for the runtime and each extension (lambda-spec §5)."""

from __future__ import annotations

import dataclasses
import errno
import os
import posixpath
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

from lambdatui.config import FunctionConfig
from lambdatui.core.common import REGION, RESTORE, SNAPSHOT, EnvironmentConfig
from lambdatui.interpreter_probe import Version, version_in_name
from lambdatui.model.fleet import LATEST_VERSION, PROVISIONED, SNAP_START
from lambdatui.processes.exec_failure import describe_exec_failure
from lambdatui.processes.filesystem import FunctionFiles, extract_layers, extracted_folder, layer_extensions
from lambdatui.processes.sandbox import lies_under_tmp
from lambdatui.model.paths import SandboxPaths, host_path, sandbox_path
from lambdatui.runtime_choice import RuntimeCommand

# Extensions get the function's environment minus these (lambda-spec §5, "Rules for extensions").
_NOT_FOR_EXTENSIONS = {
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_XRAY_CONTEXT_MISSING",
    "AWS_XRAY_DAEMON_ADDRESS",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
    "_AWS_XRAY_DAEMON_ADDRESS",
    "_AWS_XRAY_DAEMON_PORT",
    "_HANDLER",
}

# Passed through from the user's shell so that their tools and credentials still work locally.
_PASS_THROUGH = ("PATH", "HOME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
_SHELL_PATHS = ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
_KEY_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_ROLE = "where Lambda's use the function's execution role"


def credentials_note(function_env: Mapping[str, str], host_env: Mapping[str, str]) -> Optional[str]:
    """Which AWS credentials the function's SDK calls find (lambda-spec §10.4: Lambda's find the execution role's,
    so a local run passes the user's own through and says whose): the access key in the variables, which the SDKs
    take first, else the profile AWS_PROFILE names, else the default profile of the files HOME leads to. Never a
    secret: a key is told by its last four characters, as `aws configure list` tells it. None where there are none."""
    env = {k: host_env[k] for k in _PASS_THROUGH if k in host_env}
    env.update(function_env)
    key = env.get("AWS_ACCESS_KEY_ID", "")
    if key and env.get("AWS_SECRET_ACCESS_KEY"):
        given = ", ".join(name for name in _KEY_NAMES if env.get(name))
        return (f"AWS credentials: the function's SDK calls use this shell's access key ...{key[-4:]} ({given}), "
                f"{_ROLE}.")
    files = [env.get("AWS_CONFIG_FILE") or "~/.aws/config",
             env.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"]
    profile = env.get("AWS_PROFILE")
    if profile:
        whose = "set for the function" if "AWS_PROFILE" in function_env else "this shell's"
        return (f"AWS credentials: the function's SDK calls use the profile {profile!r} (AWS_PROFILE, {whose}) "
                f"of {' and '.join(files)}, {_ROLE}.")
    home = env.get("HOME", "")
    found = [name for name in files if os.path.isfile(os.path.join(home, name[2:]) if name[:2] == "~/" else name)]
    if home and found:
        return f"AWS credentials: the function's SDK calls use the default profile of {' and '.join(found)}, {_ROLE}."
    return None


def log_stream_name(function_version: str) -> str:
    """A new environment's stream: the date, the version it runs in brackets, 32 hex digits (lambda-spec §5)."""
    return f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{function_version}]{os.urandom(16).hex()}"


def runtime_environment(
    config: FunctionConfig,
    runtime_api: str,
    stream: str,
    stack_file: Optional[Path],
    host_env: Mapping[str, str],
    report_globals: bool = False,
    exit_file: Optional[Path] = None,
    paths: Optional[SandboxPaths] = None,
    init_type: str = "on-demand",
    max_concurrency: int = 0,
    function_version: str = LATEST_VERSION,
    metadata_token: str = "",
) -> dict[str, str]:
    """`paths` say where the processes see the code and the layers (/var/task and /opt in the sandbox's
    namespace); None: the code at its real path and no layers. `max_concurrency` > 0: Lambda Managed Instances.
    `metadata_token`: the environment's for the metadata endpoint (api/metadata_routes.py), served beside the
    Runtime API as in Lambda; "" leaves both variables out."""
    paths = paths or SandboxPaths(str(config.code_dir), str(config.code_dir))
    env = {k: host_env[k] for k in _PASS_THROUGH if k in host_env}
    for name in _SHELL_PATHS:  # the shell's folder is not the function's: a relative one would name another file
        if env.get(name):
            env[name] = os.path.abspath(env[name])
    env.update({
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": config.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": function_version,
        "AWS_LAMBDA_INITIALIZATION_TYPE": init_type,
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "LAMBDA_TASK_ROOT": paths.task_root,
        "_HANDLER": config.handler,
    })
    if metadata_token:
        env["AWS_LAMBDA_METADATA_API"] = runtime_api
        env["AWS_LAMBDA_METADATA_TOKEN"] = metadata_token
    if paths.opt is not None:  # Lambda's PATH ends with /opt/bin and LD_LIBRARY_PATH with /opt/lib (lambda-spec §5)
        env["PATH"] = _append(env.get("PATH"), os.path.join(paths.opt, "bin"))
        # ... and holds the code's own folders before it: /var/task:/var/task/lib:/opt/lib, so that a native library
        # shipped in the deployment package loads by name, as in Lambda.
        library_path = host_env.get("LD_LIBRARY_PATH")
        for entry in (paths.task_root, os.path.join(paths.task_root, "lib"), os.path.join(paths.opt, "lib")):
            library_path = _append(library_path, entry)
        env["LD_LIBRARY_PATH"] = library_path
    if config.runtime.ours:
        version = _python_version_hint(config.runtime)
        env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_python{version[0]}.{version[1]}" if version else "AWS_Lambda_python3"
        env["LAMBDA_RUNTIME_DIR"] = str(Path(config.runtime.argv[1]))
        env["LAMBDATUI_PRIVATE_API"] = "1"
        # Its private calls come here directly, and it pipelines only where AWS_LAMBDA_RUNTIME_API still names this
        # address: an exec wrapper may point that at a Runtime API proxy (bootstrap/client.py RuntimeClient).
        env["LAMBDATUI_SANDBOX_API"] = runtime_api
        if report_globals:
            env["LAMBDATUI_REPORT_GLOBALS"] = "1"
        if stack_file is not None:
            env["LAMBDATUI_STACK_FILE"] = str(stack_file)
        if exit_file is not None:
            env["LAMBDATUI_EXIT_FILE"] = str(exit_file)
        if paths.opt is not None:  # the bootstrap puts its python/ folders after the task root, as Lambda's does
            env["LAMBDATUI_OPT"] = paths.opt
    else:
        env["LAMBDA_RUNTIME_DIR"] = paths.task_root
    env.update(config.env)  # the user's own variables win, as in Lambda's console
    if max_concurrency:
        # Managed Instances set these for the runtime, whatever the function says (lambda-spec §5, §11.3): the
        # runtime forks this many workers (awslambdaric reads it too), and their logs are JSON only.
        env["AWS_LAMBDA_MAX_CONCURRENCY"] = str(max_concurrency)
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        env.setdefault("AWS_LAMBDA_LOG_LEVEL", "INFO")  # JSON's default level: unset, Python's root stays at WARNING
    return env


def function_files(config: FunctionConfig, state_dir: Path,
                   run_dir: Optional[Path] = None) -> tuple[FunctionConfig, FunctionFiles, list[str]]:
    """The function's files for the sandbox to lay out (zip layers extracted into the run's folder `run_dir`, once
    for every environment; else the environment's `state_dir`), the configuration with the layers' extensions
    (/opt/extensions) among its own, and what to tell the user."""
    into = (run_dir or state_dir) / "layers"
    layers, notes = extract_layers(config.layers, into)
    archives = tuple((extracted_folder(into, number, layer), layer)
                     for number, layer in enumerate(config.layers, 1) if not layer.is_dir())
    extensions = {path.name: path for path in config.extensions}
    for name, path in layer_extensions(layers).items():
        if name in extensions:
            notes.append(f"extension {name}: {path} (from a layer, at /opt/extensions) replaces {extensions[name]}")
        extensions[name] = path
    merged = tuple(path for _, path in sorted(extensions.items()))
    files = FunctionFiles(config.code_dir, layers, state_dir / "opt", archives)
    return dataclasses.replace(config, extensions=merged), files, notes


def core_config(config: FunctionConfig, init_type: str, max_concurrency: int, restored: bool,
                function_version: str = LATEST_VERSION) -> EnvironmentConfig:
    """What the core knows of the function and of this environment's kind: `init_type` SNAP_START makes it
    SnapStart's snapshot environment, `restored` one restored from that snapshot (lambda-spec §4.8);
    `function_version` is the fleet's (FleetOptions.function_version)."""
    return EnvironmentConfig(
        function_name=config.name,
        function_version=function_version,
        handler=config.handler,
        timeout_ms=config.timeout_s * 1000,
        memory_mb=config.memory_mb,
        extension_names=config.extension_names,
        runtime_version=config.runtime.version,
        provisioned=init_type == PROVISIONED,
        # Provisioned concurrency and Managed Instances: the larger of 130 s and the timeout (lambda-spec §4.2).
        init_timeout_ms=(max(130, config.timeout_s) * 1000
                         if init_type in (PROVISIONED, SNAP_START) or max_concurrency > 0 else 10_000),
        max_concurrency=max_concurrency,
        snapstart=RESTORE if restored else SNAPSHOT if init_type == SNAP_START else "",
        exec_wrapper=exec_wrapper(config, config.env),
    )


def runtime_argv(config: FunctionConfig, env: Mapping[str, str], paths: Optional[SandboxPaths] = None) -> list[str]:
    """The runtime's command line: a custom runtime's as the processes see it (/var/task/bootstrap); ours through
    `AWS_LAMBDA_EXEC_WRAPPER` when the function sets one, with its own command line as the wrapper's arguments, as
    managed runtimes start it (lambda-spec §10.3; not for `provided` runtimes)."""
    argv = list(config.runtime.argv)
    if paths is not None and not config.runtime.ours:
        argv[0] = sandbox_path(argv[0], paths)
        if not paths.emulated and paths.opt is not None:  # a layer's /opt/bootstrap, where /opt is not mounted
            argv[0] = host_path(argv[0], SandboxPaths(paths.code_dir, paths.task_root, paths.layers, "/opt"))
    wrapper = exec_wrapper(config, env, paths)
    return [wrapper, *argv] if wrapper else argv


def exec_wrapper(config: FunctionConfig, env: Mapping[str, str], paths: Optional[SandboxPaths] = None) -> str:
    """The wrapper script our runtime is started through ("" for none). Where /opt is not mounted, a wrapper
    named under /opt is the layer file that provides it."""
    wrapper = env.get("AWS_LAMBDA_EXEC_WRAPPER", "") if config.runtime.ours else ""
    if wrapper and paths is not None and not paths.emulated and paths.opt is not None:
        wrapper = host_path(wrapper, SandboxPaths(paths.code_dir, paths.task_root, paths.layers, "/opt"))
    return wrapper


def launch_failure(exc: Exception, argv: Sequence[str], cwd: str, env: Mapping[str, str],
                   paths: Optional[SandboxPaths]) -> str:
    """Why a process could not start, in terms of the host's files: the user fixes their own file, not the
    /var/task or /opt path the process was started as (the launch's own reason read those from the host)."""
    cause = exc.__cause__
    if paths is None or not isinstance(cause, OSError) or getattr(cause, "where", "") == "cwd":
        return str(exc)
    program = host_path(argv[0], paths)
    if program == argv[0]:
        return str(exc)
    unseen = _link_leading_out(program, argv[0], paths) if cause.errno == errno.ENOENT else None
    return unseen or describe_exec_failure(cause, [program, *argv[1:]], host_path(cwd, paths), env)


def _link_leading_out(program: str, seen_as: str, paths: SandboxPaths) -> Optional[str]:
    """Why a symbolic link the host follows leads nowhere for the processes, which see it at `seen_as` (/var/task/...):
    its target lies out of the folders laid out for them (or in the host's /tmp, which theirs hides). None when it
    does not, for the usual reading of ENOENT, which on the host would blame the #! line."""
    if not os.path.islink(program) or not os.path.exists(program):
        return None
    target = os.readlink(program)
    leads_to = posixpath.normpath(posixpath.join(posixpath.dirname(seen_as), target))
    if os.path.exists(host_path(leads_to, paths)) and not lies_under_tmp(leads_to):
        return None
    return (f"no such file: {program} is a symbolic link to {target}, which the processes, seeing the link at "
            f"{seen_as}, follow to {leads_to}, where they find nothing: link to a file inside the function's folder "
            "or a layer, as in Lambda, or copy the file in")


def _append(value: Optional[str], entry: str) -> str:
    return f"{value}:{entry}" if value else entry


def extension_environment(runtime_env: Mapping[str, str]) -> dict[str, str]:
    return {
        k: v for k, v in runtime_env.items()
        if k not in _NOT_FOR_EXTENSIONS and not k.startswith("_") and not k.startswith("LAMBDATUI_")
    }


def _python_version_hint(runtime: RuntimeCommand) -> Optional[Version]:
    """The version learned when the interpreter was chosen (runtime_choice: from a virtualenv's pyvenv.cfg, its
    name, or by asking a shim once), else its file's name (python3.11), without starting it."""
    return runtime.python_version or version_in_name(runtime.argv[0])
