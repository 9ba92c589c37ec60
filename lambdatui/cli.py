"""`lambdatui` command line: the debugger (`lambdatui PATH`) and the headless modes `invoke`, `serve`, `replay`."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NoReturn, Optional, Sequence, TypeVar

from lambdatui.cli_help import mistaken_mode
from lambdatui.entry import save_caches
from lambdatui.cli_parser import MODES, build_debugger_parser, build_parser
from lambdatui.collector import loading
from lambdatui.config import FunctionConfig, resolve_function
from lambdatui.config_error import ConfigError
from lambdatui.event_input import read_event
from lambdatui.fleet_options import check_runtime_concurrency, fleet_options
from lambdatui.listen_address import check_listen_address, check_url_port

if TYPE_CHECKING:  # the scenario package is replay's: `invoke` and `serve` start without importing it
    from lambdatui.host.early_start import EarlyStart
    from lambdatui.scenario.model import FunctionSettings
    from lambdatui.scenario.record import Recorder

T = TypeVar("T")

LOOPBACK = "127.0.0.1"
EXIT_OK, EXIT_FUNCTION_ERROR, EXIT_USAGE = 0, 1, 2

def replay_options(args: argparse.Namespace) -> list[str]:
    """The options a recording's replay needs again: the ones its [function] table has no key for."""
    options: list[str] = []
    # --env and --env-file are not among them: their variables are written into [function.env].
    # --env-vars is not among them either: the variables it set are written too.
    for flag, value in (("--function", args.function), ("--extensions", args.extensions), ("--python", args.python),
                        ("--bootstrap", args.bootstrap)):
        if value:
            options += [flag, value]
    for layer in args.layer:
        options += ["--layer", layer]
    for overrides in args.parameter_overrides:  # the template's values they chose are not in [function]
        options += ["--parameter-overrides", overrides]
    return options


def _first(*values: Optional[T]) -> Optional[T]:
    return next((v for v in values if v is not None), None)


def say(text: str) -> None:
    """One line of lambdatui's own on stderr, before anything runs (a value left out, an interpreter chosen)."""
    tell(f"lambdatui: {text}")


def tell(text: str) -> None:
    """lambdatui's own line (or lines: a template's functions, listed) on stderr. What they quote of a template, an
    env file or a scenario (a name, a handler) is shown, never obeyed: an escape sequence in a cloned project's
    template must not reach the terminal (host/console.printable, as for every log line)."""
    from lambdatui.host.console import printable  # only when there is something to say: it imports the facts

    print("\n".join(printable(line) for line in text.split("\n")), file=sys.stderr, flush=True)


def function_config(args: argparse.Namespace, scenario: Optional[FunctionSettings] = None,
                    report: Callable[[str], None] = say) -> FunctionConfig:
    """The function as the options describe it; a scenario's [function] table, then a SAM template, fill in what
    was not given. `report` hears lambdatui's notes about it (stderr by default)."""
    return resolve_function(
        args.path,
        handler=args.handler or (scenario.handler if scenario else None),
        timeout_s=_first(args.timeout, scenario.timeout if scenario else None, None),
        memory_mb=_first(args.memory, scenario.memory if scenario else None, None),
        extensions_dir=args.extensions,
        env_pairs=args.env,
        env_file=args.env_file,
        python=args.python,
        bootstrap=args.bootstrap,
        layers=args.layer,
        function=args.function,
        env_vars=args.env_vars,
        parameter_overrides=args.parameter_overrides,
        # --env, --env-file and --env-vars win, variable by variable, over the scenario's table
        env=scenario.env if scenario else {},
        report=report,
    )


def die_of_second_signal() -> None:
    """A run stopped by a second signal ends killed by it, once its output and recording are written (the runner,
    never imported here before a run: it brings trio)."""
    runner = sys.modules.get("lambdatui.runner")
    if runner is not None:
        runner.die_of_second_signal()


