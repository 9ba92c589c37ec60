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
from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Optional, Sequence

from lambdatui.model.error_types import MAX_EXTENSIONS

if TYPE_CHECKING:
    from lambdatui.sam_template import TemplateFunction

BOOTSTRAP_DIR = Path(__file__).resolve().parent / "bootstrap"
HANDLER_FILE_NAMES = ("handler.py", "lambda_function.py", "app.py", "main.py", "index.py")
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 1, 900
DEFAULT_TIMEOUT_S, DEFAULT_MEMORY_MB = 3, 128
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10240
# A SAM template: lambdatui PATH/template.yaml, or a project folder holding one (read by sam_template.py).
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".template")
TEMPLATE_FILE_NAMES = ("template.yaml", "template.yml", "template.json")
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
    interpreter: str = ""  # our runtime's Python, which the header and a start-up line name
    interpreter_origin: str = ""  # why that one: "--python", "the .venv next to the handler", ...

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


# The names a handler function usually has, by language: Python's, then Node's (SAM's Node sample: app.lambdaHandler).
_PYTHON_HANDLER_NAMES = ("handler", "lambda_handler")
_NODE_HANDLER_NAMES = ("handler", "lambdaHandler", "lambda_handler")
NODE_SUFFIXES = (".js", ".mjs", ".cjs", ".ts")
# Code files a custom runtime's _HANDLER may name, and the stems preferred when a folder holds several.
_CODE_SUFFIXES = (".py", *NODE_SUFFIXES, ".rb")
_PREFERRED_STEMS = ("index", "handler", "app", "main", "lambda_function", "function")


def _function_name_in(source: str, suffix: str = ".py") -> Optional[str]:
    # A regex rather than ast: a file with a syntax error must still start, so that the
    # runtime can report Runtime.UserCodeSyntaxError as Lambda does.
    if suffix in NODE_SUFFIXES:
        for candidate in _NODE_HANDLER_NAMES:
            if re.search(rf"(export\s+(async\s+)?(function\s*\*?|const|let|var)\s*{candidate}\b"
                         rf"|exports\.{candidate}\s*=|export\s*\{{[^}}]*\b{candidate}\b)", source):
                return candidate
        return None
    for candidate in _PYTHON_HANDLER_NAMES:
        if re.search(rf"^(async\s+)?def\s+{candidate}\s*\(", source, re.MULTILINE):
            return candidate
    return None


def _default_handler(handler_file: Path) -> str:
    try:
        source = handler_file.read_text(errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read {handler_file}: {exc.strerror}") from None
    return f"{handler_file.stem}.{_function_name_in(source, handler_file.suffix) or 'handler'}"


def _code_files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix in _CODE_SUFFIXES and p.is_file()
                      and not p.name.startswith("."))
    except OSError:
        return []


def _custom_runtime_handler(code_dir: Path, code_file: Optional[Path]) -> str:
    """A custom runtime's _HANDLER when none was given: the file's (`index.handler` for index.mjs), else the one
    code file next to the bootstrap (by the usual names first), else `handler.handler`."""
    if code_file is None:
        files = _code_files(code_dir)
        by_stem = {p.stem: p for p in reversed(files)}  # the first suffix in name order wins a tie
        code_file = next((by_stem[s] for s in _PREFERRED_STEMS if s in by_stem), files[0] if len(files) == 1 else None)
    return _default_handler(code_file) if code_file is not None else "handler.handler"


def node_message(path: str, folder: Path, then: str = "then 'lambdatui' on that folder or the file") -> str:
    """What to do with a Node.js handler: lambdatui's own runtime is Python's; Node runs as a custom runtime."""
    return (f"{path}: a Node.js handler, and lambdatui's own runtime is Python's. Run it as a custom runtime: an "
            f"executable 'bootstrap' in {folder} that execs Node's runtime interface client "
            "('exec aws-lambda-ric \"$_HANDLER\"' after 'npm install aws-lambda-ric'; sample_functions/node has one, "
            f"README 'Node' says more), {then}")


def other_runtime_message(origin: str, runtime: str, folder: Path) -> str:
    if runtime.startswith("nodejs"):
        return node_message(f"{origin} (Runtime {runtime})", folder, "and lambdatui runs it for this template")
    return (f"{origin}: Runtime {runtime}: lambdatui's own runtime is Python's; any other language runs as a custom "
            f"runtime: an executable 'bootstrap' in {folder} that starts the language's runtime interface client "
            "(or --bootstrap COMMAND)")


