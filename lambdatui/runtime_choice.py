"""Which runtime runs the function, and with which _HANDLER: lambdatui's own Python runtime (and the interpreter
it runs in), or a custom runtime's bootstrap, for a handler path or a SAM template's Runtime and Handler."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from lambdatui.config_error import ConfigError
from lambdatui.interpreter_probe import Version, resolve

if TYPE_CHECKING:
    from lambdatui.sam_template.reader import TemplateFunction

BOOTSTRAP_DIR = Path(__file__).resolve().parent / "bootstrap"
HANDLER_FILE_NAMES = ("handler.py", "lambda_function.py", "app.py", "main.py", "index.py")


@dataclass(frozen=True)
class RuntimeCommand:
    """How to start the function's runtime: lambdatui's own Python bootstrap, or a custom runtime's bootstrap."""

    argv: tuple[str, ...]
    ours: bool  # our Python bootstrap: it speaks the private channel (globals, init gate, stacks)
    description: str  # for INIT_START's Runtime Version
    interpreter: str = ""  # our runtime's Python, which the header and a start-up line name
    interpreter_origin: str = ""  # why that one: "--python", "the .venv next to the handler", ...
    python_version: Optional[Version] = None  # the interpreter's (major, minor), when known (interpreter_probe.py)

    @property
    def version(self) -> str:
        return self.description


# The names a handler function usually has, by language: Python's, then Node's (SAM's Node sample: app.lambdaHandler).
_PYTHON_HANDLER_NAMES = ("handler", "lambda_handler")
_NODE_HANDLER_NAMES = ("handler", "lambdaHandler", "lambda_handler")
NODE_SUFFIXES = (".js", ".mjs", ".cjs", ".ts")
# Code files a custom runtime's _HANDLER may name, and the stems preferred when a folder holds several. `.sh`: AWS's
# "Building a custom runtime" tutorial sources function.sh from its bash bootstrap (_HANDLER function.handler).
_CODE_SUFFIXES = (".py", *NODE_SUFFIXES, ".rb", ".sh")
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
            f"README's 'Node.js and other languages' says more), {then}")


def other_runtime_message(origin: str, runtime: str, folder: Path) -> str:
    if runtime.startswith("nodejs"):
        return node_message(f"{origin} (Runtime {runtime})", folder, "and lambdatui runs it for this template")
    return (f"{origin}: Runtime {runtime}: lambdatui's own runtime is Python's; any other language runs as a custom "
            f"runtime: an executable 'bootstrap' in {folder} that starts the language's runtime interface client "
            "(or --bootstrap COMMAND)")


@dataclass(frozen=True)
class Interpreter:
    """The Python that runs lambdatui's own runtime, and why that one."""

    path: str
    origin: str  # why this one: "--python", "the active virtualenv", "the .venv next to the handler", ...
    version: Optional[Version] = None
    via: str = ""  # how `path` was found from the one chosen, when that was a shim or another script


def _unusable(venv: Path) -> Optional[str]:
    """Why the virtualenv at `venv` cannot run the function, or None when it can or is no virtualenv."""
    python = venv / "bin" / "python"
    if not ((venv / "pyvenv.cfg").is_file() or python.is_symlink()):
        return None  # a folder that merely has the name: nothing the user would expect to run the function
    if python.is_symlink() and not python.exists():
        # pyenv's version uninstalled, the system's Python upgraded, a project copied from another machine
        return f"its bin/python links to {os.path.realpath(python)}, which is gone"
    if not python.is_file():
        return "it has no bin/python"
    if not os.access(python, os.X_OK):
        return "its bin/python is not executable"
    if not (venv / "pyvenv.cfg").is_file():
        return "it has no pyvenv.cfg"
    return None