def _exit_now(code: int) -> NoReturn:
    """End the `invoke` command at once: everything it started has ended and its output is written, and the
    interpreter's teardown (trio's and the modules') would only add 50-100 ms to every scripted call."""
    for stream in (sys.stdout, sys.stderr):  # None where the caller closed it (`>&-`)
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    save_caches()
    die_of_second_signal()
    os._exit(code)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv_given = argv
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv and argv[0] in MODES else None)
    if argv and argv[0] not in MODES and not argv[0].startswith("-"):
        mistaken = mistaken_mode(argv, MODES)
        if mistaken is not None:
            say(mistaken)
            return EXIT_USAGE
        return _debugger(build_debugger_parser().parse_args(argv))
    args = parser.parse_args(argv)
    if args.mode is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.mode == "replay":
            replayed = _replay(args)
            die_of_second_signal()
            return replayed
        config = function_config(args)
        if args.mode == "invoke":
            if args.repeat < 1:
                raise ConfigError(f"--repeat {args.repeat}: must be at least 1")
            check_runtime_concurrency(config.env, 0)  # invoke runs one on-demand environment
            event = read_event(args.event)
            with loading():
                from lambdatui.host.early_start import started_early  # before the heavy imports: they overlap its Init

            with started_early(config, not args.snapstart) as early:  # SnapStart's env #1 is its snapshot
                return _invoke(args, config, event, early, argv_given is None)
        if args.mode == "serve":
            check_listen_address(args.host, args.port)
            check_url_port(args.host, args.url_port, args.port)
            recorder = _recorder(args, config)
            fleet = fleet_options(args, config.env)
            alone = not (fleet.provisioned or fleet.snapstart or fleet.max_concurrency)
            with loading():
                from lambdatui.host.early_start import started_early

            with started_early(config, alone) as early:
                with loading():
                    from lambdatui.headless import run_serve
                served = run_serve(config, args.host, args.port, args.shutdown_grace, fleet=fleet,
                                   url_port=args.url_port, early=early, recorder=recorder)
            if recorder is not None:
                write_recording(recorder)  # once stopped: the accepted Event invokes have run, or are named
            die_of_second_signal()
            return served
    except ConfigError as exc:
        say(str(exc))
        return EXIT_USAGE
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"lambdatui: port {getattr(args, 'port', '?')} is already in use on {getattr(args, 'host', '')}: "
                  "choose another with --port", file=sys.stderr)
            return EXIT_USAGE
        raise
    return EXIT_USAGE


def _invoke(args: argparse.Namespace, config: FunctionConfig, event: bytes, early: Optional[EarlyStart],
            exit_at_once: bool) -> int:
    with loading():
        from lambdatui.headless import run_invoke

    recorder = _recorder(args, config)
    exit_code = run_invoke(config, event, args.repeat, recorder=recorder, snapstart=args.snapstart, early=early)
    if recorder is not None:
        write_recording(recorder)
    if exit_at_once:
        _exit_now(exit_code)
    return exit_code


def _debugger(args: argparse.Namespace) -> int:
    from lambdatui.run_folders import state_root
    from lambdatui.sam_template.reader import ChooseFunction

    try:
        notes: list[str] = []  # said in the debugger's log: stderr is behind its screen
        try:
            config = function_config(args, report=notes.append)
        except ChooseFunction as choice:
            if not (sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()):
                raise  # no one to ask: the list and exit 2, as in the headless modes
            from lambdatui.ui.screens.function_picker import pick_function

            args.function = pick_function(choice.origin, choice.choices, _theme(args))
            if args.function is None:
                raise ConfigError(f"no function chosen from {choice.origin}") from None
            notes.clear()
            config = function_config(args, report=notes.append)
        event = read_event(args.event) if args.event else None
        if args.record:
            check_record_path(args.record)
        if args.port is not None:
            check_listen_address(args.host, args.port)
        check_url_port(LOOPBACK, args.url_port, args.port)
        fleet = fleet_options(args, config.env)
        state_root()  # no folder for the runs is one line here, not a traceback once the debugger runs
        # Here, after the checks that need none of it: a theme is Textual's (~0.2 s of imports), and a refusal of
        # another option need not wait for it.
        theme = _theme(args)
        if not _on_a_terminal():
            raise ConfigError("the debugger needs a terminal to draw on and read keys from (its standard input, "
                              "output and error are not all one): without one, run 'lambdatui invoke PATH' or "
                              "'lambdatui serve PATH'")
    except ConfigError as exc:
        say(str(exc))
        return EXIT_USAGE
    with loading():
        from lambdatui.tui import run_tui

    return run_tui(config, theme=theme, invoke_host=args.host, invoke_port=args.port, url_port=args.url_port,
                   record=Path(args.record) if args.record else None, handler_given=args.handler is not None,
                   function_path=args.path, replay_options=replay_options(args),
                   event=event, fleet=fleet, notes=notes)


