"""What only the debugger shows: the handler module's globals (reported by our bootstrap) and /tmp listings.

Part of `EnvironmentHost`. Headless modes without views (`invoke`, `serve`) never get here: the bootstrap is not
asked for reports, and /tmp is not listed.
"""

from __future__ import annotations

from typing import Optional

from lambdatui.core import inputs as ins

# What makes the views is imported by the first view made: headless runs without views never need it.


class DebugViews:
    """Part of `EnvironmentHost`: it runs on the host's state (see host/environment_host.py)."""

    def inspection_started(self, arrived: Optional[float] = None) -> None:
        """Our bootstrap begins a globals report (its call reached the host's socket at `arrived`): the core stops
        the deadlines until it arrives."""
        self.feed(ins.InspectionStarted(self.env.generation, arrived))

    def globals_reported(self, report: dict[str, object]) -> None:
        """A report from our bootstrap (private channel); raises ValueError when it is malformed."""
        from lambdatui.model.globals_diff import diff_globals

        generation = self.env.generation
        try:
            previous = self._last_globals if self._last_globals and self._last_globals.generation == generation else None
            fact = diff_globals(report, previous, generation)
            self._last_globals = fact
            self._publish(fact)
        finally:
            self.feed(ins.InspectionEnded(generation))

    def _list_tmp(self, by: str, writers: Optional[list[str]] = None) -> None:
        """/tmp listed after phase `by`; what changed is `writers`' (any of them) where `by` alone cannot say."""
        from lambdatui.host.tmp_scanner import scan_tmp
        from lambdatui.model.tmp_tree import diff_tmp, writers_of

        if self.sandbox is None:
            return
        # From the handle opened with the environment, never by path: user code may have put a link there.
        handle = self.sandbox.handle
        if handle is None or handle.fd is None:
            return
        entries, truncated = scan_tmp(handle.fd, hidden=self.sandbox.kept_names)
        fact = diff_tmp(entries, self._last_tmp, by, truncated, writers_of(writers) if writers else None)
        self._last_tmp = fact
        if by == "before" or fact.removed or any(e.change != "same" for e in fact.entries):
            self._publish(fact)
