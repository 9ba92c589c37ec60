"""The lifecycle as bars on a time axis, folded from the fact stream: Init and its sub-phases, each
invoke, the frozen gaps between them, the time the user held the lifecycle, resets and shutdown.

A pure reducer: `apply` each fact in the order the controller emitted it, read `bars()` to draw.
It keeps no clock of its own. Phase facts carry their time (`at`, trio monotonic seconds); facts
that do not (boundaries, holds, freeze and thaw) are placed at the `at` the caller passes, read from
the same clock when the fact arrived, or else at the latest time the timeline has seen, which is
when the phase fact emitted in the same step happened.

Durations come from the facts where they carry one (`PhaseEnded`, `InvokeReported`): the core
computes them without the time spent held at a boundary, as Lambda would report them. Init's sub-phases
are timed on the same clock as Init's duration: each boundary tells how long its Init had run when it was
reached (`BoundaryReached.init_ms`), so a step is the difference between the boundaries that open and close
it, and the last one ends with Init's duration. That clock also leaves out what the timeline cannot see (the
debugger's globals report, the sandbox settling before a spawn, the runtime's calls waiting for a host still
starting), so the steps fit within Init. Bars the core does not time (frozen and held spans, and steps from
facts without `init_ms`) measure end − start, less the time held inside them: a frozen gap the user then held at
`invoke.start` counts only until the hold began (the hold is its own bar), and a sub-phase that begins at a
boundary the user held starts when the hold was released.

Memory is bounded: only the last MAX_BARS bars are kept and `dropped` counts the ones let go.
"""

from __future__ import annotations

from collections import deque
from typing import Optional

from lambdatui.model import facts as f
from lambdatui.model.boundaries import Boundary, EnvState
from lambdatui.model.timeline_bars import TimelineBar, OpenBar

MAX_BARS = 500

FAILED_STATUSES = frozenset({"error", "timeout", "failure", "interrupted"})  # a phase that did not succeed
INIT = "init"
SUBPHASE = "init step"  # Init's sub-phases, drawn inside the init bar
INVOKE = "invoke"
FROZEN = "frozen"
HELD = "held"
RESET = "reset"
SHUTDOWN = "shutdown"

EXTENSION_INIT = "extension init"
RUNTIME_INIT = "runtime init"
FUNCTION_INIT = "function init"

# The boundary that ends one Init sub-phase (if any is open) and the sub-phase it starts (None: Init is over).
_SUBPHASE_AFTER: dict[Boundary, Optional[str]] = {
    Boundary.INIT_EXTENSIONS: EXTENSION_INIT,
    Boundary.INIT_RUNTIME: RUNTIME_INIT,
    Boundary.INIT_FUNCTION: FUNCTION_INIT,
    Boundary.INIT_DONE: None,
    Boundary.SNAPSHOT_TAKEN: None,  # SnapStart: the snapshot environment's Init is over
    Boundary.RESTORE_HOOKS_DONE: None,  # a restored environment's restore is over
}
# A restore's steps (SnapStart): its extensions start and register, and the runtime, a copy of the snapshot's, runs
# its after-restore hooks; nothing initialises.
_RESTORE_STEPS = {EXTENSION_INIT: "extension restore", RUNTIME_INIT: "runtime restore"}
SHORT_ID = 8  # characters of a request id shown on a bar, as the console abbreviates them


