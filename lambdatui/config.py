"""What to run and how: the function's configuration, resolved from the command line into one frozen value.

Every mode (TUI, invoke, serve, replay) takes the same options; they are parsed in `cli.py` and turned
into a `FunctionConfig` here, where each bad input becomes one `ConfigError` line.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

from lambdatui.model.error_types import MAX_EXTENSIONS

BOOTSTRAP_DIR = Path(__file__).resolve().parent / "bootstrap"
HANDLER_FILE_NAMES = ("handler.py", "lambda_function.py", "app.py", "main.py", "index.py")
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 1, 900
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10240
MAX_LAYERS = 5  # Lambda attaches at most five layers to a function (lambda-spec §2.6)


# Lambda refuses a configuration that sets any of these (lambda-spec §10.4): they describe the function and
# its sandbox, so an override would make the function disagree with its own ARN, handler, region or API.
# LANG, PATH, LD_LIBRARY_PATH, PYTHONPATH and NODE_PATH are not among them: Lambda lets a function extend those.
RESERVED_ENV_VARS = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR", "TZ",
})


# Python's json parser recurses once per level and gives up near the interpreter's recursion limit (1,000).
TOO_DEEP = "nested too deeply for Python's json parser"


class ConfigError(Exception):
    """A usage or configuration problem, reported as one line (exit status 2)."""


def reserved_env_problem(names: Iterable[str]) -> Optional[str]:
    """Lambda's own refusal (InvalidParameterValueException) if any of `names` is reserved, else None.

    Every door that sets variables (--env, --env-file, a scenario's env table) asks this, so all say the same.
    """
    used = [name for name in names if name in RESERVED_ENV_VARS]
    if not used:
        return None
    return ("InvalidParameterValueException: Lambda was unable to configure your environment variables because "
            "the environment variables you have provided contains reserved keys that are currently not supported "
            "for modification. Reserved keys used in this request: " + ", ".join(used))


def check_env_not_reserved(env: Mapping[str, str], origin: str) -> None:
    problem = reserved_env_problem(env)
    if problem:
        raise ConfigError(f"{origin}: {problem}")


@dataclass(frozen=True)
class RuntimeCommand:
    argv: tuple[str, ...]
    ours: bool  # our Python bootstrap: it speaks the private channel (globals, init gate, stacks)
    description: str  # for INIT_START's Runtime Version

    @property
    def version(self) -> str:
        return self.description


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    code_dir: Path
    handler: str
    runtime: RuntimeCommand
    timeout_s: int = 3
    memory_mb: int = 128
    extensions: tuple[Path, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    # Layer folders or .zip files, in the order Lambda extracts them into /opt (a later one's file wins).
    layers: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        # The backstop for every way a configuration is built (a door that checks first can name its source).
        check_env_not_reserved(self.env, "environment variables")

    @property
    def extension_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.extensions)


def _function_name_in(source: str) -> Optional[str]:
    # A regex rather than ast: a file with a syntax error must still start, so that the
    # runtime can report Runtime.UserCodeSyntaxError as Lambda does.
    for candidate in ("handler", "lambda_handler"):
        if re.search(rf"^(async\s+)?def\s+{candidate}\s*\(", source, re.MULTILINE):
            return candidate
    return None


def _default_handler(handler_file: Path) -> str:
    try:
        source = handler_file.read_text(errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read {handler_file}: {exc.strerror}") from None
    return f"{handler_file.stem}.{_function_name_in(source) or 'handler'}"


def _python_interpreter(explicit: Optional[str]) -> str:
    if explicit:
        found = shutil.which(explicit)
        if not found:
            raise ConfigError(f"--python {explicit}: no such interpreter")
        return found
    venv = os.environ.get("VIRTUAL_ENV")
    if venv and os.access(os.path.join(venv, "bin", "python"), os.X_OK):
        return os.path.join(venv, "bin", "python")
    found = shutil.which("python3")
    if not found:
        raise ConfigError("no python3 on PATH: pass --python PATH to choose the interpreter that runs the function")
    return found


def _discover_extensions(extensions_dir: Optional[Path], code_dir: Path) -> tuple[Path, ...]:
    if extensions_dir is None:
        candidate = code_dir / "extensions"
        if not candidate.is_dir():
            return ()
        extensions_dir = candidate
    elif not extensions_dir.is_dir():
        raise ConfigError(f"--extensions {extensions_dir}: not a directory")
    # Lambda launches every regular file in /opt/extensions, in name order (lambda-spec §2.6).
    found = tuple(sorted(p.resolve() for p in extensions_dir.iterdir() if p.is_file()))
    if len(found) > MAX_EXTENSIONS:
        raise ConfigError(f"{extensions_dir} holds {len(found)} extensions; Lambda allows at most {MAX_EXTENSIONS}")
    return found


def load_env_file(path: Path, function_name: str) -> dict[str, str]:
    """A JSON object of variables, or SAM's `{"FunctionName": {...}}` / `{"Parameters": {...}}` shape."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--env-file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"--env-file {path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ConfigError(f"--env-file {path}: {TOO_DEEP}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--env-file {path}: expected a JSON object")
    if function_name in data and isinstance(data[function_name], dict):
        data = data[function_name]
    elif "Parameters" in data and isinstance(data["Parameters"], dict):
        data = data["Parameters"]
    if not all(isinstance(v, (str, int, float, bool)) for v in data.values()):
        raise ConfigError(f"--env-file {path}: values must be strings (or scalars)")
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in data.items()}