def _virtualenv_near(code_dir: Path) -> tuple[Optional[Interpreter], Optional[str]]:
    """A `.venv/` or `venv/` next to the handler, or one level up (a project's root), as most projects keep one; and
    the first one before it that cannot run, with why (the user's dependencies are there: passing it over without a
    word hides why they are missing)."""
    broken: Optional[str] = None
    for folder, where in ((code_dir, "next to the handler"), (code_dir.parent, "one level up from the handler")):
        for name in (".venv", "venv"):
            python = folder / name / "bin" / "python"
            try:
                # The venv's own path, not the interpreter it links to: that path is what makes it the venv's.
                if python.is_file() and os.access(python, os.X_OK) and (folder / name / "pyvenv.cfg").is_file():
                    return Interpreter(str(python), f"the {name} {where}"), broken
                why = _unusable(folder / name)
            except OSError as exc:  # another user's: its interpreter behind a folder closed to this one
                why = f"its bin/python cannot be reached ({exc.strerror or exc})"
            if why is not None and broken is None:
                broken = f"{folder / name} {where} cannot run: {why}"
    return None, broken


def python_interpreter(explicit: Optional[str], code_dir: Optional[Path] = None) -> Interpreter:
    """The interpreter that runs the function: --python, else the active virtualenv's, else one next to the
    handler (or one level up), else python3 on PATH; with its version, and through a shim the Python that the shim
    starts in the user's shell (interpreter_probe.resolve). A virtualenv near the handler passed over because it
    cannot run is named in the origin, with why."""
    chosen = _chosen_interpreter(explicit, code_dir)
    resolved = resolve(chosen.path, code_dir)
    return Interpreter(resolved.path, chosen.origin, resolved.version, resolved.via)


def _chosen_interpreter(explicit: Optional[str], code_dir: Optional[Path]) -> Interpreter:
    if explicit:
        found = shutil.which(explicit)
        if not found:
            raise ConfigError(f"--python {explicit}: {_why_not_found(explicit)}")
        # Absolute, as the user meant it: the runtime starts in the code's folder (/var/task), where a path relative
        # to the user's working directory (`--python .venv/bin/python`) names nothing. Not resolved: a virtualenv's
        # interpreter is a link, and its own path is what makes it the virtualenv's.
        return Interpreter(os.path.abspath(found), "--python")
    venv = os.environ.get("VIRTUAL_ENV")
    if venv and os.access(os.path.join(venv, "bin", "python"), os.X_OK):
        return Interpreter(os.path.join(venv, "bin", "python"), "the active virtualenv")
    broken: Optional[str] = None
    if code_dir is not None:
        near, broken = _virtualenv_near(code_dir)
        if near is not None:
            return _passing_over(near, broken)
    found = shutil.which("python3")
    if not found:
        raise ConfigError("no python3 on PATH: pass --python PATH to choose the interpreter that runs the function"
                          + (f" ({broken})" if broken else ""))
    return _passing_over(Interpreter(found, "python3 on PATH"), broken)


def _why_not_found(explicit: str) -> str:
    """Why `--python` names nothing this user can run: a path that is there but not theirs to run is not missing."""
    if os.sep not in explicit:
        return "no such interpreter on PATH"
    try:
        os.stat(explicit)
    except PermissionError:
        return "it cannot be reached: permission denied on the way (another user's folder?)"
    except OSError:
        return "no such interpreter"
    if not os.access(explicit, os.X_OK):
        return "it is not executable by this user (permission denied)"
    return "no such interpreter"


def _passing_over(chosen: Interpreter, broken: Optional[str]) -> Interpreter:
    return Interpreter(chosen.path, f"{chosen.origin}, because {broken}") if broken else chosen


def starts_through_a_script(interpreter: str) -> bool:
    """Whether `interpreter` is a script (`#!`) that finds the real interpreter and starts it, as pyenv's and asdf's
    shims do: every start of the runtime pays for that search first (pyenv's bash took ~60-80 ms a start here)."""
    try:
        with open(os.path.realpath(interpreter), "rb") as file:
            return file.read(2) == b"#!"
    except OSError:
        return False


