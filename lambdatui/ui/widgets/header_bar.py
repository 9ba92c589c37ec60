"""Provides `HeaderBar`: which function, which environment, in what state, and where it is held.

Two rows, most important first so truncation drops the least useful facts: row one names the function
and the environment with a coloured state badge; row two says whether the lifecycle is held (and
where), running, or idle, plus what is queued or armed.
"""

from __future__ import annotations

from typing import Optional

from textual.content import Content
from textual.widget import Widget

from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.error_types import failure_kind
from lambdatui.model.timeline import memory_text
from lambdatui.ui.widgets._format import short_id
from lambdatui.ui.widgets._theme import STATE_VARIABLE

SEPARATOR = (" · ", "dim")


# What the environment was doing when the user held it, or froze the runtime: said after HELD / FROZEN.
_DOING = {EnvState.INIT: "INIT", EnvState.RUNNING: "INVOKE", EnvState.RESETTING: "RESET",
          EnvState.SHUTTING_DOWN: "SHUTDOWN"}


def badge(snapshot: DebuggerSnapshot) -> tuple[str, str]:
    """The state word and its colour. Held, or with the runtime stopped, nothing runs: RUNNING would be false."""
    env = snapshot.environment
    # Held at invoke.start, the invoke's Init (after a reset) is over and its event not yet sent: nothing is doing.
    doing = _DOING.get(env.state) if env.held_at is not Boundary.INVOKE_START else None
    if env.held_at is not None:
        return (f" HELD · {doing} " if doing else " HELD ", "bold $background on $phase-held")
    if env.state is EnvState.RUNNING and "runtime" in env.user_frozen:
        return (" FROZEN · INVOKE ", "bold $background on $phase-frozen")
    variable = STATE_VARIABLE.get(env.state)
    style = f"bold $background on ${variable}" if variable else "bold $foreground on $panel-lighten-2"
    return (f" {env.state.value} ", style)


def _short_interpreter(path: str) -> str:
    """Enough of the interpreter's path to tell which: `.venv/bin/python`, `/usr/bin/python3`."""
    parts = path.split("/")
    return "/".join(parts[-3:]) if len(parts) > 4 and parts[-2] == "bin" else path


def last_failure(snapshot: DebuggerSnapshot) -> Optional[str]:
    """How the last Init or invoke failed, when it did: "✗ a1b2c3d4 function error: ValueError"."""
    failure = snapshot.last_init_failure
    if failure is not None:
        what = "Init timed out" if failure.status == "timeout" else "Init failed"
        shown = failure.shown_type
        return f"✗ {what}" if shown == failure.status else f"✗ {what}: {shown}"  # not "timed out: timeout"
    result = snapshot.last_result
    if result is None or not result.function_error:
        return None
    report = snapshot.last_report
    timed_out = report is not None and report.request_id == result.request_id and report.status == "timeout"
    kind = failure_kind(result.error_type, timed_out, result.api_status)
    return f"✗ {short_id(result.request_id)} {kind}: {result.error_type or 'Unhandled'}"


def _joined(parts: list[tuple[str, str] | str]) -> list[tuple[str, str] | str]:
    out: list[tuple[str, str] | str] = []
    for part in parts:
        if out:
            out.append(SEPARATOR)
        out.append(part)
    return out


