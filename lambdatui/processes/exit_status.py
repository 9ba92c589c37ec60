"""How a child ended, in Go's words as Lambda reports them ("exit status 1", "signal: killed")."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

# Go's syscall.Signal strings on Linux, which Lambda uses in
# "Runtime exited with error: signal: killed".
_SIGNAL_TEXT: dict[int, str] = {
    1: "hangup",
    2: "interrupt",
    3: "quit",
    4: "illegal instruction",
    5: "trace/breakpoint trap",
    6: "aborted",
    7: "bus error",
    8: "floating point exception",
    9: "killed",
    10: "user defined signal 1",
    11: "segmentation fault",
    12: "user defined signal 2",
    13: "broken pipe",
    14: "alarm clock",
    15: "terminated",
    16: "stack fault",
    17: "child exited",
    18: "continued",
    19: "stopped (signal)",
    20: "stopped",
    21: "stopped (tty input)",
    22: "stopped (tty output)",
    23: "urgent I/O condition",
    24: "CPU time limit exceeded",
    25: "file size limit exceeded",
    26: "virtual timer expired",
    27: "profiling timer expired",
    28: "window changed",
    29: "I/O possible",
    30: "power failure",
    31: "bad system call",
}



@dataclass(frozen=True)
class ExitStatus:
    """How one child ended: its exit code, or the signal that killed it (and whether it dumped core)."""

    code: int | None
    """The exit code, or None when a signal ended the process."""
    signal: int | None
    core_dumped: bool = False
    at: float | None = field(default=None, compare=False)
    """time.monotonic() when its reaper saw it end, where that may be long before the host hears of it (the sandbox
    init's reports wait in their pipe while the host is still starting: host/early_start.py)."""
    peak_rss_kb: int | None = field(default=None, compare=False)
    """Its peak resident memory as its reaper's wait4 saw it (ru_maxrss, KiB): what it used even where it ended
    before anyone read /proc (a runtime that exits during Init)."""

    @classmethod
    def from_wait_status(cls, status: int, at: float | None = None, peak_rss_kb: int | None = None) -> ExitStatus:
        if os.WIFSIGNALED(status):
            return cls(code=None, signal=os.WTERMSIG(status), core_dumped=os.WCOREDUMP(status), at=at,
                       peak_rss_kb=peak_rss_kb)
        return cls(code=os.WEXITSTATUS(status), signal=None, at=at, peak_rss_kb=peak_rss_kb)

    def describe(self) -> str:
        """Go's wording, as in Lambda's errors: "exit status 1", "signal: killed"."""
        if self.signal is not None:
            text = f"signal: {_SIGNAL_TEXT.get(self.signal, f'signal {self.signal}')}"
            return f"{text} (core dumped)" if self.core_dumped else text
        if self.code is not None:
            return f"exit status {self.code}"
        return "exit status unknown"