def _custom_command(bootstrap: Optional[str]) -> Optional[tuple[str, ...]]:
    if not bootstrap:
        return None
    try:
        custom = tuple(shlex.split(bootstrap))
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise ConfigError(f"--bootstrap {bootstrap}: not a command line ({exc})") from None
    if not custom:
        raise ConfigError("--bootstrap: empty command")
    program = custom[0]
    if "/" in program and not os.path.isabs(program) and os.path.exists(program):
        # A path from where the command was typed (`--bootstrap ./run.sh`): the runtime starts in the code's folder
        # (/var/task), where it would name nothing. One that exists only there is left to mean that folder's.
        custom = (os.path.abspath(program), *custom[1:])
    return custom


def bootstrap_in(folder: Path) -> Optional[tuple[str, ...]]:
    candidate = folder / "bootstrap"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return (str(candidate),)
    return None


def _refuse_unexecutable_bootstrap(path: str, folder: Path) -> None:
    """A `bootstrap` that is there but not executable (an unzip or a checkout that dropped the mode) is the runtime the
    user meant: say that, rather than ask for a Python handler or for a bootstrap they have."""
    candidate = folder / "bootstrap"
    if candidate.is_file() and not os.access(candidate, os.X_OK):
        raise ConfigError(f"{path}: {candidate} is a custom runtime's bootstrap but is not executable (chmod +x)")


# Where a layer's bootstrap is run from: Lambda looks for a custom runtime's bootstrap in /var/task, then in /opt,
# where a layer puts it (AWS's custom runtime tutorial moves its bootstrap into a layer; PHP's Bref ships one).
OPT_BOOTSTRAP = "/opt/bootstrap"


def bootstrap_in_layers(layers: Sequence[Path]) -> Optional[tuple[str, ...]]:
    """(/opt/bootstrap,) when a layer (a folder, or a .zip by its listing) ships a `bootstrap`, else None. One that is
    not executable is the runtime too, as in Lambda: its start fails (Runtime.InvalidEntrypoint), saying why."""
    for layer in layers:
        if layer.is_dir():
            if (layer / "bootstrap").is_file():
                return (OPT_BOOTSTRAP,)
            continue
        import zipfile  # only for a zip layer

        try:
            with zipfile.ZipFile(layer) as zf:
                if "bootstrap" in zf.namelist():
                    return (OPT_BOOTSTRAP,)
        except (OSError, zipfile.BadZipFile):
            continue  # refused with its own message where the layers are checked
    return None


def runtime_mismatch(declared: Optional[str], runtime: RuntimeCommand) -> Optional[str]:
    """A template's `Runtime: python3.X` that the chosen interpreter is not: said, since a layer laid out for that
    version (python/lib/python3.X/site-packages) is then not on sys.path, and the code may use what it lacks."""
    wanted = re.fullmatch(r"python(\d+)\.(\d+)", declared or "")
    if wanted is None or not runtime.ours:
        return None
    have = runtime.python_version
    if have is None or have == (int(wanted.group(1)), int(wanted.group(2))):
        return None
    return (f"Runtime {declared}, but the function runs in Python {have[0]}.{have[1]} ({runtime.interpreter}, "
            f"{runtime.interpreter_origin}): --python chooses another")


def _our_runtime(python: Optional[str], code_dir: Path) -> RuntimeCommand:
    interpreter = python_interpreter(python, code_dir)
    origin = f"{interpreter.origin}; {interpreter.via}" if interpreter.via else interpreter.origin
    # Named at start-up by the host in every mode (the debugger's log included), and in the debugger's header.
    return RuntimeCommand((interpreter.path, str(BOOTSTRAP_DIR)), ours=True, description="python:3",
                          interpreter=interpreter.path, interpreter_origin=origin,
                          python_version=interpreter.version)


def _custom_runtime(argv: tuple[str, ...], runtime_name: Optional[str] = None) -> RuntimeCommand:
    description = "provided:al2023"
    if runtime_name and runtime_name.startswith("provided"):
        description = runtime_name.replace(".", ":", 1) if "." in runtime_name else "provided:al"
    return RuntimeCommand(argv, ours=False, description=description)