@dataclass(frozen=True)
class Interpreter:
    path: str
    origin: str  # why this one: "--python", "the active virtualenv", "the .venv next to the handler", ...
    nearby: bool = False  # a virtualenv found next to the code, which no option or environment named


def _virtualenv_near(code_dir: Path) -> Optional[Interpreter]:
    """A `.venv/` or `venv/` next to the handler, or one level up (a project's root), as most projects keep one."""
    for folder, where in ((code_dir, "next to the handler"), (code_dir.parent, "one level up from the handler")):
        for name in (".venv", "venv"):
            python = folder / name / "bin" / "python"
            # The venv's own path, not the interpreter it links to: that path is what makes it the venv's.
            if python.is_file() and os.access(python, os.X_OK) and (folder / name / "pyvenv.cfg").is_file():
                return Interpreter(str(python), f"the {name} {where}", nearby=True)
    return None


def python_interpreter(explicit: Optional[str], code_dir: Optional[Path] = None) -> Interpreter:
    """The interpreter that runs the function: --python, else the active virtualenv's, else one next to the
    handler (or one level up), else python3 on PATH."""
    if explicit:
        found = shutil.which(explicit)
        if not found:
            raise ConfigError(f"--python {explicit}: no such interpreter")
        return Interpreter(found, "--python")
    venv = os.environ.get("VIRTUAL_ENV")
    if venv and os.access(os.path.join(venv, "bin", "python"), os.X_OK):
        return Interpreter(os.path.join(venv, "bin", "python"), "the active virtualenv")
    if code_dir is not None:
        near = _virtualenv_near(code_dir)
        if near is not None:
            return near
    found = shutil.which("python3")
    if not found:
        raise ConfigError("no python3 on PATH: pass --python PATH to choose the interpreter that runs the function")
    return Interpreter(found, "python3 on PATH")


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


def _no_report(text: str) -> None:
    pass


def _custom_command(bootstrap: Optional[str]) -> Optional[tuple[str, ...]]:
    if not bootstrap:
        return None
    try:
        custom = tuple(shlex.split(bootstrap))
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise ConfigError(f"--bootstrap {bootstrap}: not a command line ({exc})") from None
    if not custom:
        raise ConfigError("--bootstrap: empty command")
    return custom


def _bootstrap_in(folder: Path) -> Optional[tuple[str, ...]]:
    candidate = folder / "bootstrap"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return (str(candidate),)
    return None


def _our_runtime(python: Optional[str], code_dir: Path) -> RuntimeCommand:
    interpreter = python_interpreter(python, code_dir)
    # Named at start-up by the host in every mode (the debugger's log included), and in the debugger's header.
    return RuntimeCommand((interpreter.path, str(BOOTSTRAP_DIR)), ours=True, description="python:3",
                          interpreter=interpreter.path, interpreter_origin=interpreter.origin)


def _custom_runtime(argv: tuple[str, ...], runtime_name: Optional[str] = None) -> RuntimeCommand:
    description = "provided:al2023"
    if runtime_name and runtime_name.startswith("provided"):
        description = runtime_name.replace(".", ":", 1) if "." in runtime_name else "provided:al"
    return RuntimeCommand(argv, ours=False, description=description)


