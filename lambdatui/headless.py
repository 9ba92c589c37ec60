"""The headless modes: `invoke` (run N invokes and print results), `serve` (the Invoke API for other tools)
and `replay` (run a scenario file and check it)."""

from __future__ import annotations

import errno
import signal
from typing import TYPE_CHECKING, Awaitable, Callable, Optional, TextIO

import trio

from lambdatui.config import FunctionConfig
from lambdatui.config_error import ConfigError
from lambdatui.host.console import ConsoleReporter, FleetConsoleReporter, format_line, printable
from lambdatui.ids import new_uuid
from lambdatui.model.fleet import FleetOptions, describe_fleet
from lambdatui.host.nonblocking_output import nonblocking_stderr, nonblocking_stdout, pump
from lambdatui.model import facts as f
from lambdatui import runner
from lambdatui.host.stdout_answers import StdoutAnswers
from lambdatui.runner import Running, cancel_on_signals, StopNow, open_environment

if TYPE_CHECKING:
    from lambdatui.host.early_start import EarlyStart
    from lambdatui.scenario.model import Scenario
    from lambdatui.scenario.record import Recorder
    from lambdatui.scenario.run import ReplayResult

EXIT_OK, EXIT_FUNCTION_ERROR = 0, 1
# How long `serve`, stopped by a signal, keeps running the Event invokes it accepted before it shuts down.
SHUTDOWN_GRACE_S = 10.0


def _first(group: BaseException, wanted: Callable[[BaseException], bool]) -> Optional[BaseException]:
    """The first exception `wanted` picks, out of the nurseries' exception groups that wrap what the servers raised
    as they started (a bind error, a ConfigError)."""
    if wanted(group):
        return group
    for inner in getattr(group, "exceptions", ()):
        found = _first(inner, wanted)
        if found is not None:
            return found
    return None


def say_sandbox_notes(running: Running, err: TextIO) -> None:
    """One line on stderr when the environment shares the host's /tmp, and one when /var/task and /opt are not
    laid out as in Lambda, for `replay`, whose printer shows the timeline and not lambdatui's own lines (`invoke`
    and `serve` print those, these among them).

    Printed before the environment starts, so they come first, and once: every later environment is the same.
    """
    sandbox = running.host.sandbox
    for note in (sandbox.note, sandbox.files_note) if sandbox is not None else ():
        if note:
            print(format_line(f.LogLine(f.LAMBDATUI, note)), file=err, flush=True)


def run_invoke(config: FunctionConfig, event: bytes, repeat: int, *, recorder: Optional[Recorder] = None,
               snapstart: bool = False, early: Optional[EarlyStart] = None) -> int:
    failures = printed = begun = 0  # printed == begun: the invoke begun last has its answer on stdout
    answers = StdoutAnswers()
    body, stop_now = trio.CancelScope(), StopNow()

    async def main(err: TextIO) -> None:
        nonlocal failures, printed, begun
        # Only the body is cancelled by a signal: the environment's own exit still shuts it down gracefully.
        async with trio.open_nursery() as signals:
            signals.start_soon(pump, err)
            await signals.start(cancel_on_signals, body, stop_now)
            fleet = FleetOptions(snapstart=True) if snapstart else None
            async with open_environment(config, listeners=[ConsoleReporter(err, str(config.code_dir))], fleet=fleet, early=early,
                                        stop_now=stop_now, hold_when_stopped=True) as running:
                if recorder is not None:
                    recorder.listen(running.fleet)  # its facts, and the fleet's options (snapstart = true)
                running.host.start_environment()
                with body:
                    for number in range(repeat):
                        if number:
                            # --repeat runs its invokes on the one environment (README): the next waits for the
                            # last's Invoke phase to end (an extension may work on after the answer), or it would
                            # go to a new environment, as a caller's does in Lambda.
                            await running.session.settled()
                        # The recorder hears of the invoke from its InvocationQueued fact, as it does every invoke.
                        begun += 1
                        result, _tail = await running.fleet.invoke(event, request_id=new_uuid())
                        if result.api_status:  # the Invoke API refused it (SnapStart's restore failed)
                            err.write(f"lambdatui: Invoke API error {result.api_status} {result.error_type}\n")
                        answers.put(result.payload)
                        printed += 1
                        failures += result.function_error
                    # The last invoke ends as Lambda ends it, as --repeat's do, before the shutdown: an extension
                    # may work on after the answer (its Invoke phase, REPORT included). A signal cuts this short.
                    await running.session.settled()
                if recorder is not None:
                    recorder.session_ended()  # what the shutdown ends now is its doing (a signal's), not the function's
                stop_now.ending = True  # a signal now meets the shutdown: it stops it at once
            signals.cancel_scope.cancel()
        if body.cancelled_caught:
            # Stopped mid-invoke, the command fails (README): an invoke the shutdown ended is Sandbox.Failure in its
            # REPORT, answered or not, and a script's `lambdatui invoke ... && next` must not go on.
            failures += 1
            name = signal.Signals(stop_now.first).name if stop_now.first is not None else "a signal"
            if printed < begun:
                said = ("the invoke in flight was answered as the environment shut down (Sandbox.Failure), and "
                        "nothing was printed for it")
            else:  # its answer is printed above; the shutdown ended what was still finishing it
                said = "the invoke answered above was still finishing (an extension at work) as it shut down"
            left = repeat - begun
            if left:
                said += f"; the {left} invoke{'s' * (left != 1)} after it did not run"
            print(format_line(f.LogLine(f.LAMBDATUI, f"Stopped by {name}: {said}")), file=err, flush=True)

    # Log lines never block the host, whoever reads stderr, nor do the answers on stdout (stdout_answers.py).
    with nonblocking_stderr() as err:
        _run_telling(main, err)
        # A signal from here on is only noted (runner._late_signal). The command's second signal ends the wait for a
        # slow reader, whenever the first came: one that stopped the shutdown at once (stop_now.signal) is still the
        # first, and the answer it found being written is written whole, as README says.
        answers.finish(give_up=lambda: _second_signal(stop_now))
        if answers.failure is not None:
            failures += 1
            print(format_line(f.LogLine(f.LAMBDATUI, f"the answer could not be written: {answers.failure}")),
                  file=err, flush=True)
    return EXIT_FUNCTION_ERROR if failures else EXIT_OK