class Timeline:
    """Fold facts into bars. Not thread-safe: feed it from the one place facts arrive."""

    def __init__(self, max_bars: int = MAX_BARS) -> None:
        self._bars: deque[OpenBar] = deque(maxlen=max_bars)
        self.dropped = 0  # bars older than the last `max_bars`, no longer kept
        self._opened = 0  # bars ever opened: the next one's seq
        self._invokes_opened = 0  # invoke bars ever opened: the next one's number
        self._now = 0.0  # the latest time seen: where facts without a time of their own go
        self._phases: dict[str, OpenBar] = {}  # open init / invoke / reset / shutdown bar, by kind (the newest invoke)
        self._invokes: dict[str, OpenBar] = {}  # every open invoke bar, by request id (Managed Instances overlap them)
        self._subphase: Optional[OpenBar] = None
        self._next_subphase: Optional[str] = None  # starts when the hold at its boundary is released
        self._next_subphase_ms: Optional[float] = None  # its Init's time at that boundary (a hold does not add to it)
        self._frozen: Optional[OpenBar] = None
        self._held: Optional[OpenBar] = None
        self._last_invoke: Optional[OpenBar] = None  # InvokeReported may trail or lead its PhaseEnded
        # The invoke a suppressed Init runs inside: its clock started first, but it is drawn after that Init's bars,
        # as Lambda logs INIT_START before START (read as before, the invoke seemed to come before its own Init).
        self._after_init: Optional[OpenBar] = None
        self._boundary: Optional[Boundary] = None
        self._cache: Optional[tuple[TimelineBar, ...]] = None
        self.changes = 0  # facts that changed the bars: a reader tells at a glance whether anything opened or ended

    # ------------------------------------------------------------------ reading

    def bars(self) -> tuple[TimelineBar, ...]:
        """Every kept bar, oldest first (the order their spans started; an invoke after the Init inside it)."""
        if self._cache is None:
            self._cache = tuple(bar.frozen() for bar in self._kept())
        return self._cache

    def _kept(self) -> list[OpenBar]:
        return [*self._bars, self._after_init] if self._after_init is not None else list(self._bars)

    def _invoke_bar(self, request_id: str) -> Optional[OpenBar]:
        if self._after_init is not None and self._after_init.key == request_id:
            return self._after_init
        return next((b for b in reversed(self._bars) if b.kind == INVOKE and b.key == request_id), None)

    def marker(self) -> Optional[str]:
        """The boundary the environment is held at, or else the one it last passed ("init.done")."""
        return None if self._boundary is None else self._boundary.value

    @property
    def held(self) -> bool:
        return self._held is not None

    @property
    def opened(self) -> int:
        """Bars ever opened: the newest bar's seq (0 before the first)."""
        return self._opened

    def open_seqs(self) -> frozenset[int]:
        """The seqs of the bars still running (a handful at most: the phase, a sub-phase, a hold, a frozen gap)."""
        bars = (*self._phases.values(), *self._invokes.values(), self._subphase, self._frozen, self._held)
        return frozenset(bar.seq for bar in bars if bar is not None and bar.end is None)

    # ------------------------------------------------------------------ folding

    def apply(self, fact: object, at: Optional[float] = None) -> None:
        """Fold one fact in. `at` places a fact that has no time of its own; facts that have one ignore it."""
        when = getattr(fact, "at", None)
        if not isinstance(when, (int, float)):
            when = at if at is not None else self._now
        self._now = max(self._now, when)
        handler = _HANDLERS.get(type(fact))
        if handler is not None:
            handler(self, fact, when)
            self._cache = None
            self.changes += 1

    def _open(self, kind: str, label: str, at: float, detail: str = "", key: str = "") -> OpenBar:
        self._opened += 1
        bar = OpenBar(kind, label, at, detail=detail, key=key, seq=self._opened)
        self._keep(bar)
        return bar

    def _keep(self, bar: OpenBar) -> None:
        if len(self._bars) == self._bars.maxlen:
            self.dropped += 1
        self._bars.append(bar)

    def _on_phase_started(self, fact: f.PhaseStarted, at: float) -> None:
        if fact.phase != INVOKE:  # invokes overlap in a Managed Instances environment: each ends by its own fact
            self._close_phase(fact.phase, at, status="interrupted")  # a phase never ended (should not happen)
        if fact.phase == INIT:
            self._end_frozen(at)  # a new process generation starts thawed, whatever the last one was
            label = {"invoke": "init (suppressed, inside an invoke)", "restore": "restore (SnapStart)"}.get(
                fact.detail, "init")
            invoke = self._phases.get(INVOKE)
            if invoke is not None and self._bars and self._bars[-1] is invoke:
                self._after_init = self._bars.pop()  # back once this Init is over (`_close_phase`)
            self._phases[INIT] = self._open(INIT, label, at)  # sub-phases start at INIT_EXTENSIONS
        elif fact.phase == INVOKE:
            # The gap between invokes ends here: an invoke runs thawed. (With every process frozen by the user, a
            # fault, the core has nothing to thaw and says nothing of it: the gap would run on through the invoke.)
            self._end_frozen(at)
            bar = self._open(INVOKE, _short(fact.detail), at, key=fact.detail)
            self._invokes_opened += 1
            bar.number = self._invokes_opened
            bar.caller = fact.label
            bar.worker = fact.worker
            self._phases[INVOKE] = self._invokes[fact.detail] = self._last_invoke = bar
        else:
            kind = RESET if fact.phase == RESET else SHUTDOWN
            self._phases[fact.phase] = self._open(kind, kind, at, detail=fact.detail)
            self._phases[fact.phase].reason = fact.detail or None

    def _on_phase_ended(self, fact: f.PhaseEnded, at: float) -> None:
        if fact.phase == INVOKE and fact.request_id in self._invokes:
            self._end_invoke(self._invokes[fact.request_id], fact, at)
            return
        bar = self._phases.get(fact.phase)
        if fact.phase == INIT:
            # The last step ends with Init (a failed Init never reaches INIT_DONE), at Init's duration on its clock.
            failed = fact.status if fact.status != "success" else None
            self._end_subphase(at, failed, fact.duration_ms)
        if bar is None:
            return
        self._close_phase(fact.phase, at, fact.duration_ms, fact.status)
        _name_error(bar, fact.error_type)

    def _end_invoke(self, bar: OpenBar, fact: f.PhaseEnded, at: float) -> None:
        """One of the invokes still open ends; the newest still open is the environment's invoke from then on."""
        del self._invokes[bar.key]
        bar.close(at, fact.duration_ms, fact.status)
        _name_error(bar, fact.error_type)
        if self._phases.get(INVOKE) is bar:
            del self._phases[INVOKE]
            if self._invokes:
                self._phases[INVOKE] = next(reversed(self._invokes.values()))

    def _close_phase(self, phase: str, at: float, duration_ms: Optional[float] = None,
                     status: Optional[str] = None) -> None:
        bar = self._phases.pop(phase, None)
        if phase == INVOKE and bar is not None:
            self._invokes.pop(bar.key, None)
        if bar is not None:
            bar.close(at, duration_ms, status)
        if phase == INIT and self._after_init is not None:
            self._keep(self._after_init)
            self._after_init = None

    def _on_invoke_reported(self, fact: f.InvokeReported, at: float) -> None:
        bar = self._invokes.get(fact.request_id) or self._invoke_bar(fact.request_id)
        if bar is None:
            return
        bar.status = fact.status
        bar.error_type = fact.error_type or bar.error_type
        bar.detail = _report_detail(fact)
        if bar.function_error is not None and bar.function_error not in bar.detail:
            bar.detail = _join(bar.detail, bar.function_error)  # the result arrived before its REPORT
        if bar.end is not None:  # the invoke bar already closed: the report's duration is the true one
            bar.duration_ms = fact.duration_ms

    def _on_memory_measured(self, fact: f.MemoryMeasured, at: float) -> None:
        """The memory in use once the phase was over, on its bar: a cache that grows shows invoke by invoke."""
        if fact.phase == INVOKE:
            bar = self._invoke_bar(fact.request_id)
        else:
            bar = next((b for b in reversed(self._bars) if b.kind == INIT), None)
        if bar is not None:
            bar.detail = _join(bar.detail, f"mem {memory_text(fact)}")

    def _on_invocation_completed(self, fact: f.InvocationCompleted, at: float) -> None:
        """A handled function error (the runtime posted /error) is an error, whatever status REPORT gives it."""
        result = fact.result
        if not result.function_error:
            return
        bar = self._invoke_bar(result.request_id)
        if bar is not None:
            bar.function_error = result.error_type or "Unhandled"
            if bar.function_error not in bar.detail:
                bar.detail = _join(bar.detail, bar.function_error)

    def _on_boundary_reached(self, fact: f.BoundaryReached, at: float) -> None:
        self._boundary = fact.boundary
        if fact.boundary in _SUBPHASE_AFTER:
            self._end_subphase(at, init_ms=fact.init_ms)
            self._next_subphase = _SUBPHASE_AFTER[fact.boundary]
            self._next_subphase_ms = fact.init_ms
            if not fact.held:
                self._begin_next_subphase(at)
        if fact.held:
            self._end_held(at)  # a second hold without a release in between (should not happen)
            self._held = self._open(HELD, f"held at {fact.boundary.value}", at, detail=fact.detail)
            if fact.boundary in (Boundary.SHUTDOWN_START, Boundary.SHUTDOWN_DONE):
                self._held.reason = fact.detail or None

    def _on_hold_released(self, fact: f.HoldReleased, at: float) -> None:
        self._end_held(at)
        if fact.boundary in _SUBPHASE_AFTER:
            self._begin_next_subphase(at)

    def _on_frozen(self, fact: f.EnvironmentFrozen, at: float) -> None:
        if self._frozen is None:
            self._frozen = self._open(FROZEN, "frozen", at, detail=", ".join(fact.participants))
            self._frozen.began_held = self._held is not None

    def _on_thawed(self, fact: f.EnvironmentThawed, at: float) -> None:
        self._end_frozen(at)

    def _on_state_changed(self, fact: f.StateChanged, at: float) -> None:
        # With no live process left nothing is frozen, and the core emits no thaw for the dead.
        if fact.state in (EnvState.COLD, EnvState.SHUT_DOWN):
            self._end_frozen(at)

    # ------------------------------------------------------------------ the small spans

    def _begin_next_subphase(self, at: float) -> None:
        label, self._next_subphase = self._next_subphase, None
        if label is not None and INIT in self._phases and self._phases[INIT].label.startswith("restore"):
            label = _RESTORE_STEPS.get(label, label)
        if label is not None and INIT in self._phases:
            self._subphase = self._open(SUBPHASE, label, at)
            self._subphase.init_ms = self._next_subphase_ms

    def _end_subphase(self, at: float, status: Optional[str] = None, init_ms: Optional[float] = None) -> None:
        """The open step ends at `at`; `init_ms`: its Init's time then, which times the step if its start's is known."""
        bar, self._subphase = self._subphase, None
        if status is not None:
            self._next_subphase = None
        if bar is not None:
            took = None if init_ms is None or bar.init_ms is None else max(init_ms - bar.init_ms, 0.0)
            bar.close(at, took, status)

    def _end_held(self, at: float) -> None:
        bar, self._held = self._held, None
        if bar is not None:
            bar.close(at)
            for timed in (self._frozen, self._subphase):  # the bars that time themselves leave the hold out
                if timed is not None:
                    timed.held_s += max(bar.end - max(bar.start, timed.start), 0.0)  # type: ignore[operator]

    def _end_frozen(self, at: float) -> None:
        bar, self._frozen = self._frozen, None
        if bar is not None:
            if self._held is not None:  # thawed while still held: the hold so far is not frozen time
                bar.held_s += max(at - max(self._held.start, bar.start), 0.0)
            bar.close(at)
            if bar.began_held and (bar.duration_ms or 0.0) < _HOLD_ONLY_MS and bar in self._bars:
                # The hold's own freeze, thawed as it ended (a hold inside an invoke, or one that a thaw and a
                # refreeze follow): no frozen gap of Lambda's, which would show as a 0 ms bar `[` stops on.
                self._bars.remove(bar)