def check_layers(paths: Sequence[str], origin: str = "--layer") -> tuple[Path, ...]:
    """Each layer exists and is a folder or a .zip archive; no more than Lambda attaches."""
    import zipfile

    layers: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise ConfigError(f"{origin} {given}: no such file or directory")
        if path.is_file() and not (path.suffix.lower() == ".zip" and zipfile.is_zipfile(path)):
            raise ConfigError(f"{origin} {given}: expected a layer folder or a .zip archive")
        layers.append(path.resolve())
    if len(layers) > MAX_LAYERS:
        raise ConfigError(f"{len(layers)} layers: Lambda attaches at most {MAX_LAYERS} to a function")
    return tuple(layers)


def parse_env_pairs(pairs: Iterable[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--env {pair!r}: expected KEY=VALUE")
        env[key] = value
    return env


def resolve_function(
    path: str,
    *,
    handler: Optional[str] = None,
    timeout_s: int = 3,
    memory_mb: int = 128,
    extensions_dir: Optional[str] = None,
    env_pairs: Sequence[str] = (),
    env_file: Optional[str] = None,
    python: Optional[str] = None,
    bootstrap: Optional[str] = None,
    layers: Sequence[str] = (),
) -> FunctionConfig:
    target = Path(path).expanduser()
    if not target.exists():
        raise ConfigError(f"{path}: no such file or directory")
    target = target.resolve()
    if not MIN_TIMEOUT_S <= timeout_s <= MAX_TIMEOUT_S:
        raise ConfigError(f"--timeout {timeout_s}: Lambda allows {MIN_TIMEOUT_S} to {MAX_TIMEOUT_S} seconds")
    if not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB:
        raise ConfigError(f"--memory {memory_mb}: Lambda allows {MIN_MEMORY_MB} to {MAX_MEMORY_MB} MB")

    code_dir = target if target.is_dir() else target.parent
    custom: Optional[tuple[str, ...]] = None
    if bootstrap:
        try:
            custom = tuple(shlex.split(bootstrap))
        except ValueError as exc:  # "No closing quotation", "No escaped character"
            raise ConfigError(f"--bootstrap {bootstrap}: not a command line ({exc})") from None
        if not custom:
            raise ConfigError("--bootstrap: empty command")
    elif target.is_file() and target.name == "bootstrap":
        if not os.access(target, os.X_OK):
            raise ConfigError(f"{path}: a custom runtime's bootstrap must be executable (chmod +x)")
        custom = (str(target),)
    elif target.is_dir() and (target / "bootstrap").is_file() and os.access(target / "bootstrap", os.X_OK):
        custom = (str(target / "bootstrap"),)

    if custom is not None:
        runtime = RuntimeCommand(custom, ours=False, description="provided:al2023")
        resolved_handler = handler or "handler.handler"
    else:
        if target.is_file():
            if target.suffix != ".py":
                raise ConfigError(f"{path}: expected a Python handler file (.py), a folder, or a custom runtime 'bootstrap'")
            handler_file = target
        else:
            handler_file = next((code_dir / n for n in HANDLER_FILE_NAMES if (code_dir / n).is_file()), None)
            if handler is None and handler_file is None:
                raise ConfigError(
                    f"{path}: no handler found (looked for {', '.join(HANDLER_FILE_NAMES)}); "
                    "pass --handler module.function"
                )
        resolved_handler = handler or _default_handler(handler_file)  # type: ignore[arg-type]
        interpreter = _python_interpreter(python)
        runtime = RuntimeCommand((interpreter, str(BOOTSTRAP_DIR)), ours=True, description="python:3")
    if "." not in resolved_handler and custom is None:
        raise ConfigError(f"--handler {resolved_handler!r}: expected module.function")

    name = code_dir.name or "function"
    env: dict[str, str] = {}
    if env_file:
        from_file = load_env_file(Path(env_file), name)
        check_env_not_reserved(from_file, f"--env-file {env_file}")
        env.update(from_file)
    pairs = parse_env_pairs(env_pairs)
    check_env_not_reserved(pairs, "--env")
    env.update(pairs)
    return FunctionConfig(
        name=name,
        code_dir=code_dir,
        handler=resolved_handler,
        runtime=runtime,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        extensions=_discover_extensions(Path(extensions_dir).resolve() if extensions_dir else None, code_dir),
        env=env,
        layers=check_layers(layers),
    )
