"""`lambdatui` command line: the debugger (`lambdatui PATH`) and the headless modes `invoke`, `serve`, `replay`."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from lambdatui.config import ConfigError, FunctionConfig, resolve_function

MODES = ("invoke", "serve", "replay")
EXIT_OK, EXIT_FUNCTION_ERROR, EXIT_USAGE = 0, 1, 2


def add_function_options(parser: argparse.ArgumentParser) -> None:
    """The options every mode shares, in one place."""
    parser.add_argument("path", help="handler file (handler.py), its folder, or a custom runtime 'bootstrap'")
    group = parser.add_argument_group("function")
    group.add_argument("--handler", metavar="MODULE.FUNCTION",
                       help="default: the file's module, function 'handler' else 'lambda_handler'")
    group.add_argument("--timeout", type=int, default=3, metavar="SECONDS", help="function timeout, 1-900 (default 3)")
    group.add_argument("--memory", type=int, default=128, metavar="MB", help="memory size (default 128)")
    group.add_argument("--extensions", metavar="DIR", help="external extensions (default: extensions/ next to the handler)")
    group.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="environment variable (repeatable)")
    group.add_argument("--env-file", metavar="FILE", help="JSON object, or SAM's {\"FunctionName\": {...}} shape")
    group.add_argument("--python", metavar="PATH",
                       help="interpreter that runs the function (default: $VIRTUAL_ENV/bin/python, else python3)")
    group.add_argument("--bootstrap", metavar="COMMAND", help="run this command as a custom runtime instead")


def function_config(args: argparse.Namespace) -> FunctionConfig:
    return resolve_function(
        args.path,
        handler=args.handler,
        timeout_s=args.timeout,
        memory_mb=args.memory,
        extensions_dir=args.extensions,
        env_pairs=args.env,
        env_file=args.env_file,
        python=args.python,
        bootstrap=args.bootstrap,
    )


def read_event(value: str) -> bytes:
    """`-e` takes JSON text, a file, or `-` for stdin; whatever it is must be JSON, as Lambda requires."""
    if value == "-":
        text = sys.stdin.read()
        origin = "stdin"
    elif os.path.isfile(value):
        try:
            text = Path(value).read_text()
        except OSError as exc:
            raise ConfigError(f"--event {value}: {exc.strerror}") from None
        origin = value
    else:
        text = value
        origin = "--event"
    if not text.strip():
        return b"{}"
    try:
        json.loads(text)
    except ValueError as exc:
        looks_like_path = not text.lstrip().startswith(("{", "[", '"')) and ("/" in text or text.endswith(".json"))
        hint = " (no such file)" if looks_like_path and origin == "--event" else ""
        raise ConfigError(f"{origin}{hint}: not valid JSON: {exc}") from None
    return text.encode()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lambdatui",
        description="Step a function through the AWS Lambda execution-environment lifecycle.",
        epilog="Modes: 'lambdatui PATH' opens the debugger; 'lambdatui invoke|serve|replay ...' run headless.",
    )
    sub = parser.add_subparsers(dest="mode")
    invoke = sub.add_parser("invoke", help="cold-start one environment, run N invokes, shut it down")
    add_function_options(invoke)
    invoke.add_argument("-e", "--event", default="{}", metavar="JSON|FILE|-", help="the event (default {})")
    invoke.add_argument("--repeat", type=int, default=1, metavar="N", help="invokes to run on the same environment")
    serve = sub.add_parser("serve", help="serve Lambda's Invoke API for curl, boto3 and the AWS CLI")
    add_function_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)")
    serve.add_argument("--port", type=int, default=9000, help="port to bind (default 9000)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] not in MODES and not argv[0].startswith("-"):
        print("lambdatui: the full-screen debugger is not built yet; use 'lambdatui invoke PATH' or "
              "'lambdatui serve PATH'", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    if args.mode is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        config = function_config(args)
        if args.mode == "invoke":
            from lambdatui.headless import run_invoke

            if args.repeat < 1:
                raise ConfigError(f"--repeat {args.repeat}: must be at least 1")
            return run_invoke(config, read_event(args.event), args.repeat)
        if args.mode == "serve":
            from lambdatui.headless import run_serve

            return run_serve(config, args.host, args.port)
    except ConfigError as exc:
        print(f"lambdatui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"lambdatui: port {getattr(args, 'port', '?')} is already in use on {getattr(args, 'host', '')}: "
                  "choose another with --port", file=sys.stderr)
            return EXIT_USAGE
        raise
    return EXIT_USAGE