def _runtime_for_path(path: str, target: Path, code_dir: Path, handler: Optional[str], python: Optional[str],
                      bootstrap: Optional[str], report: Callable[[str], None]) -> tuple[RuntimeCommand, str]:
    """A handler file, its folder, or a bootstrap: which runtime runs it, with which _HANDLER."""
    custom = _custom_command(bootstrap)
    code_file: Optional[Path] = None
    if custom is None:
        if target.is_file() and target.name == "bootstrap":
            if not os.access(target, os.X_OK):
                raise ConfigError(f"{path}: a custom runtime's bootstrap must be executable (chmod +x)")
            custom = (str(target),)
        elif target.is_file() and target.suffix in NODE_SUFFIXES:
            # index.mjs with a bootstrap next to it: the bootstrap runs it, as Lambda would (_HANDLER index.handler).
            custom = _bootstrap_in(code_dir)
            if custom is None:
                raise ConfigError(node_message(path, code_dir))
            code_file = target
        elif target.is_dir():
            custom = _bootstrap_in(target)
    elif target.is_file() and target.name != "bootstrap":
        code_file = target
    if custom is not None:
        return _custom_runtime(custom), handler or _custom_runtime_handler(code_dir, code_file)

    if target.is_file():
        if target.suffix != ".py":
            raise ConfigError(f"{path}: expected a Python handler file (.py), a folder, a custom runtime "
                              "'bootstrap', or a SAM template (template.yaml)")
        handler_file: Optional[Path] = target
    else:
        handler_file = next((code_dir / n for n in HANDLER_FILE_NAMES if (code_dir / n).is_file()), None)
        if handler is None and handler_file is None:
            files = _code_files(code_dir)
            if files and all(p.suffix in NODE_SUFFIXES for p in files):
                raise ConfigError(node_message(path, code_dir))
            raise ConfigError(
                f"{path}: no handler found (looked for {', '.join(HANDLER_FILE_NAMES)}); "
                "pass --handler module.function"
            )
    resolved_handler = handler or _default_handler(handler_file)  # type: ignore[arg-type]
    return _our_runtime(python, code_dir), resolved_handler


def _runtime_for_template(fn: TemplateFunction, origin: str, handler: Optional[str], python: Optional[str],
                          bootstrap: Optional[str], report: Callable[[str], None]) -> tuple[RuntimeCommand, str]:
    """The template's Runtime and Handler (--bootstrap and --handler win): Python runs in lambdatui's runtime,
    `provided.*` and every other language through the `bootstrap` in CodeUri, with _HANDLER the template's."""
    runtime_name = fn.runtime or "python"
    where = f"{origin}: {fn.logical_id}"
    custom = _custom_command(bootstrap)
    if custom is None and not runtime_name.startswith("python"):
        custom = _bootstrap_in(fn.code_dir)
        if custom is None:
            if runtime_name.startswith("provided"):
                raise ConfigError(f"{where}: Runtime {runtime_name} needs an executable 'bootstrap' in its CodeUri "
                                  f"({fn.code_dir}), or --bootstrap COMMAND")
            raise ConfigError(other_runtime_message(where, runtime_name, fn.code_dir))
    if custom is not None:
        return _custom_runtime(custom, runtime_name), handler or fn.handler or _custom_runtime_handler(fn.code_dir, None)
    resolved_handler = handler or fn.handler
    if resolved_handler is None:
        handler_file = next((fn.code_dir / n for n in HANDLER_FILE_NAMES if (fn.code_dir / n).is_file()), None)
        if handler_file is None:
            raise ConfigError(f"{where}: no Handler, and no handler file in {fn.code_dir} "
                              f"(looked for {', '.join(HANDLER_FILE_NAMES)}); pass --handler module.function")
        resolved_handler = _default_handler(handler_file)
    return _our_runtime(python, fn.code_dir), resolved_handler


def is_template(path: Path) -> bool:
    """A SAM template file (YAML, or JSON named template*.json)."""
    suffix = path.suffix.lower()
    return path.is_file() and (suffix in TEMPLATE_SUFFIXES or (suffix == ".json" and path.name.startswith("template")))


def _template_for(target: Path, path: str, function: Optional[str]) -> Optional[tuple[Path, str]]:
    """The SAM template `target` names (a template file, or a folder holding one and no handler), with the
    path to quote in messages; None for a handler path."""
    if is_template(target):
        return target, path
    if target.is_dir():
        found = next((target / name for name in TEMPLATE_FILE_NAMES if (target / name).is_file()), None)
        has_handler = any((target / n).is_file() for n in HANDLER_FILE_NAMES) or _bootstrap_in(target) is not None
        if found is not None and (function is not None or not has_handler):
            return found, os.path.join(path, found.name)
    if function is not None:
        raise ConfigError(f"--function {function}: only with a SAM template (template.yaml); {path} is not one")
    return None