def _run_telling(main: Callable[..., Awaitable[None]], *args: object) -> None:
    """trio.run(main), with a ConfigError raised inside (env #1 could not start) raised as itself: the CLI says it
    in one line, where the nurseries' exception groups around it made a traceback."""
    try:
        trio.run(main, *args)
    except BaseException as exc:  # noqa: B036 - exception groups carry it
        told = _first(exc, lambda e: isinstance(e, ConfigError))
        if told is not None and told is not exc:
            raise told from None
        raise


def run_serve(config: FunctionConfig, host: str, port: int, shutdown_grace_s: float = SHUTDOWN_GRACE_S,
              fleet: Optional[FleetOptions] = None, url_port: Optional[int] = None,
              early: Optional[EarlyStart] = None, recorder: Optional[Recorder] = None) -> int:
    """Serve until SIGINT or SIGTERM; `recorder` hears what was served (the caller writes it once this returns)."""
    async def main(err: TextIO) -> None:
        body, stop_now = trio.CancelScope(), StopNow()
        async with trio.open_nursery() as signals:
            signals.start_soon(pump, err)
            await signals.start(cancel_on_signals, body, stop_now)
            async with open_environment(config, invoke_host=host, invoke_port=port, fleet=fleet,
                                        numbered_listeners=[FleetConsoleReporter(err, str(config.code_dir))], url_host=host,
                                        url_port=url_port, early=early, stop_now=stop_now,
                                        hold_when_stopped=True) as running:
                if recorder is not None:
                    recorder.attach(running.session)  # below every client: the Invoke API's and the URL's invokes
                url = f"http://{running.invoke_api}/2015-03-31/functions/{config.name}/invocations"
                # The name and handler may come from a template: shown, never obeyed.
                print(printable(f"[{f.LAMBDATUI}] serving {config.name} ({config.handler}) at {url}"), file=err,
                      flush=True)
                if running.function_url is not None:
                    print(f"[{f.LAMBDATUI}] function URL: http://{running.function_url}/", file=err, flush=True)
                print(f"[{f.LAMBDATUI}] {describe_fleet(running.fleet.options)}", file=err, flush=True)
                running.host.start_environment()
                with body:
                    await trio.sleep_forever()
                await _drain_events(running, stop_now, shutdown_grace_s, err)
            signals.cancel_scope.cancel()

    try:
        with nonblocking_stderr() as err:
            trio.run(main, err)
    except BaseException as exc:  # noqa: B036 - exception groups carry the bind error
        told = _first(exc, lambda e: isinstance(e, ConfigError))  # the function URL's port: said as --url-port
        if told is not None:
            raise told from None
        if _first(exc, lambda e: isinstance(e, OSError) and e.errno == errno.EADDRINUSE) is not None:
            raise ConfigError(f"port {port} is already in use on {host}: choose another with --port") from None
        raise
    return EXIT_OK