def _python_handler_in(folder: Path, handler: Optional[str]) -> bool:
    if handler is not None:
        module = handler.rpartition(".")[0].replace(".", "/").replace("//", "/")
        return (folder / f"{module}.py").is_file() or (folder / module / "__init__.py").is_file()
    return any((folder / name).is_file() for name in HANDLER_FILE_NAMES)


def runtime_for_path(path: str, target: Path, code_dir: Path, handler: Optional[str], python: Optional[str],
                     bootstrap: Optional[str], layers: Sequence[Path] = ()) -> tuple[RuntimeCommand, str]:
    """A handler file, its folder, or a bootstrap: which runtime runs it, with which _HANDLER. A folder with neither
    a bootstrap nor a Python handler runs the bootstrap a layer ships, at /opt/bootstrap."""
    custom = _custom_command(bootstrap)
    code_file: Optional[Path] = None
    if custom is None:
        if target.is_file() and target.name == "bootstrap":
            if not os.access(target, os.X_OK):
                raise ConfigError(f"{path}: a custom runtime's bootstrap must be executable (chmod +x)")
            custom = (str(target),)
        elif target.is_file() and target.suffix in NODE_SUFFIXES:
            # index.mjs with a bootstrap next to it: the bootstrap runs it, as Lambda would (_HANDLER index.handler).
            custom = bootstrap_in(code_dir)
            if custom is None:
                _refuse_unexecutable_bootstrap(path, code_dir)
                raise ConfigError(node_message(path, code_dir))
            code_file = target
        elif target.is_dir():
            custom = bootstrap_in(target)
            if custom is None and not _python_handler_in(target, handler):
                custom = bootstrap_in_layers(layers)
                if custom is None:
                    _refuse_unexecutable_bootstrap(path, target)
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


def runtime_for_template(fn: TemplateFunction, origin: str, handler: Optional[str], python: Optional[str],
                         bootstrap: Optional[str], layers: Sequence[Path] = ()) -> tuple[RuntimeCommand, str]:
    """The template's Runtime and Handler (--bootstrap and --handler win): Python runs in lambdatui's runtime,
    `provided.*` and every other language through the `bootstrap` in CodeUri, else a layer's (the template's or
    `layers`, from --layer) at /opt/bootstrap, with _HANDLER the template's."""
    runtime_name = fn.runtime or "python"
    where = f"{origin}: {fn.logical_id}"
    custom = _custom_command(bootstrap)
    if custom is None and not runtime_name.startswith("python"):
        custom = bootstrap_in(fn.code_dir) or bootstrap_in_layers((*fn.layers, *layers))
        if custom is None:
            _refuse_unexecutable_bootstrap(where, fn.code_dir)
            if runtime_name.startswith("provided"):
                raise ConfigError(f"{where}: Runtime {runtime_name} needs an executable 'bootstrap' in its CodeUri "
                                  f"({fn.code_dir}) or in a layer, or --bootstrap COMMAND")
            raise ConfigError(other_runtime_message(where, runtime_name, fn.code_dir))
    if custom is not None:
        return _custom_runtime(custom, runtime_name), handler or fn.handler or _custom_runtime_handler(fn.code_dir, None)
    resolved_handler = handler or fn.handler
    if resolved_handler is None and fn.handler_unresolved is not None:
        # The template has a Handler, which a deployment gives: "no Handler" would send the user looking for it.
        raise ConfigError(f"{where}: Handler is {fn.handler_unresolved}, which only CloudFormation can resolve, and a "
                          f".zip function needs one: pass --handler module.function")
    if resolved_handler is None:
        # CloudFormation refuses a .zip function without one: a guess here would serve what cannot deploy.
        raise ConfigError(f"{where}: no Handler: a .zip function needs one (CloudFormation refuses it without); "
                          f"set Handler: module.function, or pass --handler module.function")
    return _our_runtime(python, fn.code_dir), resolved_handler
