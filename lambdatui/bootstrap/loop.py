"""The runtime's main loop: init, then `/next` → handler → `/response` forever.

Mirrors awslambdaric's `bootstrap.run`/`handle_event_request` (spec §6), plus the
lambdatui private channel when LAMBDATUI_PRIVATE_API=1: the Function-init gate before
the handler module is imported, and a globals report after init and after each invoke.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import site  # here, before the function's folders lead sys.path (a site.py of its own)
import sys
from types import ModuleType

from . import codec, faults, inspect_state, logs, workers
from .client import Invocation, RuntimeClient
from .context import create_context
from .errors import error_from_exception
from .handler import resolve_handler
from .private_signals import EXIT_NOW, STACK_DUMP

TYPE_CHECKING = False  # typing's own flag, without importing typing: ~5 ms of every runtime's start
if TYPE_CHECKING:
    from socket import socket
    from typing import IO, Any, Callable, Dict, List, MutableMapping, Optional, Tuple

TRACE_ID_ENV = "_X_AMZN_TRACE_ID"
INIT_TYPE_ENV = "AWS_LAMBDA_INITIALIZATION_TYPE"
SNAP_START = "snap-start"
SNAPSHOT_FD_ENV = "LAMBDATUI_SNAPSHOT_FD"  # set only for a SnapStart snapshot template (snapstart.py)
# The host's settings for this runtime. Read from `private_env`, never left in os.environ: the function's code (and
# every program it starts) must see only the variables Lambda's runtime has.
# LAMBDATUI_SANDBOX_API: the host's own address, which AWS_LAMBDA_RUNTIME_API names too unless an exec wrapper pointed
# the runtime at a Runtime API proxy (RuntimeClient).
SANDBOX_API_ENV = "LAMBDATUI_SANDBOX_API"
PRIVATE_ENV_NAMES = ("LAMBDATUI_PRIVATE_API", "LAMBDATUI_REPORT_GLOBALS", "LAMBDATUI_STACK_FILE",
                     "LAMBDATUI_EXIT_FILE", "LAMBDATUI_OPT", SANDBOX_API_ENV)
private_env: Dict[str, str] = {}

# Kept open while installed: faulthandler writes to its fd from a signal handler.
_stack_file: Optional[IO[str]] = None
_exit_hook_installed = False


def install_stack_dump(path: Optional[str]) -> None:
    """STACK_DUMP (private_signals.py) → all thread stacks into `path`, even while the handler is stuck in C.

    The host uses it to show where a hung handler is before it kills the process. Calling it again (a restored
    copy of a SnapStart template gets its environment's own path) replaces the file; None removes the dump.
    """
    global _stack_file
    if STACK_DUMP is None:
        return
    previous, _stack_file = _stack_file, None
    if path:
        try:
            new_file = open(path, "w")
        except OSError as exc:  # a debugging aid must not stop the function
            logs.warn("cannot install the stack dump to %s: %s" % (path, exc))
        else:
            try:
                # The dump is written from the C handler at once, even while the handler is stuck in C; then this
                # process stops itself, before any more Python runs: the host kills it next (a timeout).
                signal.signal(STACK_DUMP, _stop_after_the_dump)
                faulthandler.register(STACK_DUMP, file=new_file, all_threads=True, chain=True)
                _stack_file = new_file
            except (OSError, ValueError, RuntimeError) as exc:
                new_file.close()
                signal.signal(STACK_DUMP, signal.SIG_DFL)  # never a stop without its dump
                logs.warn("cannot install the stack dump to %s: %s" % (path, exc))
    if previous is not None:
        # Only after the new registration (or none): a dump must never go to a closed, maybe reused, fd.
        if _stack_file is None:
            faulthandler.unregister(STACK_DUMP)
            signal.signal(STACK_DUMP, signal.SIG_DFL)
        previous.close()


def _stop_after_the_dump(signum: int, frame: object) -> None:
    os.kill(os.getpid(), signal.SIGSTOP)


def install_exit_hook(path: Optional[str]) -> None:
    """EXIT_NOW (private_signals.py) → exit with the status written in `path`: how the debugger injects a crash with
    an exit code.

    Calling it again replaces the path; None removes a hook installed before.
    """
    global _exit_hook_installed
    if EXIT_NOW is None:
        return
    if not path:
        if _exit_hook_installed:
            signal.signal(EXIT_NOW, signal.SIG_DFL)
            _exit_hook_installed = False
        return

    def exit_now(signum: int, frame: object) -> None:
        try:
            with open(path) as f:
                code = int(f.read().strip() or "1")
        except (OSError, ValueError):
            code = 1
        os._exit(code)  # no cleanup, no flush: a crash, as the user asked

    signal.signal(EXIT_NOW, exit_now)
    _exit_hook_installed = True


def take_private_env(env: MutableMapping[str, str]) -> Dict[str, str]:
    """Move the LAMBDATUI_* settings out of `env` (os.environ) into private_env."""
    for name in PRIVATE_ENV_NAMES:
        value = env.pop(name, None)
        if value is not None:
            private_env[name] = value
    return private_env


def runtime_flags(env: Any) -> Tuple[bool, bool]:
    """(the private channel is on, globals reports are wanted), from the host's variables."""
    private = env.get("LAMBDATUI_PRIVATE_API") == "1"
    # Globals are reported only when something shows them (the debugger, replay): it costs ~1 ms an invoke.
    return private, private and env.get("LAMBDATUI_REPORT_GLOBALS") == "1"


def set_trace_id(trace_id: Optional[str]) -> None:
    """_X_AMZN_TRACE_ID holds the current invocation's trace header, or is absent."""
    if trace_id is not None:
        os.environ[TRACE_ID_ENV] = trace_id
    else:
        os.environ.pop(TRACE_ID_ENV, None)


def _json_bytes(obj: Any) -> bytes:
    """Our own JSON bodies; a lone surrogate in user text must not crash the runtime."""
    return codec.to_json(obj).encode("utf-8", "replace")


def fail_init(client: RuntimeClient, exc: BaseException, one_of_workers: bool = False) -> None:
    """Log the init failure, report it on /runtime/init/error and exit 1 (awslambdaric). One of several workers
    expects 403 when another one reported first, as awslambdaric's workers do."""
    error = error_from_exception(exc)
    logging.warning(logs.UNHANDLED_EXCEPTION_WARNING)
    logs.log_error(error, codec.to_json)
    logs.flush_all()
    client.post_init_error(_json_bytes(error), error["errorType"], quiet=(403,) if one_of_workers else ())
    sys.exit(1)


def invoke(request_handler: Callable[..., Any], inv: Invocation) -> Any:
    """Build the context, decode the event and call the handler (or raise the injected fault)."""
    context = create_context(
        inv.request_id,
        inv.client_context,
        inv.cognito_identity,
        inv.deadline_ms,
        inv.function_arn,
        inv.tenant_id,
    )
    event = codec.decode_event(inv.body, inv.content_type)
    if inv.injected_raise is not None:
        raise faults.injected_exception(inv.injected_raise)
    return call_handler(request_handler, event, context)


def call_handler(request_handler: Callable[..., Any], event: Any, lambda_context: Any) -> Any:
    """The call of the user's handler: the one frame of ours a stack trace keeps when the call itself fails (the
    handler takes other arguments, or is no function), as awslambdaric keeps its own (errors.user_stack)."""
    return request_handler(event, lambda_context)


def handle_invocation(client: RuntimeClient, request_handler: Callable[..., Any], inv: Invocation,
                      then_next: bool = False) -> None:
    """Run one invocation and post its response or error (output flushed first); `then_next`: the next call is
    /next, which may go out with the response (RuntimeClient.post_response)."""
    error: Optional[Dict[str, Any]] = None
    body, content_type = b"", ""
    try:
        body, content_type = codec.encode_result(invoke(request_handler, inv))
    except Exception as exc:
        error = error_from_exception(exc, inv.request_id)
    if error is not None:
        logs.log_error(error, codec.to_json)
        logs.flush_all()
        client.post_error(inv.request_id, _json_bytes(error), error["errorType"])
    else:
        logs.flush_all()
        client.post_response(inv.request_id, body, content_type, then_next)


def report_globals(
    client: RuntimeClient, phase: str, request_id: Optional[str], module: Optional[ModuleType],
    then_next: bool = False,
) -> None:
    """Private channel: post the globals/threads report; never fatal. `then_next`: the next call is /next, which
    may go along (RuntimeClient.report_state).

    The host stops the function's deadlines from the report's start (/inspection) until the report (or the next
    /next) arrives: reprs run user code, and a debugger must not spend the function's time on them.
    """
    try:
        client.report_state(lambda: _json_bytes(inspect_state.build_report(phase, request_id, module)), then_next)
    except Exception as exc:
        logs.warn("globals report failed: %s: %s" % (type(exc).__name__, exc))


# What this runtime imports that awslambdaric does not (Lambda's runtime imports only that before the handler): a
# function's own module of one of these names (/var/task/signal.py) is what its `import signal` finds in Lambda.
# struct: the log frames' headers (logs.py); heapq: what `collections` imports at once on 3.9 (lazily from 3.10).
_OWN_IMPORTS = ("signal", "socket", "select", "selectors", "array", "mmap", "struct", "heapq")


def _prepend_task_root(task_root: str, opt: Optional[str] = None) -> None:
    """The handler module is imported from the function's code directory; then come the layers' packages, as
    Lambda's Python runtime orders them: /opt/python/lib/pythonX.Y/site-packages, then /opt/python. Each is a site
    directory, as Lambda's runtime makes them (its bootstrap's add_default_site_directories), so that the function's
    .pth files are read: a vendored `pip install -t` tree's, a namespace package's, the project's own."""
    front = [task_root]
    # Lambda's runtime leaves the layers' folders out where the function (or its exec wrapper) sets PYTHONPATH
    # (its bootstrap's set_default_sys_path): a layer import that works here would fail once deployed.
    if opt and "PYTHONPATH" not in os.environ:
        python = os.path.join(opt, "python")
        version = "python%d.%d" % sys.version_info[:2]
        front += [os.path.join(python, "lib", version, "site-packages"), python]
    sys.path[:] = front + [p for p in sys.path if p not in front]
    for folder in front:
        site.addsitedir(folder)
    for name in _OWN_IMPORTS:
        if name in sys.modules and any(_defines(folder, name) for folder in front):
            del sys.modules[name]  # ours keep their references; the function's import finds its own


def _defines(folder: str, name: str) -> bool:
    """Whether a module or package `name` lies in `folder` (where the function's imports look first)."""
    path = os.path.join(folder, name)
    return os.path.isfile(path + ".py") or os.path.isdir(path)


def main(argv: Optional[List[str]] = None) -> None:
    """Start the runtime; returns only by exiting or by a Runtime API failure raising."""
    argv = sys.argv if argv is None else argv
    env = os.environ
    address = env.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        sys.exit("lambdatui-bootstrap: AWS_LAMBDA_RUNTIME_API is not set")
    handler_name = env.get("_HANDLER") or (argv[1] if len(argv) > 1 else "")
    settings = take_private_env(env)
    private, globals_wanted = runtime_flags(settings)
    snapshot_channel: Optional[socket] = None
    if SNAPSHOT_FD_ENV in env:  # taken out of the environment before any user code runs
        from .snapstart import take_channel

        snapshot_channel = take_channel(env)
    worker_count = workers.max_concurrency(env.get("AWS_LAMBDA_MAX_CONCURRENCY"))

    logs.install_unbuffered_streams()
    logs.take_log_fd(env)
    logs.setup_logging(env.get("AWS_LAMBDA_LOG_FORMAT"), env.get("AWS_LAMBDA_LOG_LEVEL"))
    install_stack_dump(settings.get("LAMBDATUI_STACK_FILE"))
    install_exit_hook(settings.get("LAMBDATUI_EXIT_FILE"))
    _prepend_task_root(env.get("LAMBDA_TASK_ROOT") or os.getcwd(), settings.get("LAMBDATUI_OPT"))

    sandbox_api = settings.get(SANDBOX_API_ENV)
    client = RuntimeClient(address, private=private, sandbox_api=sandbox_api)
    if private:
        client.wait_function_init()  # once, for every worker: the debugger holds Function init as a whole

    if not worker_count:
        serve(client, handler_name, globals_wanted, snapshot_channel=snapshot_channel)
        return

    # Lambda Managed Instances: M workers, each with its own Function init and connection (workers.py).
    client.close()  # a socket must not be shared across the fork

    def work(index: int, slots: workers.Slots) -> None:
        def running(request_id: Optional[str]) -> None:
            slots.set(index, request_id)

        serve(RuntimeClient(address, private=private, one_of_workers=True, sandbox_api=sandbox_api), handler_name,
              False, running)

    def report(pid: int, code: Optional[int], signal_number: Optional[int], request_id: Optional[str]) -> None:
        reporter = RuntimeClient(address, private=True, sandbox_api=sandbox_api)
        try:
            reporter.report_worker_exit(pid, code, signal_number, request_id)
        finally:
            reporter.close()

    workers.run(worker_count, work, report if private else None)


def serve(client: RuntimeClient, handler_name: str, globals_wanted: bool,
          running: Optional[Callable[[Optional[str]], None]] = None,
          snapshot_channel: Optional[socket] = None) -> None:
    """Function init, then `/next` → handler → `/response` forever; `running` hears which invoke runs (a worker
    of several keeps it where its parent can read it). A SnapStart function restores in between (snapstart.py;
    `snapshot_channel`: this process is the snapshot template)."""
    try:
        module, request_handler = resolve_handler(handler_name)
    except Exception as exc:
        fail_init(client, exc, one_of_workers=running is not None)
        raise  # unreachable: fail_init exits

    snapstart = os.environ.get(INIT_TYPE_ENV) == SNAP_START
    if globals_wanted:
        report_globals(client, "init", None, module, then_next=running is None and not snapstart)

    if snapstart:
        from .snapstart import snap_start  # only SnapStart functions pay for the import

        client = snap_start(client, snapshot_channel)  # a template's restored copy comes back with a new client
        if running is None:  # a restored copy reads its own environment's variables (workers never report)
            globals_wanted = runtime_flags(private_env)[1]
        if globals_wanted:
            report_globals(client, "restore", None, module, then_next=running is None)

    while True:
        inv = client.next_invocation()
        if running is not None:
            running(inv.request_id)
        logs.set_invocation(inv.request_id, inv.tenant_id)
        set_trace_id(inv.trace_id)
        # One invoke at a time and no globals report in between: the response may take the next /next along.
        handle_invocation(client, request_handler, inv, then_next=running is None and not globals_wanted)
        if running is not None:
            running(None)
        if globals_wanted:
            report_globals(client, "invoke", inv.request_id, module, then_next=running is None)
