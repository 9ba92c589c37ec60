"""What to run and how: the function's configuration, resolved from the command line into one frozen value.

Every mode (TUI, invoke, serve, replay) takes the same options; they are parsed in `cli.py` and turned
into a `FunctionConfig` here, where each bad input becomes one `ConfigError` line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Sequence

from lambdatui.config_error import ConfigError
from lambdatui.env_files import load_env_file, parse_env_pairs
from lambdatui.layer_checks import layer_problem
from lambdatui.lambda_limits import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
    MAX_LAYERS,
    MAX_MEMORY_MB,
    MAX_TIMEOUT_S,
    MIN_MEMORY_MB,
    MIN_TIMEOUT_S,
    check_env_names,
    check_env_size,
    function_name_for_folder,
)
from lambdatui.model.error_types import MAX_EXTENSIONS
from lambdatui.runtime_choice import (
    HANDLER_FILE_NAMES,
    RuntimeCommand,
    bootstrap_in,
    runtime_for_path,
    runtime_for_template,
    runtime_mismatch,
)

if TYPE_CHECKING:
    from lambdatui.sam_template.reader import TemplateFunction

# A SAM template: lambdatui PATH/template.yaml, or a project folder holding one (read by the sam_template package).
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".template")
TEMPLATE_FILE_NAMES = ("template.yaml", "template.yml", "template.json")
SAM_BUILD_TEMPLATE = os.path.join(".aws-sam", "build", "template.yaml")


@dataclass(frozen=True)
class FunctionConfig:
    """The function to run, as the command line gives it: code, handler, runtime, limits, extensions,
    environment variables and layers."""

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
    # What the host tells at start-up, in every mode, about how PATH was read (a template beside it not used).
    notes: tuple[str, ...] = field(default=(), compare=False)
    # A SAM template's folder, where SAM keeps the project's `events/`; None for a handler given directly.
    project_dir: Optional[Path] = field(default=None, compare=False)
    # The template's other functions, by logical ID and FunctionName (an invoke naming one is not this function's) ->
    # the logical ID, which `--function` takes to serve that one.
    siblings: Mapping[str, str] = field(default_factory=dict)
    # Variables of `env` that Lambda sets itself from the template's LoggingConfig (AWS_LAMBDA_LOG_FORMAT...), which
    # no variable of the user's replaced: not the function's Environment.Variables, so not in their 4 KB.
    platform_set: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # The backstop for every way a configuration is built (a door that checks first can name its source).
        check_env_names(self.env, "environment variables")
        # The size is the one check of this kind no door makes first: only the merged variables have a size to
        # measure, and these are they, from however many sources the door read.
        check_env_size({k: v for k, v in self.env.items() if k not in self.platform_set},
                       "environment variables (every source together)")

    @property
    def extension_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.extensions)


def _discover_extensions(extensions_dir: Optional[Path], code_dir: Path, notes: list[str]) -> tuple[Path, ...]:
    if extensions_dir is None:
        candidate = code_dir / "extensions"
        if not candidate.is_dir() or (candidate / "__init__.py").is_file():
            # No folder, or one that is a Python package the handler imports (`from extensions import db`), which
            # Lambda never launches: only /opt/extensions holds external extensions.
            return ()
        if _python_modules_only(candidate):  # a namespace package (no __init__.py) of the function's, as above
            notes.append(f"{candidate} holds Python modules only, none executable: taken for the function's own code "
                         "(Lambda launches only /opt/extensions), not launched as extensions; --extensions DIR "
                         "launches a folder's files")
            return ()
        extensions_dir = candidate
    elif not extensions_dir.is_dir():
        raise ConfigError(f"--extensions {extensions_dir}: not a directory")
    # Lambda launches every regular file in /opt/extensions, in name order, each by its own path there (lambda-spec
    # §2.6): a symbolic link is kept, not resolved, so that the extension is started as and named after the link.
    found = tuple(sorted(p for p in extensions_dir.iterdir() if p.is_file()))
    if len(found) > MAX_EXTENSIONS:
        raise ConfigError(f"{extensions_dir} holds {len(found)} extensions; Lambda allows at most {MAX_EXTENSIONS}")
    return found


def _python_modules_only(folder: Path) -> bool:
    files = [p for p in folder.iterdir() if p.is_file()]
    return bool(files) and all(p.suffix == ".py" and not os.access(p, os.X_OK) for p in files)


def check_layers(paths: Sequence[str], origin: str = "--layer") -> tuple[Path, ...]:
    """Each layer exists and is a folder or a .zip archive Lambda could publish; no more than Lambda attaches."""
    layers: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise ConfigError(f"{origin} {given}: no such file or directory")
        problem = layer_problem(path)
        if problem:
            raise ConfigError(f"{origin} {given}: {problem}")
        layers.append(path.resolve())
    if len(layers) > MAX_LAYERS:
        raise ConfigError(f"{len(layers)} layers: Lambda attaches at most {MAX_LAYERS} to a function")
    return tuple(layers)


def _no_report(text: str) -> None:
    pass


def handler_hint(handler: str, code_dir: Path) -> Optional[str]:
    """What a newcomer most likely meant by a handler Lambda will fail to find (None: nothing looks amiss)."""
    module, _, function = handler.rpartition(".")
    if function == "py" and (code_dir / (module.replace(".", "/") + ".py")).is_file():
        return (f"Handler {handler!r} names a function 'py' in module {module!r}: a handler is module.function "
                f"(for {module}.py, e.g. {module}.handler), so Lambda will find no handler")
    if "." in module and (code_dir / (module + ".py")).is_file():
        return (f"Handler {handler!r}: Python imports module {module!r} as {module.rpartition('.')[2]!r} in a package "
                f"{module.rpartition('.')[0]!r}, not the file {module}.py: name the file with no dot before '.py'")
    package, _, leaf = module.rpartition(".")
    parts = tuple(package.split(".")) if package else ()
    if (parts and code_dir.parts[-len(parts):] == parts and (code_dir / f"{leaf}.py").is_file()
            and not code_dir.joinpath(*parts, f"{leaf}.py").is_file()):
        # `lambdatui pkg/sub/mod.py --handler pkg.sub.mod.handler`: the file's folder became /var/task, where
        # Lambda looks for pkg/ (the root of the deployment package), not in it
        return (f"Handler {handler!r}: module {module!r} is imported from the code's root (/var/task), and "
                f"{code_dir} is its file's own folder: run lambdatui on {code_dir.parents[len(parts) - 1]}, the "
                f"folder that holds {parts[0]}/")
    return None


def is_template(path: Path) -> bool:
    """A SAM template file (YAML, or JSON named template*.json, or *.template.json as `cdk synth` names its stacks')."""
    suffix, name = path.suffix.lower(), path.name.lower()
    return path.is_file() and (suffix in TEMPLATE_SUFFIXES or (
        suffix == ".json" and (name.startswith("template") or name.endswith(".template.json"))))


def _template_for(target: Path, path: str, function: Optional[str],
                  notes: list[str]) -> Optional[tuple[Path, str]]:
    """The SAM template `target` names (a template file, or a folder holding one and no handler), with the
    path to quote in messages; None for a handler path (a template beside the handler is then named in `notes`)."""
    if is_template(target):
        built = target.parent / SAM_BUILD_TEMPLATE
        if built.is_file() and built != target:  # sam build's copy holds the dependencies; the source does not
            notes.append(f"{path} runs the source as written; 'sam build' wrote "
                         f"{os.path.join(os.path.dirname(path), SAM_BUILD_TEMPLATE)}, with its dependencies (run "
                         f"lambdatui on that one, or on the project's folder, for them)")
        return target, path
    if target.is_dir():
        found = next((target / name for name in TEMPLATE_FILE_NAMES if (target / name).is_file()), None)
        has_handler = any((target / n).is_file() for n in HANDLER_FILE_NAMES) or bootstrap_in(target) is not None
        built = target / SAM_BUILD_TEMPLATE
        if found is not None and built.is_file() and (function is not None or not has_handler):
            # A project folder runs what `sam build` made of it, as `sam local invoke` does when given no template.
            shown = os.path.join(path, SAM_BUILD_TEMPLATE)
            notes.append(f"{shown} runs: what 'sam build' wrote, as sam local runs it (give "
                         f"{os.path.join(path, found.name)} itself to run the source)")
            return built, shown
        if found is not None and (function is not None or not has_handler):
            return found, os.path.join(path, found.name)
        if found is not None:  # the handler wins, but a user who meant the template must learn how to ask for it
            notes.append(f"{os.path.join(path, found.name)} was not used: {path} holds a handler, which runs as "
                         f"it is (--function LOGICAL_ID runs the template's function instead).")
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
    parameter_overrides: Sequence[str] = (),
    env: Mapping[str, str] = MappingProxyType({}),
    report: Callable[[str], None] = _no_report,
) -> FunctionConfig:
    """The function at `path` (a handler file, its folder, a custom runtime's bootstrap, or a SAM template with
    `function` its logical ID) as the options describe it.

    Each option that is None was not given: the template's value, else the default, is used. Variables, from
    lowest to highest: the template's, `env` (a scenario's table), `env_vars` (SAM's file), `env_file`, `env_pairs`.
    What the template left out or added to (a value only CloudFormation knows, a variable it does not declare) is
    told through `report`, one line each; the interpreter chosen is named by the runtime's `interpreter_origin`.
    """
    target = Path(path).expanduser()
    notes: list[str] = []
    try:
        if not target.exists():
            raise ConfigError(f"{path}: no such file or directory")
        target = target.resolve()
        template = _template_for(target, path, function, notes)
    except PermissionError as exc:  # a folder on the way this user may not enter, or one it may not list
        raise ConfigError(f"cannot read {exc.filename or path}: {exc.strerror}") from None
    fn: Optional[TemplateFunction] = None
    if template is not None:
        from lambdatui.sam_template.reader import read_function

        from lambdatui.sam_template.parameters import parse_overrides

        fn = read_function(template[0], function, template[1], parse_overrides(parameter_overrides))
    timeout_s = next(v for v in (timeout_s, fn and fn.timeout_s, DEFAULT_TIMEOUT_S) if v is not None)
    memory_mb = next(v for v in (memory_mb, fn and fn.memory_mb, DEFAULT_MEMORY_MB) if v is not None)
    if not MIN_TIMEOUT_S <= timeout_s <= MAX_TIMEOUT_S:
        raise ConfigError(f"--timeout {timeout_s}: Lambda allows {MIN_TIMEOUT_S} to {MAX_TIMEOUT_S} seconds")
    if not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB:
        raise ConfigError(f"--memory {memory_mb}: Lambda allows {MIN_MEMORY_MB} to {MAX_MEMORY_MB} MB")

    given_layers = check_layers(layers)  # a custom runtime's bootstrap may be a layer's
    template_notes: list[str] = []  # told with the template's own lines
    if fn is not None and template is not None:
        code_dir = fn.code_dir
        runtime, resolved_handler = runtime_for_template(fn, template[1], handler, python, bootstrap, given_layers)
        if handler is None and fn.handler_unresolved is not None:  # a custom runtime runs on without it: said
            template_notes.append(f"{template[1]}: {fn.logical_id}: Handler is {fn.handler_unresolved}, which only "
                                  f"CloudFormation can resolve: _HANDLER is {resolved_handler} (--handler gives another)")
        mismatch = runtime_mismatch(fn.runtime, runtime)
        if mismatch is not None:  # a start-up note, which the debugger's log shows too
            notes.append(f"{template[1]}: {fn.logical_id}: {mismatch}")
        name = fn.name
    else:
        code_dir = target if target.is_dir() else target.parent
        runtime, resolved_handler = runtime_for_path(path, target, code_dir, handler, python, bootstrap,
                                                     given_layers)
        name = function_name_for_folder(code_dir.name)
        if code_dir.name and name != code_dir.name:
            notes.append(f"The function is named {name}: its folder's name, {code_dir.name!r}, is not one Lambda allows "
                         "(letters, digits, - and _, 64 at most)")
    if "." not in resolved_handler and runtime.ours:
        if handler is None and fn is not None and template is not None:
            raise ConfigError(f"{template[1]}: {fn.logical_id}: Handler {resolved_handler!r}: expected module.function")
        raise ConfigError(f"--handler {resolved_handler!r}: expected module.function")
    if runtime.ours:
        hint = handler_hint(resolved_handler, code_dir)
        if hint is not None:  # Lambda's own error follows at Init, faithfully; this says what it means
            notes.append(hint)

    variables: dict[str, str] = {}  # the user's, from every source; LoggingConfig's go under them at the end
    later: list[str] = []  # told after the template's own lines
    if fn is not None:
        check_env_names(fn.env, f"{template[1]}: {fn.logical_id}: Environment.Variables")  # type: ignore[index]
        variables.update(fn.env)
    variables.update(env)
    if env_vars:
        from lambdatui.env_vars import load_env_vars

        sam_file = load_env_vars(env_vars)
        # sam local takes the block of the logical ID, else of the FunctionName: one block, never both.
        names = (fn.logical_id, fn.name) if fn is not None else (name,)
        from_sam = sam_file.for_function(*names)
        check_env_names(from_sam, sam_file.origin)
        own = sam_file.block_for(*names)
        passed_over = [n for n in dict.fromkeys(names) if n != own and sam_file.blocks.get(n)]
        if own is not None and passed_over:
            later.append(f"{sam_file.origin}: block {passed_over[0]!r} not used: {own!r} is this function's (sam "
                         "local takes one block, by logical ID first, then FunctionName)")
        if fn is not None:
            added = [k for k in from_sam if k not in fn.env and k not in fn.unresolved_env]
            if added:
                later.append(f"{sam_file.origin}: {', '.join(added)} not in {fn.logical_id}'s Environment.Variables: "
                             "set all the same (sam local sets only the variables a template declares)")
        variables.update(from_sam)
    if env_file:
        # SAM's shape is matched by the logical ID, as sam local matches it, else by the function's name.
        from_file = load_env_file(Path(env_file), (fn.logical_id, name) if fn is not None else (name,))
        check_env_names(from_file, f"--env-file {env_file}")
        variables.update(from_file)
    pairs = parse_env_pairs(env_pairs)
    check_env_names(pairs, "--env")
    variables.update(pairs)  # their size, every source together, is FunctionConfig's to check
    # Under every variable the user gave: LoggingConfig only sets what Lambda would, and a user who names one of them
    # means to change it; the ones left are Lambda's own (FunctionConfig.platform_set).
    logging_env = fn.logging_env if fn is not None else {}
    platform_set = tuple(name for name in logging_env if name not in variables)

    template_layers: tuple[Path, ...] = ()
    if fn is not None and template is not None:
        for note in (*fn.notes, *template_notes):
            for key, value in logging_env.items():  # the LoggingConfig line says what the runtime gets: yours wins
                if variables.get(key, value) != value:
                    note = note.replace(f"{key}={value}", f"{key}={variables[key]} (yours)")
            report(note)
        for variable, what in fn.unresolved_env.items():
            if variable not in variables:
                report(f"{template[1]}: {fn.logical_id}: {variable} is {what}, which only CloudFormation can "
                       "resolve: left out (give it with --env-vars or --env)")
        template_layers = fn.layers
    for line in later:
        report(line)
    if len(template_layers) + len(given_layers) > MAX_LAYERS:
        raise ConfigError(f"{len(template_layers)} layer(s) from the template and {len(given_layers)} from --layer: "
                          f"Lambda attaches at most {MAX_LAYERS} to a function")
    all_layers = (*template_layers, *given_layers)
    repeated = next((layer for i, layer in enumerate(all_layers) if layer in all_layers[:i]), None)
    if repeated is not None:  # Lambda refuses a function that names one layer twice (and overlayfs cannot stack it)
        raise ConfigError(f"layer {repeated} is attached twice (from the template's Globals and the function, or "
                          "--layer): Lambda refuses a function that lists the same layer twice")
    extensions = _discover_extensions(Path(extensions_dir).resolve() if extensions_dir else None, code_dir, notes)
    return FunctionConfig(
        name=name,
        code_dir=code_dir,
        handler=resolved_handler,
        runtime=runtime,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        extensions=extensions,
        env={**logging_env, **variables},
        layers=(*template_layers, *given_layers),
        notes=tuple(notes),
        project_dir=template[0].parent if template is not None else None,
        siblings=fn.siblings if fn is not None else {},
        platform_set=platform_set,
    )
