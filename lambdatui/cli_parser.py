"""The command line's parsers: the modes', and the debugger's (`lambdatui PATH`)."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn, Optional

from lambdatui.cli_help import REPLAY_DESCRIPTION, REPLAY_EPILOG
from lambdatui.fleet_options import SERVE_IDLE_SHUTDOWN_S, UNSET_FLEET_DEFAULTS, add_fleet_options
from lambdatui.lambda_limits import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S

MODES = ("invoke", "serve", "replay")


def add_function_options(parser: argparse.ArgumentParser) -> None:
    """The options every mode shares, in one place."""
    parser.add_argument("path", help="handler file (handler.py), its folder, a custom runtime 'bootstrap', "
                                     "or a SAM template (template.yaml)")
    group = parser.add_argument_group("function")
    group.add_argument("--function", metavar="LOGICAL_ID", help="the template's function to run (SAM templates)")
    group.add_argument("--handler", metavar="MODULE.FUNCTION",
                       help="default: the file's module, function 'handler' else 'lambda_handler'")
    # None means "not given": replay lets a scenario's [function] table fill it in before the defaults do.
    group.add_argument("--timeout", type=int, metavar="SECONDS",
                       help=f"function timeout, 1-900 (default: the template's, else {DEFAULT_TIMEOUT_S})")
    group.add_argument("--memory", type=int, metavar="MB",
                       help=f"memory size (default: the template's, else {DEFAULT_MEMORY_MB})")
    group.add_argument("--extensions", metavar="DIR", help="external extensions (default: extensions/ next to the handler)")
    group.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="environment variable (repeatable)")
    group.add_argument("--env-file", metavar="FILE",
                       help="JSON object, or SAM's {\"LogicalId\": {...}} / {\"Parameters\": {...}} shape")
    group.add_argument("--env-vars", metavar="FILE",
                       help="SAM's env file: its Parameters for every function, then the block named by the "
                            "function's logical ID, over the template's values (as 'sam local invoke --env-vars')")
    group.add_argument("--parameter-overrides", action="append", default=[], metavar="'KEY=VALUE ...'",
                       help="the template's Parameters, over their Default (as 'sam local invoke "
                            "--parameter-overrides'; repeatable)")
    group.add_argument("--python", metavar="PATH",
                       help="interpreter that runs the function (default: $VIRTUAL_ENV/bin/python, else a .venv "
                            "or venv next to the handler or one level up, else python3)")
    group.add_argument("--bootstrap", metavar="COMMAND", help="run this command as a custom runtime instead")
    group.add_argument("--layer", action="append", default=[], metavar="PATH",
                       help="a layer folder or .zip, merged read-only at /opt in the order given (repeatable, at most 5)")


def _grace(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds") from None
    if not 0 <= value < float("inf"):  # NaN too
        raise argparse.ArgumentTypeError(f"{text}: give seconds, 0 or more "
                                         "(0: name the accepted Event invokes at once)")
    return value


class OneLineErrors(argparse.ArgumentParser):
    """A usage error in one line, exit 2 (README): argparse's own printed the whole usage first (10+ lines for
    `--timeout abc`), where an out-of-range value already got one line. Subcommands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(mode: Optional[str] = None) -> argparse.ArgumentParser:
    """The command line's parser; with `mode` (the mode argv names), that mode's alone: the others' options are
    never read then, and building them is ~2 ms of every `invoke` (the usage and errors are the same)."""
    parser = OneLineErrors(
        prog="lambdatui",
        description="Step a function through the AWS Lambda execution-environment lifecycle.",
        epilog="Modes: 'lambdatui PATH' opens the debugger; 'lambdatui invoke|serve|replay ...' run headless.",
    )
    sub = parser.add_subparsers(dest="mode", metavar="{" + ",".join(MODES) + "}")  # all, whichever are built
    if mode in (None, "invoke"):
        _add_invoke(sub)
    if mode in (None, "serve"):
        _add_serve(sub)
    if mode in (None, "replay"):
        _add_replay(sub)
    return parser


def _add_invoke(sub: Any) -> None:
    invoke = sub.add_parser("invoke", help="cold-start one environment, run N invokes, shut it down")
    add_function_options(invoke)
    invoke.add_argument("-e", "--event", default="{}", metavar="JSON|FILE|-", help="the event (default {})")
    invoke.add_argument("--repeat", type=int, default=1, metavar="N", help="invokes to run on the same environment")
    invoke.add_argument("--snapstart", action="store_true",
                        help="SnapStart: Init once into a snapshot (env #1), then restore an environment from it")
    invoke.add_argument("--record", metavar="FILE",
                        help="write what happened as a scenario that 'lambdatui replay' reproduces")


def _add_serve(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve Lambda's Invoke API for curl, boto3 and the AWS CLI")
    add_function_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)")
    serve.add_argument("--port", type=int, default=9000, help="port to bind (default 9000)")
    serve.add_argument("--url-port", type=int, metavar="PORT",
                       help="also serve the function as a function URL here (on --host): any method and path "
                            "invokes it with an HTTP event, its result is the HTTP response")
    serve.add_argument("--shutdown-grace", type=_grace, default=10.0, metavar="SECONDS",
                       help="on SIGINT/SIGTERM, run the Event invokes already accepted for up to this long, then "
                            "name on stderr each one left (default 10)")
    serve.add_argument("--record", metavar="FILE",
                       help="when stopped, write the invokes served as a scenario that 'lambdatui replay' reproduces")
    add_fleet_options(serve, idle_default=SERVE_IDLE_SHUTDOWN_S)


def _add_replay(sub: Any) -> None:
    replay = sub.add_parser("replay", help="run a scenario file's steps and check its expectations",
                            description=REPLAY_DESCRIPTION, epilog=REPLAY_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_function_options(replay)
    replay.add_argument("scenario", metavar="SCENARIO.toml", help="the scenario file")
    replay.add_argument("-v", "--verbose", action="store_true",
                        help="show the function's and extensions' output in the timeline (default: on stderr)")
    add_fleet_options(replay, idle_default=None)
    replay.set_defaults(**UNSET_FLEET_DEFAULTS)  # unset: the scenario's [function] table fills what is not given


def build_debugger_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(
        prog="lambdatui",
        usage="lambdatui PATH [options]",
        description="Open the full-screen debugger on one execution environment, held at its first boundary "
                    "(init.extensions). Press ? inside for every key.",
    )
    add_function_options(parser)
    parser.add_argument("-e", "--event", metavar="JSON|FILE", help="the event to start with (default {})")
    parser.add_argument("--host", default="127.0.0.1", help="address for --port (default 127.0.0.1: loopback only)")
    parser.add_argument("--port", type=int, metavar="PORT",
                        help="also serve Lambda's Invoke API here: invokes from curl, boto3 or tests queue up")
    parser.add_argument("--url-port", type=int, metavar="PORT",
                        help="also serve the function as a function URL on 127.0.0.1:PORT (open it in a browser)")
    parser.add_argument("--record", metavar="FILE", help="write the session as a scenario that 'lambdatui replay' reproduces")
    parser.add_argument("--theme", metavar="NAME", help="dark (default), light, high-contrast, a theme file's name, "
                                                        "or any theme the palette offers (nord, gruvbox, ...)")
    add_fleet_options(parser, idle_default=None)
    return parser