_HOLD_ONLY_MS = 1.0  # a frozen bar opened in a hold with less frozen time than this of its own was the hold's


_HANDLERS = {
    f.PhaseStarted: Timeline._on_phase_started,
    f.PhaseEnded: Timeline._on_phase_ended,
    f.InvokeReported: Timeline._on_invoke_reported,
    f.MemoryMeasured: Timeline._on_memory_measured,
    f.InvocationCompleted: Timeline._on_invocation_completed,
    f.BoundaryReached: Timeline._on_boundary_reached,
    f.HoldReleased: Timeline._on_hold_released,
    f.EnvironmentFrozen: Timeline._on_frozen,
    f.EnvironmentThawed: Timeline._on_thawed,
    f.StateChanged: Timeline._on_state_changed,
}


def _short(request_id: str) -> str:
    return request_id[:SHORT_ID] if request_id else "invoke"


def _name_error(bar: OpenBar, error_type: Optional[str]) -> None:
    """A phase that ended in an error names it, once, in its detail."""
    if error_type:
        bar.error_type = error_type
        if error_type not in bar.detail:
            bar.detail = _join(bar.detail, error_type)


def _join(*parts: str) -> str:
    return " · ".join(p for p in parts if p)


def memory_text(fact: f.MemoryMeasured) -> str:
    """"92/128 MB": the environment's processes together (else the runtime alone) against the limit."""
    used = fact.environment_mb if fact.environment_mb is not None else fact.runtime_mb
    return f"{used if used is not None else '?'}/{fact.limit_mb} MB"


def _report_detail(report: f.InvokeReported) -> str:
    """REPORT's figures in one line: "12.3 ms · 45 MB · init 80.2 ms"."""
    memory = f"{report.max_memory_used_mb} MB" if report.max_memory_used_mb is not None else ""
    init = f"init {report.init_duration_ms:.1f} ms" if report.init_duration_ms is not None else ""
    return _join(f"{report.duration_ms:.1f} ms", memory, init, "cold" if report.cold and not init else "",
                 report.error_type or "")