async def _drain_events(running: Running, stop_now: StopNow, grace_s: float, err: TextIO) -> None:
    """Stopped by a signal: the Event invokes accepted with 202 run first, within `grace_s`; the shutdown that
    follows names each one left by its request id. A second signal cuts the wait short."""
    fleet = running.fleet
    if not fleet.events_pending():
        return  # the shutdown answers whatever else waits
    grace_s = max(grace_s, 0.0)
    print(f"[{f.LAMBDATUI}] stopping: the Event invokes already accepted run first, for {grace_s:g} s at most "
          f"(signal again to stop now)", file=err, flush=True)
    with trio.CancelScope() as again:  # a second signal cuts it short
        stop_now.draining = again
        await fleet.drain_events(grace_s)


def _how_it_failed(outcome: ReplayResult) -> str:
    if outcome.stuck:
        return "did not settle"
    if outcome.mismatch is not None:
        return f"expect.{outcome.mismatch.key} failed"
    if outcome.steps_begun > outcome.steps_run:
        return "stopped"
    return "not begun"  # stopped between two steps


def _invoke_tally(outcome: ReplayResult) -> str:
    """How the invokes ended, so that a passing replay still says when some of them failed (as expected)."""
    if not outcome.invokes:
        return ""
    succeeded = outcome.invokes - outcome.invoke_errors
    return f" ({succeeded} invoke{'s' * (succeeded != 1)} succeeded, {outcome.invoke_errors} failed)"


def run_replay(config: FunctionConfig, scenario: Scenario, *, verbose: bool = False,
               fleet: Optional[FleetOptions] = None) -> int:
    """Run the scenario on a fresh environment with the debugger's views on (globals, /tmp listings).

    The timeline goes to stdout as it comes, never blocking the environment's host (a reader slow to read must not
    change a Duration or time an invoke out); at the end it waits for the reader, until the command's second
    signal."""
    stop_now = StopNow()
    with nonblocking_stderr() as err:
        with nonblocking_stdout(lambda: _second_signal(stop_now)) as out:
            code = _replay(config, scenario, verbose, err, out, stop_now, fleet)
        failure = getattr(out, "failure", None)
        if failure is not None:  # the timeline is the replay's result: one lost says so, and nothing passes
            print(format_line(f.LogLine(f.LAMBDATUI, f"the timeline could not be written: {failure}")),
                  file=err, flush=True)
            code = code or EXIT_FUNCTION_ERROR
        return code


def _second_signal(stop_now: StopNow) -> bool:
    """The command has had two stop signals, whenever each came (runner.LATE_SIGNALS: once its run had ended)."""
    return stop_now.received + len(runner.LATE_SIGNALS) >= 2


def _replay(config: FunctionConfig, scenario: Scenario, verbose: bool, err: TextIO, out: TextIO, stop_now: StopNow,
            fleet: Optional[FleetOptions] = None) -> int:
    from lambdatui.scenario.final_shutdown import print_final_shutdown
    from lambdatui.scenario.report import TimelinePrinter
    from lambdatui.scenario.run import ReplayResult, run_scenario

    outcome = ReplayResult()
    printer = TimelinePrinter(out, err, code_dir=str(config.code_dir), verbose=verbose)

    async def main() -> None:
        body = trio.CancelScope()
        async with trio.open_nursery() as signals:
            signals.start_soon(pump, err)
            signals.start_soon(pump, out)
            await signals.start(cancel_on_signals, body, stop_now)
            # No start_environment(): the first invoke cold-starts, so a fault armed in step 1 meets the first Init.
            async with open_environment(config, inspect=True, fleet=fleet, stop_now=stop_now,
                                        hold_when_stopped=True, first_ahead=False) as running:
                say_sandbox_notes(running, err)
                with body:
                    await run_scenario(scenario, running.session, printer, outcome=outcome)
                stop_now.ending = True  # a signal now meets the shutdown: it stops it at once
                # The shutdown open_environment's exit runs is the replay's too: printed, as `invoke` prints it.
                unprint = print_final_shutdown(running.session, printer)
            unprint()
            signals.cancel_scope.cancel()
        if body.cancelled_caught:
            printer.raw(f"INTERRUPTED after {outcome.steps_run} of {len(scenario.steps)} steps ({scenario.path})")
            outcome.failed_step = outcome.failed_step or scenario.steps[min(outcome.steps_run, len(scenario.steps) - 1)]

    printer.raw(f"== replay {scenario.path} on {config.name} ({config.handler}, timeout {config.timeout_s} s, "
                f"memory {config.memory_mb} MB)")
    _run_telling(main)
    if outcome.passed:
        steps, held = len(scenario.steps), outcome.expectations
        printer.raw(f"PASSED {scenario.path}: {steps} step{'s' * (steps != 1)}{_invoke_tally(outcome)}, "
                    f"{held} expectation{'s' * (held != 1)} held")
        return EXIT_OK
    step = outcome.failed_step
    assert step is not None
    printer.raw(f"FAILED {scenario.path}:{step.line}: step {step.number} {_how_it_failed(outcome)}")
    return EXIT_FUNCTION_ERROR