def _theme(args: argparse.Namespace) -> str:
    """The theme the debugger is to use, by the name given; raises ConfigError (an unknown name)."""
    from lambdatui.ui.themes import ThemeError, palette_themes, resolve_theme_name

    try:
        return resolve_theme_name(args.theme, palette_themes())
    except ThemeError as exc:
        raise ConfigError(str(exc)) from None


def _on_a_terminal() -> bool:
    """Else the debugger would draw into a file or a pipe (Textual draws on standard error) and wait forever for keys;
    a Textual driver named in the environment (textual-serve's, a browser's) brings a screen of its own."""
    return bool(os.environ.get("TEXTUAL_DRIVER")) or all(s is not None and s.isatty()
                                                         for s in (sys.stdin, sys.stdout, sys.stderr))


def _replay(args: argparse.Namespace) -> int:
    from lambdatui.processes.filesystem import layer_extension_names
    from lambdatui.run_folders import state_root
    from lambdatui.scenario.fleet_settings import check_managed_expectations, fill_fleet_options
    from lambdatui.scenario.parse import ScenarioError, check_targets, load_scenario

    if args.path.endswith(".toml") and not args.scenario.endswith(".toml"):
        raise ConfigError(f"replay {args.path} {args.scenario}: the function comes first, then its scenario: "
                          f"lambdatui replay {args.scenario} {args.path}")
    try:
        scenario = load_scenario(args.scenario)
        config = function_config(args, scenario.function)
        # Extensions in layers (/opt/extensions) are targets too, though they are only found once extracted.
        check_targets(scenario, (*config.extension_names, *layer_extension_names(config.layers)), config.runtime.ours)
        fill_fleet_options(args, scenario.function)
        fleet = fleet_options(args, config.env)
        check_managed_expectations(scenario, fleet.max_concurrency)
        state_root()  # no folder for the runs is one line here, not a traceback from inside the run
    except ScenarioError as exc:
        tell(str(exc))  # FILE:LINE: message, as compilers write it, so editors can jump there
        return EXIT_USAGE
    with loading():
        from lambdatui.headless import run_replay

    return run_replay(config, scenario, verbose=args.verbose, fleet=fleet)


def _recorder(args: argparse.Namespace, config: FunctionConfig) -> Optional[Recorder]:
    """`--record FILE`'s recorder (`invoke`, `serve`), once FILE is known to be a place it may write; else None."""
    if not args.record:
        return None
    check_record_path(args.record)
    from lambdatui.scenario.record import Recorder

    return Recorder(config, handler_given=args.handler is not None, function_path=args.path,
                    scenario_path=args.record, options=replay_options(args))


def check_record_path(path: str) -> None:
    """Where a recording may go: a folder that exists, and no file there yet (a recording is never overwritten:
    it may be the only copy of the reproduction of a bug)."""
    if not Path(path).resolve().parent.is_dir():
        raise ConfigError(f"--record {path}: no such directory")
    if os.path.lexists(path):
        raise ConfigError(f"--record {path}: already exists; choose another file, or remove it first")


def write_recording(recorder: Recorder) -> None:
    """The recording, at the path `--record` gave (a disk that fails is one line, not a traceback)."""
    path = str(recorder.scenario_path)
    try:
        Path(path).write_text(recorder.to_toml(), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--record {path}: {exc.strerror}") from None
    tell(f"[lambdatui] recorded {path}: replay it with '{recorder.replay_command()}'")
