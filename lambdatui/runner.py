"""Composition root: the API servers, the host and its processes, wired together inside one trio run."""

from __future__ import annotations

import errno
import os
import signal
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable, Optional, Sequence

import trio

from lambdatui.collector import loading
from lambdatui.config import FunctionConfig
from lambdatui.config_error import ConfigError
from lambdatui.host.debug_session import DebugSession
from lambdatui.host.early_start import EarlyStart
from lambdatui.host.console import format_line, printable
from lambdatui.model.facts import LAMBDATUI, LogLine
from lambdatui.host.environment_host import EnvironmentHost, FactListener
from lambdatui.host.fleet_host import FleetHost, FleetOptions, NumberedListener
from lambdatui.host.launch import credentials_note
from lambdatui.host.stopped_hold import hold_while_stopped
from lambdatui.run_folders import new_state_dir
from lambdatui.stop_signals import STOP_SIGNALS
from lambdatui.unzipped_size import size_note
from lambdatui.runtime_choice import starts_through_a_script

LOOPBACK = "127.0.0.1"


async def _tell_size(fleet_host: FleetHost, config: FunctionConfig, told: trio.Event) -> None:
    """Whether the code and layers pass what Lambda takes unzipped, said once counted: on a thread, off the start's
    critical path (a folder of many files takes a while to walk)."""
    try:
        note = await trio.to_thread.run_sync(size_note, config.code_dir, config.layers, config.runtime.interpreter,
                                             abandon_on_cancel=True)
        if note is not None:
            fleet_host.note(note)
    finally:
        told.set()


_SIZE_WAIT_S = 2.0  # how long a run that ends (a quick `invoke`) waits for the count, so that its line is not lost


@dataclass(frozen=True)
class Running:
    """lambdatui once it is up: the fleet and env #1's host, the controller, and where its APIs listen."""

    host: EnvironmentHost  # env #1's (the provisioned ones': the first of them)
    session: DebugSession  # the controller
    runtime_api: str  # host:port env #1's processes talk to (each environment has its own)
    invoke_api: Optional[str]  # host:port of the Invoke API, when served
    fleet: FleetHost  # every environment; where invokes go
    function_url: Optional[str] = None  # host:port of the function URL, when served


def _say(text: str) -> None:
    print(printable(f"lambdatui: {text}"), file=sys.stderr, flush=True)


