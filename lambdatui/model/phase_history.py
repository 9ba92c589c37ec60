"""What the debugger showed at the end of each timeline bar, so the user can travel back to any phase.

A pure companion of `DebugState`: it sees every fact right after the state folded it in, and when a bar's span is
over it keeps the state as of that moment, keyed by the bar's `TimelineBar.seq`. "As of the end" means every fact
folded before the next bar opened: an invoke's REPORT, its globals report and its /tmp listing arrive around the
invoke's PhaseEnded, and all belong to it.

Cheap by construction: a kept state holds references to the facts the state held then (facts are frozen, so
nothing is copied), a count per extension of the events it had received, and where the bar's log lines lie in the
log (a running count, not the lines). Only the newest MAX_PAST_STATES bars' states are kept; an older bar has none
(`state_as_of` answers None, and the controller then answers with the live snapshot).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterable, Mapping, NamedTuple, Optional

from lambdatui.model import debug_snapshot as ds
from lambdatui.model import facts as f

if TYPE_CHECKING:  # the state that feeds it (a runtime import would be circular)
    from lambdatui.model.debug_state import DebugState

MAX_PAST_STATES = 200


class PhaseState(NamedTuple):
    """The panels' state as of one bar's end: references to what the live state held then. A NamedTuple: made on
    the host's loop at every bar's end, it must cost next to nothing (a frozen dataclass takes several times as
    long to build)."""

    seq: int
    request_id: Optional[str]  # the invoke's, for an invoke bar: its log lines are the ones with this id
    globals: Optional[f.GlobalsReported]
    tmp: Optional[f.TmpChanged]
    last_result: Optional[f.InvocationResult]
    last_result_label: str
    last_report: Optional[f.InvokeReported]
    last_stacks: Optional[f.StacksCaptured]
    last_init_failure: Optional[f.InitFailed]
    stream: Optional[ds.StreamView]
    memory: tuple[f.MemoryMeasured, ...]  # the runtime's measurements by then (its memory line stops there)
    received: Mapping[str, int]  # extension -> seq of its last event by then
    lines_from: int  # the log's running line count when the bar opened
    lines_to: int  # ... and when it ended
    completed: int  # invokes answered by then (this environment's view)


@dataclass(frozen=True)
class _Opening:
    """A timeline bar still running: the invoke it is for, if any, and where its log lines begin."""

    request_id: Optional[str]
    lines_from: int


class PhaseHistory:
    """Per environment: the state as of each bar's end, for the newest `limit` bars."""

    def __init__(self, limit: int = MAX_PAST_STATES) -> None:
        self.limit = limit
        self._kept: OrderedDict[int, PhaseState] = OrderedDict()
        self._open: dict[int, _Opening] = {}  # bars still running
        self._ended: dict[int, tuple[_Opening, int]] = {}  # bars over, until the next bar opens: their state grows
        self._seen = 0  # the newest bar seq seen
        self.lines = 0  # log lines ever folded (the log keeps the newest; this places each bar's among them)
        self.completed = 0  # invokes answered
        self.forgotten = 0  # states let go, oldest first
        self._changes = 0  # the timeline's change count when last looked at

    # ------------------------------------------------------------------ folding

    def apply(self, fact: f.Fact, state: DebugState) -> None:
        """Called by `state` once it folded `fact` in."""
        kind = type(fact)
        if kind is f.LogLines:
            self.lines += len(fact)  # type: ignore[arg-type]  # the hot path: lines never open or end a bar
            return
        if kind is f.LogLine:
            self.lines += 1
            return
        if kind is f.InvocationCompleted:
            self.completed += 1
        timeline = state.timeline
        if timeline.changes == self._changes:
            return  # no bar opened or ended: most facts (participants, reports, listings)
        self._changes = timeline.changes
        opened = timeline.opened
        if opened > self._seen:
            request_id = fact.detail if kind is f.PhaseStarted and fact.phase == "invoke" else None  # type: ignore[union-attr]
            for seq in range(self._seen + 1, opened + 1):
                self._open[seq] = _Opening(request_id if seq == opened else None, self.lines)
        if self._open:
            running = timeline.open_seqs()
            for seq in [s for s in self._open if s not in running]:
                self._ended[seq] = (self._open.pop(seq), self.lines)
        if opened > self._seen:
            # A new bar: the ended ones' time is over; what they show is the state now (a bar's opening fact
            # changes none of the panels' fields).
            for seq in sorted(self._ended):
                opening, lines_to = self._ended[seq]
                self._keep(self._capture(seq, opening, lines_to, state))
            self._ended.clear()
            self._seen = opened

    def _keep(self, past: PhaseState) -> None:
        self._kept[past.seq] = past
        while len(self._kept) > self.limit:
            self._kept.popitem(last=False)
            self.forgotten += 1

    def _capture(self, seq: int, opening: _Opening, lines_to: int, state: DebugState) -> PhaseState:
        return PhaseState(seq, opening.request_id, state.globals, state.tmp, state.last_result,
                          state.last_result_label, state.last_report, state.last_stacks, state.last_init_failure,
                          state.stream, state.memory, state.extensions.received_counts(), opening.lines_from, lines_to,
                          self.completed)

    # ------------------------------------------------------------------ reading

    def state_as_of(self, seq: int, state: DebugState) -> Optional[PhaseState]:
        """The state as of bar `seq`'s end; a bar that has just ended (no bar after it yet) or still runs shows the
        state now. None: a bar whose state is no longer kept (or never seen)."""
        past = self._kept.get(seq)
        if past is not None:
            return past
        if seq in self._ended:
            opening, lines_to = self._ended[seq]
            return self._capture(seq, opening, lines_to, state)
        if seq in self._open:
            return self._capture(seq, self._open[seq], self.lines, state)
        return None

    def kept_seqs(self) -> tuple[int, ...]:
        """The bars with a state to travel to, oldest first (ended or running)."""
        return (*self._kept, *sorted(self._ended), *sorted(self._open))