def resolve_function(
    path: str,
    *,
    handler: Optional[str] = None,
    timeout_s: Optional[int] = None,
    memory_mb: Optional[int] = None,
    extensions_dir: Optional[str] = None,
    env_pairs: Sequence[str] = (),
    env_file: Optional[str] = None,
    python: Optional[str] = None,
    bootstrap: Optional[str] = None,
    layers: Sequence[str] = (),
    function: Optional[str] = None,
    env_vars: Optional[str] = None,
    env: Mapping[str, str] = MappingProxyType({}),
    report: Callable[[str], None] = _no_report,
) -> FunctionConfig:
    """The function at `path` (a handler file, its folder, a custom runtime's bootstrap, or a SAM template with
    `function` its logical ID) as the options describe it.

    Each option that is None was not given: the template's value, else the default, is used. Variables, from
    lowest to highest: the template's, `env` (a scenario's table), `env_vars` (SAM's file), `env_file`, `env_pairs`.
    What was left out or chosen on the user's behalf (a value only CloudFormation knows, a virtualenv found
    next to the handler) is told through `report`, one line each.
    """
    target = Path(path).expanduser()
    if not target.exists():
        raise ConfigError(f"{path}: no such file or directory")
    target = target.resolve()
    template = _template_for(target, path, function)
    fn: Optional[TemplateFunction] = None
    if template is not None:
        from lambdatui.sam_template import read_function

        fn = read_function(template[0], function, template[1])
    timeout_s = next(v for v in (timeout_s, fn and fn.timeout_s, DEFAULT_TIMEOUT_S) if v is not None)
    memory_mb = next(v for v in (memory_mb, fn and fn.memory_mb, DEFAULT_MEMORY_MB) if v is not None)
    if not MIN_TIMEOUT_S <= timeout_s <= MAX_TIMEOUT_S:
        raise ConfigError(f"--timeout {timeout_s}: Lambda allows {MIN_TIMEOUT_S} to {MAX_TIMEOUT_S} seconds")
    if not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB:
        raise ConfigError(f"--memory {memory_mb}: Lambda allows {MIN_MEMORY_MB} to {MAX_MEMORY_MB} MB")

    if fn is not None and template is not None:
        code_dir = fn.code_dir
        runtime, resolved_handler = _runtime_for_template(fn, template[1], handler, python, bootstrap, report)
        name = fn.name
    else:
        code_dir = target if target.is_dir() else target.parent
        runtime, resolved_handler = _runtime_for_path(path, target, code_dir, handler, python, bootstrap, report)
        name = code_dir.name or "function"
    if "." not in resolved_handler and runtime.ours:
        raise ConfigError(f"--handler {resolved_handler!r}: expected module.function")

    variables: dict[str, str] = {}
    later: list[str] = []  # told after the template's own lines
    if fn is not None:
        check_env_not_reserved(fn.env, f"{template[1]}: {fn.logical_id}: Environment.Variables")  # type: ignore[index]
        variables.update(fn.env)
    variables.update(env)
    if env_vars:
        from lambdatui.env_vars import load_env_vars

        sam_file = load_env_vars(env_vars)
        from_sam = sam_file.for_function(fn.logical_id if fn is not None else name)
        check_env_not_reserved(from_sam, sam_file.origin)
        if fn is not None:
            added = [k for k in from_sam if k not in fn.env and k not in fn.unresolved_env]
            if added:
                later.append(f"{sam_file.origin}: {', '.join(added)} not in {fn.logical_id}'s Environment.Variables: "
                             "set all the same (sam local sets only the variables a template declares)")
        variables.update(from_sam)
    if env_file:
        from_file = load_env_file(Path(env_file), name)
        check_env_not_reserved(from_file, f"--env-file {env_file}")
        variables.update(from_file)
    pairs = parse_env_pairs(env_pairs)
    check_env_not_reserved(pairs, "--env")
    variables.update(pairs)

    template_layers: tuple[Path, ...] = ()
    if fn is not None and template is not None:
        for note in fn.notes:
            report(note)
        for variable, what in fn.unresolved_env.items():
            if variable not in variables:
                report(f"{template[1]}: {fn.logical_id}: {variable} is {what}, which only CloudFormation can "
                       "resolve: left out (give it with --env-vars or --env)")
        template_layers = fn.layers
    for line in later:
        report(line)
    given_layers = check_layers(layers)
    if len(template_layers) + len(given_layers) > MAX_LAYERS:
        raise ConfigError(f"{len(template_layers)} layer(s) from the template and {len(given_layers)} from --layer: "
                          f"Lambda attaches at most {MAX_LAYERS} to a function")
    return FunctionConfig(
        name=name,
        code_dir=code_dir,
        handler=resolved_handler,
        runtime=runtime,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        extensions=_discover_extensions(Path(extensions_dir).resolve() if extensions_dir else None, code_dir),
        env=variables,
        layers=(*template_layers, *given_layers),
    )