@asynccontextmanager
async def open_environment(
    config: FunctionConfig,
    *,
    invoke_host: str = LOOPBACK,
    invoke_port: Optional[int] = None,
    inspect: bool = False,
    listeners: Sequence[FactListener] = (),
    numbered_listeners: Sequence[NumberedListener] = (),
    fleet: Optional[FleetOptions] = None,
    url_host: str = LOOPBACK,
    url_port: Optional[int] = None,
    early: Optional[EarlyStart] = None,
    stop_now: Optional[StopNow] = None,
    start_held: bool = False,
    hold_when_stopped: bool = False,
    first_ahead: bool = True,
) -> AsyncIterator[Running]:
    """Serve the APIs and host the function's environments (env #1 at once, more as invokes need them, as
    `fleet` allows); on exit, shut them down as Lambda does and leave nothing behind.

    `inspect` turns on the debugger's views (globals after each phase, /tmp listings), which cost time per invoke.
    `listeners` hear every fact from the very first, the start-up lines included (what contains the processes,
    whether /tmp is private, a stale run that could not be removed); `numbered_listeners` hear them with the
    number of the environment they come from (0: the fleet's own). `url_port` also serves the function as a
    function URL there (lambda-spec §12.3); a port in use is a ConfigError naming --url-port. `early`: env #1,
    started ahead of the trio run (host/early_start.py), which the fleet adopts. `stop_now` (a second signal) cuts
    the graceful shutdown short: every process is then killed at once, and the folders still go. `start_held`:
    env #1 holds at its first boundary (the debugger), whichever of the fleet's environments it is.
    `hold_when_stopped`: a headless run's Ctrl-Z holds every environment while lambdatui is stopped
    (host/stopped_hold.py; the debugger does it from its own loop: ui/terminal_stop.py). `first_ahead`: the caller
    starts env #1 ahead of traffic (`running.host.start_environment()`), and it is not idle until then (FleetHost).
    """
    async with trio.open_nursery() as nursery:
        stale: list[str] = []
        state_dir = early.state_dir if early is not None else new_state_dir(stale.append)
        stale += early.stale_notes if early is not None else []
        fleet_host = FleetHost(config, state_dir, inspect=inspect, options=fleet, early=early, start_held=start_held,
                               first_ahead=first_ahead)
        for listener in listeners:
            fleet_host.subscribe(listener)
        for numbered in numbered_listeners:
            fleet_host.subscribe_numbered(numbered)
        session = DebugSession(fleet_host, track=inspect)
        for text in stale:
            if not listeners and not numbered_listeners:
                _say(text)  # `replay` prints no lambdatui lines of its own: stderr, before anyone listens
            fleet_host.note(text)  # and the debugger's log view
        for text in config.notes:
            fleet_host.note(text)
        runtime = config.runtime
        if runtime.interpreter:
            why = (f"({runtime.interpreter_origin})" if runtime.interpreter_origin.startswith("--python") else
                   f"({runtime.interpreter_origin}; --python chooses another)")
            fleet_host.note(f"The function runs in {runtime.interpreter} {why}.")
            if starts_through_a_script(runtime.interpreter):
                # The debugger's Init Duration would count the shim's search, which Lambda's runtime never runs.
                fleet_host.note(f"{runtime.interpreter} is a script that looks for the interpreter before starting "
                                "it (a pyenv or asdf shim): every start of the runtime runs it first, and each Init "
                                "Duration counts it. --python with the interpreter it finds (`pyenv which python3`), "
                                "or a virtualenv's, starts the runtime as Lambda does.")
        credentials = credentials_note(config.env, os.environ)
        if credentials is not None:
            if not listeners and not numbered_listeners:  # `replay`, whose timeline shows no lambdatui lines
                print(format_line(LogLine(LAMBDATUI, credentials)), file=sys.stderr, flush=True)
            fleet_host.note(credentials)
        # Each environment's processes talk to a sandbox server of its own (Runtime, Extensions, Telemetry and
        # private APIs), apart from the Invoke API's, as in Lambda.
        await nursery.start(fleet_host.run)
        size_told = trio.Event()
        nursery.start_soon(_tell_size, fleet_host, config, size_told)
        if hold_when_stopped and signal.getsignal(signal.SIGTSTP) is not signal.SIG_IGN:
            nursery.start_soon(hold_while_stopped, fleet_host)
        host = fleet_host.first
        assert host is not None
        runtime_api = host.runtime_api
        invoke_api = None
        stop_invoke_api = trio.Event()
        invoke_api_stopped = trio.Event()
        flush_s = 0.0
        if invoke_port is not None:
            # quart (which imports hypercorn for its own `run`) only where the Invoke API is served (~200 ms of
            # imports): never for `invoke`.
            with loading():
                from lambdatui.api.server import GRACEFUL_STOP_S, serve_invoke_api

            flush_s = GRACEFUL_STOP_S + 1.0  # its graceful stop, then its lifespan shutdown (next to nothing)

            async def invoke_api_until_stopped(*, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
                try:
                    await serve_invoke_api(fleet_host, invoke_host, invoke_port, stop=stop_invoke_api,
                                           task_status=task_status)
                finally:
                    invoke_api_stopped.set()

            invoke_api = await nursery.start(invoke_api_until_stopped)
        else:
            invoke_api_stopped.set()
        function_url, stop_function_url, function_url_stopped = None, trio.Event(), trio.Event()
        if url_port is not None:
            flush_s = max(flush_s, _FUNCTION_URL_FLUSH_S)
            function_url = await nursery.start(_serve_function_url, fleet_host, url_host, url_port,
                                               stop_function_url, function_url_stopped)
        else:
            function_url_stopped.set()
        try:
            yield Running(host, session, runtime_api, invoke_api, fleet_host, function_url)
        finally:
            with trio.CancelScope(shield=True):
                session.end()  # what completes from here on completes because the session ends

                async def graceful_stop() -> None:
                    with trio.move_on_after(_SIZE_WAIT_S):
                        await size_told.wait()
                    await fleet_host.shutdown()
                    # The shutdown answered every invoke still queued or in flight (the environment has shut down),
                    # but their callers only hear it once their handlers have written it: stop the Invoke API
                    # gracefully so they can, as Lambda never drops a request it took. Bounded: never hang the exit.
                    stop_invoke_api.set()
                    stop_function_url.set()
                    with trio.move_on_after(flush_s):
                        await invoke_api_stopped.wait()
                        await function_url_stopped.wait()

                await unless_set(stop_now.event if stop_now is not None else None, graceful_stop)
                if stop_now is not None and stop_now.event.is_set():
                    fleet_host.kill_now()
            # The hosts' own exits SIGKILL what is left, reap it, and remove the cgroups and folders.
            nursery.cancel_scope.cancel()


_FUNCTION_URL_FLUSH_S = 1.0  # the function URL's graceful stop (0.5 s), bounded


async def _serve_function_url(fleet: FleetHost, host: str, port: int, stop: trio.Event, stopped: trio.Event, *,
                              task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    from lambdatui.api.function_url import serve_function_url

    try:
        await serve_function_url(fleet, host, port, stop=stop, task_status=task_status)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} is already in use on {host}: choose another with --url-port") from None
        raise
    finally:
        stopped.set()


class StopNow:
    """A second signal: the run stops at once (`event`); once it has removed what it made (and written what it
    recorded), lambdatui dies of that signal (`die_of_second_signal`), as a program stopped twice does."""

    def __init__(self) -> None:
        self.event = trio.Event()
        self.first: Optional[int] = None
        """The signal that began the graceful stop."""
        self.signal: Optional[int] = None
        # `serve`'s wait for the accepted Event invokes, while it lasts: a second signal ends only that wait, and
        # the shutdown that follows is still graceful (a third signal stops it at once).
        self.draining: Optional[trio.CancelScope] = None
        self.received = 0
        """The stop signals the run read, whatever each did (a run's first and its shutdown's count as one each)."""
        self.ending = False
        """The run's own work is done (`invoke`'s invokes, `replay`'s steps) and only its shutdown is left: the first
        signal stops that shutdown at once, as a second one does, since there is nothing left to stop gracefully."""


def die_of_second_signal() -> None:
    """The end of a run stopped by two signals: killed by the second, for the shell (exit 130 for Ctrl-C)."""
    number = stop_signal()
    if number is not None:
        for stream in (sys.stdout, sys.stderr):  # None where the caller closed it (`>&-`)
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)


