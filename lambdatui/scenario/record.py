"""Write what happened as a scenario that `lambdatui replay` reproduces.

A `Recorder` listens at the controller, below every client: `attach(session)` hears every fact and every
command, whoever sent it. Invokes are recorded from the facts (`InvocationQueued` carries the event, as
`InvocationRefused` does for one turned away after a shutdown), so an invoke from the Invoke API (`--port`,
RequestResponse or Event) is recorded as surely as the UI's `i`; faults, new environments and shutdowns
from the commands.

Steps are written in the order they took effect, because a replay runs one step at a time: a command in
the order the controller took it, an invoke when its event went out (invoke.start passed, held or not),
or when it ended without getting that far. So a fault given while an invoke waited in the queue or was
held at invoke.start (make the handler raise, then continue) comes before that invoke, as it acted on it.
An invoke that never started by the end is written last.

The end of the session itself (the debugger quits, `session.end()`) is no step: the shutdown it causes
turns away the invokes still waiting, with an error that only the quit caused. Those never reached the
function, so they are written as comments, not as steps a replay would run and expect to fail; an invoke
the end cut off while the function ran it is a step, with no expectation on its result. A session with
nothing else to replay is written as the shutdown it ended with, since a scenario runs at least one step. Only what is stable goes into the expectations: a response is compared by the keys that do
not quote its request id (`expect.response` matches a subset), an error body (which quotes the request id
and file paths) by its error type only; the telemetry an extension received for an invoke by its record types,
without those whose number depends on timing (`stable_types`); durations and ids never appear.

TOML is written here by hand (the standard library reads TOML but has no writer): strings use TOML's
escapes, events and responses are JSON text (TOML has no null, JSON does), as literal strings
`'...'` when the text allows it, else basic strings.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

from lambdatui import controller as c
from lambdatui.config import FunctionConfig
from lambdatui.model import error_types as et
from lambdatui.model import facts as f
from lambdatui.model import faults as flt
from lambdatui.model.boundaries import Boundary
from lambdatui.scenario.match import child_path
from lambdatui.scenario.telemetry_ledger import TelemetryLedger

if TYPE_CHECKING:
    from lambdatui.host.debug_session import DebugSession

# ---------------------------------------------------------------------- TOML text

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def _is_control(ch: str) -> bool:
    return ch < " " or ch == "\x7f"


def toml_basic_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif _is_control(ch):
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_string(text: str) -> str:
    """A literal string `'...'` when TOML allows one (no `'`, no control character but tab), else a basic one."""
    if "'" not in text and not any(_is_control(ch) and ch != "\t" for ch in text):
        return f"'{text}'"
    return toml_basic_string(text)


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_basic_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }" \
            if value else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def writable(text: str) -> bool:
    """Whether UTF-8 (and so TOML) can hold `text`: not when it has a lone surrogate, which JSON's "\\ud800" makes."""
    return _LONE_SURROGATE.search(text) is None


