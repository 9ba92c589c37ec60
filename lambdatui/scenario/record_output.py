"""The recording as a scenario's TOML text: the [function] table, then the steps in the order they took effect
(record.py gathers them), then the invokes that never ran, as comments.

`Overlap` is one or several invokes in flight at once (an `invoke` or a `parallel` step); `OtherStep` a command
recorded as a step of its own. What each invoke step expects is record_expectations.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from lambdatui import controller as c
from lambdatui.config import FunctionConfig
from lambdatui.model.fleet import FleetOptions
from lambdatui.scenario.record_expectations import RecordedInvoke, event_text, invoke_lines, parallel_lines
from lambdatui.scenario.model import MAX_PAUSE_S
from lambdatui.scenario.record_lines import command_lines, fleet_lines, replay_command
from lambdatui.scenario.telemetry_ledger import TelemetryLedger
from lambdatui.scenario.toml_writer import lone_surrogates_replaced, toml_key, toml_string


@dataclass
class OtherStep:
    """A command recorded as a step of its own (a fault, a new environment, a shutdown), in its place among
    the invokes."""

    command: c.Command


@dataclass(eq=False)
class Overlap:
    """Invokes all in flight at once, in several environments. One step: a lone invoke is written as `invoke`,
    several as `parallel`."""

    invokes: list[RecordedInvoke] = field(default_factory=list)
    members: set[str] = field(default_factory=set)  # request ids routed into it (not the throttled ones)
    pending: set[str] = field(default_factory=set)  # those still in flight
    # Its first invoke was sent while others ran elsewhere that a replay runs to the end first: routed otherwise.
    overlapped: bool = False
    environments: Optional[int] = None  # alive once the last of them had its environment (when the fleet is known)
    # More than one environment was alive (or being started) when one of them was routed: a replay's fleet, whose
    # environments finish their invokes in another order, may pick another, so each names its own (`env`, `envs`).
    several: bool = False
    placed: bool = False  # among the steps


# Past --idle-shutdown, for a replay's spindown to have begun: the fleet looks for idle environments every 50 ms at
# most, and the spindown takes its own time.
PAUSE_MARGIN_S = 0.5


@dataclass
class PauseStep:
    """Time that passed between steps because it mattered: environment `number`, idle for `idle_s`
    (--idle-shutdown), was spun down; a replay waits `seconds`. With `others` alive (used since, or idle for less
    time), a pause would spin them down too: a replay shuts that environment down instead."""

    number: int
    idle_s: float
    others: bool = False

    @property
    def seconds(self) -> float:
        return round(self.idle_s + PAUSE_MARGIN_S, 1)


class RecordOutput:
    """Part of `Recorder` (record.py): its steps written out."""

    config: FunctionConfig
    handler_given: bool
    function_path: Optional[str]
    scenario_path: Optional[str]
    options: Sequence[str]
    steps: list[Any]
    telemetry: TelemetryLedger
    _options: Optional[FleetOptions]
    _overlap_of: dict[str, Overlap]
    _waiting: dict[str, RecordedInvoke]
    _not_run: list[RecordedInvoke]
    _ended: bool

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
        out += fleet_lines(self._options)
        if self.config.env:
            out += ["", "[function.env]"]
            out += [f"{toml_key(k)} = {toml_string(v)}" for k, v in self.config.env.items()]
        not_run = list(self._not_run)
        steps: list[Any] = list(self.steps)
        for step in self._waiting.values():
            overlap = self._overlap_of[step.request_id]
            if self._ended:
                not_run.append(step)
            elif overlap not in steps:
                steps.append(overlap)
        written = 0
        fleet_known = True  # no step so far ran beside invokes a replay finishes first: its fleet is the session's
        retries_said = 0  # the `after_retries` a replay waits for by now
        for step in steps:
            throttled = self._throttled_alone(step, not_run)
            if throttled is not None:
                # Throttled while invokes ran that a replay has finished by then: the replay would run it, in an
                # environment whose state the steps after it read. It never reached the function: not a step.
                out += ["", "# Not a step: throttled (429) at the limit while other invokes ran, it never reached the "
                        "function;", "# a replay, where those have ended, would run it:",
                        f"#   invoke = {event_text(throttled.event)}"]
                continue
            lines = self._step_lines(step, not_run, fleet_known)
            after = _after_retries(step)
            if lines and after > retries_said:
                retries_said = after
                lines = [f"after_retries = {after}  # as in the session, the fleet had run failed Event invokes "
                         f"again {after} time{'s' if after > 1 else ''} when this came", *lines]
            if lines:
                out += ["", "[[step]]", *lines]
                written += 1
            if isinstance(step, Overlap) and step.overlapped:
                fleet_known = False
        if not written:
            out += ["", "[[step]]",
                    "# Nothing ran that a replay could repeat: the session ended by shutting the environment down.",
                    "shutdown = true"]
        for step in not_run:
            out += ["", "# Not a step: this invoke was still waiting when the session ended, and never ran:",
                    f"#   invoke = {event_text(step.event)}",
                    *(["#   invocation_type = 'Event'"] if step.asynchronous else [])]
        # The backstop for any other text no file can hold (a name or a variable from non-UTF-8 bytes): U+FFFD.
        return lone_surrogates_replaced("\n".join(out) + "\n")

    def replay_command(self) -> str:
        """The shell command that replays this recording; paths as given, so relative to where it was recorded."""
        # Without the path as given, the code folder: `lambdatui replay` accepts a handler's folder too.
        return replay_command(self.function_path or str(self.config.code_dir),
                              self.scenario_path or "THIS_FILE.toml", self.options)

    @staticmethod
    def _throttled_alone(step: Any, not_run: list[RecordedInvoke]) -> Optional[RecordedInvoke]:
        """An invoke throttled beside others that a replay has finished by then (`Recorder._throttled` gives it an
        overlap of its own), else None."""
        if not isinstance(step, Overlap):
            return None
        ran = [s for s in step.invokes if not any(s is other for other in not_run)]
        return ran[0] if len(ran) == 1 and ran[0].throttled else None

    def _managed(self) -> bool:
        """Managed Instances: an environment runs several invokes at once, in its workers."""
        return self._options is not None and self._options.max_concurrency > 1

    def _step_lines(self, step: Any, not_run: list[RecordedInvoke], fleet_known: bool = True) -> list[str]:
        if isinstance(step, RecordedInvoke):
            return invoke_lines(step, self.telemetry, managed=self._managed())
        if isinstance(step, Overlap):
            # Those the end of the session turned away never ran: comments, not part of the step.
            ran = [s for s in step.invokes if not any(s is other for other in not_run)]
            if len(ran) == 1:
                return invoke_lines(ran[0], self.telemetry, overlapped=step.overlapped, after_overlap=not fleet_known,
                                    several=step.several, managed=self._managed())
            return parallel_lines(ran, step.environments, self.telemetry, overlapped=step.overlapped,
                                  fleet_known=fleet_known, several=step.several, managed=self._managed()) if ran else []
        if isinstance(step, PauseStep):
            why = f"# env #{step.number} was idle for {step.idle_s:g} s and was spun down (--idle-shutdown)"
            if step.seconds <= MAX_PAUSE_S:
                if not step.others:
                    return [f"{why}: a replay waits as long", f"pause = {step.seconds:g}"]
                return [f"{why}: a replay shuts it down here (a pause would spin down the environments used since, "
                        "too)", "shutdown = true", f"env = {step.number}"]
            return [f"{why}: longer than a replay waits ({MAX_PAUSE_S:g} s), so it shuts that environment down",
                    "shutdown = true", f"env = {step.number}"]
        return command_lines(step.command)


def _after_retries(step: Any) -> int:
    """The retries of failed Event invokes that had ended when the step's first invoke came (0: not an invoke step)."""
    invokes = [step] if isinstance(step, RecordedInvoke) else step.invokes if isinstance(step, Overlap) else []
    return min((invoke.after_retries for invoke in invokes), default=0)