_STOPPED: list[StopNow] = []  # the runs' StopNow, read once lambdatui is done
# Stop signals that came as a run's signal receiver closed or after it (`invoke` still writing its answers), read
# once lambdatui is done.
LATE_SIGNALS: list[int] = []


def stop_signal() -> Optional[int]:
    """The signal lambdatui dies of once done: the second of a run, or one that came as its receiver closed."""
    number = next((stop.signal for stop in _STOPPED if stop.signal is not None), None)
    return number if number is not None or not LATE_SIGNALS else LATE_SIGNALS[0]


def _late_signal(number: int, _frame: object) -> None:
    LATE_SIGNALS.append(number)


async def cancel_on_signals(scope: trio.CancelScope, again: Optional[StopNow] = None, *,
                            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """SIGINT, SIGTERM and SIGHUP end the run gracefully: shutdown still runs in `open_environment`'s exit. With
    `again`, a second signal stops it at once, and the receiver stays open until cancelled: were it closed, a
    Ctrl-C during the shutdown would raise KeyboardInterrupt through it (a traceback), and a SIGTERM or SIGHUP would
    kill lambdatui before it removed its folders."""
    if again is not None:
        # trio re-raises a signal its receiver had not read when it closes (one that came as the run ended; `timeout`
        # sends its SIGINT to lambdatui and to its process group, so twice at once), even a scheduler tick later,
        # through the handler then in place. trio's SIGINT handler made it a KeyboardInterrupt through the nurseries
        # (a traceback, exit 1), the default one death before a recording was written. This one, in place from the
        # receiver's close to the end of the run, keeps it for lambdatui to die of once done (die_of_second_signal).
        for number in STOP_SIGNALS:
            signal.signal(number, _late_signal)
    if not STOP_SIGNALS:  # the caller ignores all three (nohup, in a background job): nothing stops the run
        task_status.started()
        await trio.sleep_forever()
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        task_status.started()
        async for number in signals:
            if again is None:
                scope.cancel()
                return
            again.received += 1
            if not scope.cancel_called and not again.ending:
                scope.cancel()
                again.first = number
            elif again.draining is not None and not again.draining.cancel_called:
                again.draining.cancel()
            elif again.signal is None:
                again.signal = number
                _STOPPED.append(again)
                again.event.set()


async def unless_set(event: Optional[trio.Event], run: Callable[[], Awaitable[None]]) -> None:
    """Run `run` to its end, or until `event` is set (then cancel it)."""
    if event is None:
        await run()
        return
    async with trio.open_nursery() as nursery:
        async def cancel_when_set() -> None:
            await event.wait()
            nursery.cancel_scope.cancel()

        nursery.start_soon(cancel_when_set)
        await run()
        nursery.cancel_scope.cancel()
