"""A pure reducer over facts: what the debugger remembers between snapshots (bounded, however long it runs)."""

from __future__ import annotations

from collections import deque
from typing import Optional

from lambdatui.model import facts as f
from lambdatui.model.timeline import Timeline

MAX_LOG_LINES = 5000


class DebugState:
    def __init__(self) -> None:
        self.timeline = Timeline()
        self.logs: deque[f.LogLine] = deque(maxlen=MAX_LOG_LINES)
        self.globals: Optional[f.GlobalsReported] = None
        self.tmp: Optional[f.TmpChanged] = None
        self.last_result: Optional[f.InvocationResult] = None
        self.last_report: Optional[f.InvokeReported] = None
        self.last_stacks: Optional[f.StacksCaptured] = None
        # The last failed Init, until an Init succeeds or an invoke's result supersedes it (a suppressed Init that
        # fails is answered to its invoke, whose result then carries the same error).
        self.last_init_failure: Optional[f.InitFailed] = None

    def apply(self, fact: f.Fact, at: Optional[float] = None) -> None:
        """`at` is the clock reading when the fact happened, for facts that carry no time of their own."""
        self.timeline.apply(fact, at)
        if isinstance(fact, f.LogLine):
            self.logs.append(fact)
        elif isinstance(fact, f.GlobalsReported):
            self.globals = fact
        elif isinstance(fact, f.TmpChanged):
            self.tmp = fact
        elif isinstance(fact, f.InvocationCompleted):
            self.last_result = fact.result
            self.last_init_failure = None
        elif isinstance(fact, f.InitFailed):
            self.last_init_failure = fact
        elif isinstance(fact, f.PhaseEnded) and fact.phase == "init" and fact.status == "success":
            self.last_init_failure = None
        elif isinstance(fact, f.InvokeReported):
            self.last_report = fact
        elif isinstance(fact, f.StacksCaptured):
            self.last_stacks = fact