class HeaderBar(Widget):
    """The top of the debugger: function, environment number and state badge, the hold."""

    DEFAULT_CSS = """
    HeaderBar {
        height: 2;
        padding: 0 1;
        background: $panel;
        color: $foreground;
    }
    HeaderBar.-held {
        background: $panel-lighten-1;
    }
    """
    """Two rows on a panel background; a lighter panel while the lifecycle is held."""

    def __init__(self, *, name: Optional[str] = None, id: Optional[str] = None, classes: Optional[str] = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._snapshot: Optional[DebuggerSnapshot] = None

    def show(self, snapshot: DebuggerSnapshot) -> None:
        """Render this snapshot (the screen calls it on every update)."""
        self._snapshot = snapshot
        self.set_class(snapshot.environment.held_at is not None, "-held")
        self.refresh()

    def render(self) -> Content:
        width = max(self.content_size.width, 1)
        if self._snapshot is None:
            return Content.from_markup("[b]λ lambdatui[/]\n[dim]starting…[/]")
        rows = [self._identity_row(self._snapshot), self._status_row(self._snapshot)]
        return Content("\n").join(row.truncate(width, ellipsis=True) for row in rows)

    # ------------------------------------------------------------------ rows

    @staticmethod
    def _identity_row(snapshot: DebuggerSnapshot) -> Content:
        fn = snapshot.function
        invokes = f"{snapshot.invocations} invoke{'s' if snapshot.invocations != 1 else ''}"
        facts: list[tuple[str, str] | str] = [
            fn.handler,
            f"{fn.runtime} ({_short_interpreter(fn.interpreter)})" if fn.interpreter else fn.runtime,
            f"timeout {fn.timeout_s} s",
            f"mem {memory_text(snapshot.memory_in_use)}" if snapshot.memory_in_use else f"{fn.memory_mb} MB",
            invokes,
        ]
        if fn.extensions:
            facts.append(f"ext: {', '.join(fn.extensions)}")
        return Content.assemble(
            ("λ ", "bold $accent"),
            (fn.name, "bold"),
            ("  env ", "dim"),
            (f"#{snapshot.environment_number} ", "bold"),
            badge(snapshot),
            "  ",
            *_joined(facts),
        )

    @staticmethod
    def _status_row(snapshot: DebuggerSnapshot) -> Content:
        env = snapshot.environment
        request = snapshot.request_in_view
        if env.held_at is not None:
            held = f" ‖ HELD at {env.held_at.value} "
            lead: list[tuple[str, str] | str] = [(held, "bold $background on $phase-held")]
        elif env.state is EnvState.RUNNING and "runtime" in env.user_frozen:
            lead = [("‖ runtime stopped (SIGSTOP): the timeout still counts", "bold $phase-frozen")]
        elif env.state is EnvState.RUNNING:
            lead = [("▶ running", "bold $phase-invoke")]
        elif env.state is EnvState.INIT:
            step = f" ({env.init_sub_phase} init)" if env.init_sub_phase else ""
            lead = [(f"▶ running Init{step}", "bold $phase-init")]
        elif env.state is EnvState.FROZEN:
            lead = [("idle: frozen, waiting for an invoke", "$phase-frozen")]
        elif env.state is EnvState.COLD:
            lead = [("cold: the next invoke runs Init", "dim")]
        else:
            lead = [(env.state.value.lower(), "$phase-shutdown")]
        extra: list[tuple[str, str] | str] = []
        runtime_said = env.state is EnvState.RUNNING and env.held_at is None  # the lead already names the runtime
        frozen_names = sorted(key.split(":", 1)[-1] for key in env.user_frozen
                              if not (runtime_said and key == "runtime"))
        if frozen_names:
            extra.append((f"frozen by you: {', '.join(frozen_names)}  ", "bold $phase-frozen"))
        failed = last_failure(snapshot) if not env.current_request_id else None
        if failed:
            extra.append((failed + "  ", "bold $phase-error"))
        if request:
            extra.append(("request ", "dim"))
            extra.append((short_id(request), "bold"))
        if len(env.queued) > (0 if env.current_request_id else 1):
            extra.append(("  ", ""))
            extra.append((f"{len(env.queued)} queued", "dim"))
        if snapshot.armed_faults:
            extra.append(("  armed: ", "$phase-error"))
            extra.append((", ".join(snapshot.armed_faults), "$phase-error"))
        if env.breakpoints:
            names = ", ".join(sorted(b.value for b in env.breakpoints))
            extra.append(("  breakpoints: ", "dim"))
            extra.append((names, "dim"))
        return Content.assemble(*lead, "  ", *extra)