# ---------------------------------------------------------------------- a snapshot of the past


def past_snapshot(live: ds.DebuggerSnapshot, past: PhaseState, history: PhaseHistory,
                  logs: f.KeptLines) -> ds.DebuggerSnapshot:
    """`live` with its panels' fields as of `past`'s bar: `timeline` (every kept bar) and the environment's own
    state (participants, breakpoints, the fleet) stay live, `selected_bar` names the bar."""
    return replace(
        live,
        globals=past.globals,
        tmp=past.tmp,
        last_result=past.last_result,
        last_result_label=past.last_result_label,
        last_report=past.last_report,
        last_stacks=past.last_stacks,
        last_init_failure=past.last_init_failure,
        stream=past.stream,
        memory=past.memory,
        extensions=tuple(_received_by(x, past.received) for x in live.extensions if x.name in past.received),
        logs=bar_lines(past, history.lines, logs),
        invocations=max(live.invocations - (history.completed - past.completed), 0),
        selected_bar=past.seq,
    )


def bar_lines(past: PhaseState, lines: int, logs: Iterable[f.LogLine]) -> tuple[f.LogLine, ...]:
    """The log lines of the bar that are still kept: those that came while it ran, and for an invoke every line
    with its request id up to its end (START comes just before the invoke's bar opens)."""
    kept = list(logs)
    first = lines - len(kept)  # the running index of the oldest kept line
    out = []
    gone = min(first, past.lines_to) - past.lines_from
    if gone > 0:  # an empty pane would read as a phase that logged nothing
        out.append(f.LogLine(f.LAMBDATUI, f"{gone:,} of this phase's log lines are no longer kept (the debugger "
                                          f"keeps each environment's newest {len(kept):,})"))
    for index, line in enumerate(kept, start=first):
        if index >= past.lines_to:
            break
        if index >= past.lines_from or (past.request_id is not None and line.request_id == past.request_id):
            out.append(line)
    return tuple(out)


def _received_by(activity: ds.ExtensionActivity, received: Mapping[str, int]) -> ds.ExtensionActivity:
    """What the extension had been sent by then; its counters worked out from the events still kept."""
    last = received.get(activity.name, 0)
    events = tuple(e for e in activity.events if e.seq <= last)
    batches = [e for e in events if e.kind == ds.BATCH and e.error is None]
    dropped = [e for e in events if e.kind == ds.DROPPED]
    return replace(
        activity,
        batches=len(batches),
        records=sum(e.records for e in batches),
        bytes=sum(e.bytes for e in batches),
        failed=sum(1 for e in events if e.kind == ds.BATCH and e.error is not None),
        retries=sum(1 for e in events if e.kind == ds.BATCH and e.attempt > 1),
        dropped_records=sum(e.records for e in dropped),
        dropped_bytes=sum(e.bytes for e in dropped),
        last_delivery_at=max((e.at for e in batches), default=None),
        events=events,
        forgotten=min(activity.forgotten, last),
    )


def snapshot_as_of(live: ds.DebuggerSnapshot, state: DebugState, seq: Optional[int]) -> ds.DebuggerSnapshot:
    """What `Controller.snapshot(focus, as_of=seq)` answers, from the live snapshot and the environment's state:
    the panels as of bar `seq`'s end, or `live` itself (selected_bar None) when `seq` is None or its state is not
    kept (older than the newest MAX_PAST_STATES bars)."""
    if seq is None:
        return live
    past = state.history.state_as_of(seq, state)
    if past is None:
        return live
    return past_snapshot(live, past, state.history, state.logs)