def json_line(value: Any) -> str:
    """`value` as one line of JSON text that UTF-8 can hold: a lone surrogate stays a JSON escape (same value)."""
    text = json.dumps(value, ensure_ascii=False)
    return text if writable(text) else _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_text(payload: bytes) -> Optional[str]:
    """The payload as one line of JSON text, or None when it is not JSON (or too deep for Python's parser)."""
    try:
        return json_line(json.loads(payload.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


# ---------------------------------------------------------------------- the recorder


@dataclass
class _Invoke:
    event: bytes
    request_id: str
    result: Optional[f.InvocationResult] = None
    cold: Optional[bool] = None
    cut_off: bool = False  # the end of the session stopped it while the function ran it


@dataclass
class _Other:
    command: c.Command


FAULT_NAME = {
    flt.Crash: "crash",
    flt.Freeze: "freeze",
    flt.Thaw: "thaw",
    flt.ForceTimeout: "timeout",
    flt.RaiseInHandler: "raise",
    flt.ExtensionInitError: "init-error",
}


class Recorder:
    """Commands and facts in, a replayable scenario out (`to_toml`)."""

    def __init__(self, config: FunctionConfig, *, handler_given: bool = False, function_path: Optional[str] = None,
                 scenario_path: Optional[str] = None, options: Sequence[str] = ()) -> None:
        """`function_path` and `scenario_path` as the user gave them, and the command-line `options` a replay
        needs that the [function] table cannot hold (--extensions, --python...): they make the header's
        replay command one that runs as written, from where the recording was made."""
        self.config = config
        self.handler_given = handler_given
        self.function_path = function_path
        self.scenario_path = scenario_path
        self.options = tuple(options)
        self.steps: list[Any] = []
        self._waiting: dict[str, _Invoke] = {}  # queued, event not yet sent: placed among the steps when it is
        self._held_start: Optional[str] = None  # the invoke held at invoke.start, before its event went out
        self._ended = False  # the session is ending: what is refused or cut off now is the quit's doing
        self._not_run: list[_Invoke] = []  # turned away by the end of the session, never delivered
        # The telemetry each extension received, by invoke: an invoke's last records arrive after the freeze, often
        # at the next invoke or the final shutdown, so it listens to the end, the session's own end included.
        self.telemetry = TelemetryLedger()

    def session_ended(self) -> None:
        """The session ends and shuts its environment down next (`DebugSession.end`)."""
        self._ended = True

    def attach(self, session: DebugSession) -> Callable[[], None]:
        """Record everything that reaches this controller from now on; returns the detach function."""
        unsubscribe = session.subscribe(self.fact)
        unwatch = session.watch_commands(self.command)
        unwatch_end = session.watch_end(self.session_ended)
        if session.ending:
            self.session_ended()

        def detach() -> None:
            unsubscribe()
            unwatch()
            unwatch_end()

        return detach

    # ------------------------------------------------------------------ input

    def command(self, command: c.Command) -> None:
        if isinstance(command, (c.InjectFault, c.NewEnvironment, c.Shutdown)):
            self.steps.append(_Other(command))
        # An Invoke is recorded from its InvocationQueued fact, which every invoke has, whatever sent it.
        # Step, Continue and SetBreakpoints hold and release the lifecycle: a replay runs straight through,
        # and a hold never changes an outcome (held time counts against no deadline).

    def fact(self, fact: f.Fact) -> None:
        self.telemetry(fact)
        if isinstance(fact, f.InvocationQueued):
            if self._by_id(fact.request_id) is None:
                self._waiting[fact.request_id] = _Invoke(fact.event, fact.request_id)
        elif isinstance(fact, f.InvocationRefused):
            if self._by_id(fact.request_id) is None:
                refused = _Invoke(fact.event, fact.request_id)
                if self._ended:
                    self._not_run.append(refused)  # only the end of the session turned it away
                else:
                    self.steps.append(refused)  # it ends here: a replay meets the same refusal
        elif isinstance(fact, f.BoundaryReached) and fact.boundary is Boundary.INVOKE_START:
            if fact.held:
                self._held_start = fact.detail
            else:
                self._place(fact.detail)
        elif isinstance(fact, f.HoldReleased) and fact.boundary is Boundary.INVOKE_START:
            if self._held_start is not None:
                self._place(self._held_start)
                self._held_start = None
        elif isinstance(fact, f.InvocationCompleted):
            request_id = fact.result.request_id
            # The end's shutdown answers what it stops with Sandbox.Failure; a result the function gave before
            # (held at invoke.response when the user quit) is still its own, and recorded as such.
            by_the_end = self._ended and fact.result.error_type == et.SANDBOX_FAILURE
            if by_the_end and request_id in self._waiting:
                self._not_run.append(self._waiting.pop(request_id))  # it never reached the function
                return
            self._place(request_id)  # it ended before its event went out (a failed Init...)
            step = self._by_id(request_id)
            if step is not None and step.result is None and not step.cut_off:
                if by_the_end:
                    step.cut_off = True  # the function was running it: the error is the quit's, not its own
                else:
                    step.result = fact.result
        elif isinstance(fact, f.InvokeReported):
            step = self._by_id(fact.request_id)
            if step is not None:
                step.cold = fact.cold

    __call__ = fact  # so that `host.subscribe(recorder)` works

    def _place(self, request_id: str) -> None:
        step = self._waiting.pop(request_id, None)
        if step is not None:
            self.steps.append(step)

    def _by_id(self, request_id: str) -> Optional[_Invoke]:
        if request_id in self._waiting:
            return self._waiting[request_id]
        return next((s for s in self.steps if isinstance(s, _Invoke) and s.request_id == request_id), None)

    # ------------------------------------------------------------------ output

    def to_toml(self) -> str:
        out = [
            f"# Recorded by lambdatui from function '{self.config.name}'. Replay it with:",
            "#   " + self.replay_command(),
            "# Options given on the command line override the [function] table.",
            "",
            "[function]",
            f"timeout = {self.config.timeout_s}",
            f"memory = {self.config.memory_mb}",
        ]
        if self.handler_given:
            out.append(f"handler = {toml_string(self.config.handler)}")
        if self.config.env:
            out += ["", "[function.env]"]
            out += [f"{toml_key(k)} = {toml_string(v)}" for k, v in self.config.env.items()]
        not_run = list(self._not_run)
        steps: list[Any] = list(self.steps)
        for step in self._waiting.values():
            (not_run if self._ended else steps).append(step)
        for step in steps:
            out += ["", "[[step]]"]
            out += self._invoke_lines(step) if isinstance(step, _Invoke) else self._other_lines(step.command)
        if not steps:
            out += ["", "[[step]]",
                    "# Nothing ran that a replay could repeat: the session ended by shutting the environment down.",
                    "shutdown = true"]
        for step in not_run:
            out += ["", "# Not a step: this invoke was still waiting when the session ended, and never ran:",
                    f"#   invoke = {self._event_text(step.event)}"]
        # The backstop for any other text no file can hold (a name or a variable from non-UTF-8 bytes): U+FFFD.
        return _LONE_SURROGATE.sub("\ufffd", "\n".join(out) + "\n")

    def replay_command(self) -> str:
        """The shell command that replays this recording; paths as given, so relative to where it was recorded."""
        # Without the path as given, the code folder: `lambdatui replay` accepts a handler's folder too.
        return replay_command(self.function_path or str(self.config.code_dir),
                              self.scenario_path or "THIS_FILE.toml", self.options)

    @staticmethod
    def _event_text(event: bytes) -> str:
        text = json_text(event)
        return toml_string(text if text is not None else event.decode("utf-8", "replace"))

    def _invoke_lines(self, step: _Invoke) -> list[str]:
        lines = [f"invoke = {self._event_text(step.event)}"]
        expect: list[str] = []
        notes: list[str] = []
        result = step.result
        if step.cut_off:
            notes.append("# the session ended while the function ran this invoke: its result is not compared")
        elif result is not None:
            if result.function_error:
                error_type = result.error_type
                if isinstance(error_type, str) and error_type and writable(error_type):
                    expect.append(f"error_type = {toml_string(error_type)}")
                elif error_type:
                    # Only a string TOML can hold is compared: the core gives a string, but a lone surrogate
                    # ("\\ud800" in the runtime's JSON) is in no UTF-8 file.
                    shown = json.dumps(error_type) if isinstance(error_type, str) else type(error_type).__name__
                    notes.append(f"# error_type not compared: the runtime reported {shown}, which TOML cannot hold")
            else:
                response = json_text(result.payload)
                if response is None:
                    notes.append("# response not compared: it is not JSON")
                elif step.request_id in response:
                    try:
                        stable, volatile = stable_part(json.loads(response), step.request_id)
                    except RecursionError:  # nested nearly as deep as Python's parser allows
                        stable, volatile = None, []
                    if stable:
                        notes.append(f"# {', '.join(volatile)} carry the request id, new on every run: "
                                     "the other keys are compared")
                        expect.append(f"response = {toml_string(json_line(stable))}")
                    else:
                        notes.append("# response not compared: it carries the request id, new on every run")
                else:
                    expect.append(f"response = {toml_string(response)}")
        else:
            notes.append("# no result was recorded for this invoke")
        if step.cold is not None:
            expect.append(f"cold = {toml_value(step.cold)}")
        if not step.cut_off:
            expect += self._telemetry_lines(step.request_id)
        lines += notes
        if expect:
            lines.append("expect = { " + ", ".join(expect) + " }")
        return lines

    def _telemetry_lines(self, request_id: str) -> list[str]:
        """`telemetry = ...` when extensions received records for this invoke: the types that recur on every run."""
        tables = []
        for name in self.telemetry.extensions_for(request_id):
            types = stable_types(self.telemetry.types_for(name, request_id))
            if types and writable(name):
                tables.append(toml_value({"extension": name, "types": types}))
        if not tables:
            return []
        return [f"telemetry = {tables[0]}" if len(tables) == 1 else f"telemetry = [{', '.join(tables)}]"]

    def _other_lines(self, command: c.Command) -> list[str]:
        if isinstance(command, c.NewEnvironment):
            return ["new_environment = true"]
        if isinstance(command, c.Shutdown):
            return ["shutdown = true"]
        assert isinstance(command, c.InjectFault)
        fault = command.fault
        lines = [f"fault = {toml_string(FAULT_NAME[type(fault)])}"]
        if isinstance(fault, (flt.Crash, flt.Freeze, flt.Thaw, flt.ExtensionInitError)):
            lines.append(f"target = {toml_string(fault.target)}")
        if isinstance(fault, flt.Crash):
            if fault.exit_code is not None:
                lines.append(f"exit_code = {fault.exit_code}")
            elif fault.signal is not None:
                lines.append(f"signal = {_signal_value(fault.signal)}")
        if isinstance(fault, flt.RaiseInHandler):
            lines.append(f"exception = {toml_string(fault.exception)}")
            lines.append(f"message = {toml_string(fault.message)}")
        if fault.at is not None:
            lines.append(f"at = {toml_string(fault.at.value)}")
        return lines


def stable_part(value: Any, request_id: str, path: str = "") -> tuple[Any, list[str]]:
    """An object without the keys whose values quote the request id, and the paths of those it left out.

    `expect.response` matches a subset, so what is left still checks the response. Anything but an object
    that quotes the id has no stable part (None).
    """
    if not isinstance(value, dict):
        return (None, [path]) if request_id in json.dumps(value, ensure_ascii=False) else (value, [])
    kept: dict[str, Any] = {}
    left_out: list[str] = []
    for key, inner in value.items():
        where = child_path(path, key) if path else key
        part, dropped = stable_part(inner, request_id, where)
        left_out += dropped
        if part is not None:
            kept[key] = part
    # An object left empty only by what it quoted has nothing stable to check; one that was empty, has.
    return (kept if kept or not left_out else None), left_out


# Records whose number depends on timing, not on the function: an extension's own lines (many log each batch they
# receive) and the notices of records dropped because a listener fell behind.
UNSTABLE_TYPES = ("extension", "platform.logsDropped")


def stable_types(types: Sequence[str]) -> list[str]:
    """The record types an `expect.telemetry` can be written with so that every replay matches it: without those
    whose number depends on timing, and a run of one type (lines of output) as one, since the expectation matches
    in order with others allowed between."""
    out: list[str] = []
    for kind in types:
        if kind not in UNSTABLE_TYPES and (not out or out[-1] != kind):
            out.append(kind)
    return out


def replay_command(function_path: str, scenario_path: str, options: Sequence[str] = ()) -> str:
    words = ["lambdatui", "replay", *options, function_path, scenario_path]
    return " ".join(_shell_word(word) for word in words)


def _shell_word(word: str) -> str:
    # Quoted for a shell; a control character (a newline would end the comment line) becomes "?".
    return shlex.quote("".join("?" if _is_control(ch) else ch for ch in word))


def _signal_value(number: int) -> str:
    try:
        return toml_string(signal.Signals(number).name)
    except ValueError:
        return str(number)  # a real-time signal has no name
