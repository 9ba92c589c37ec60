"""Ctrl-Z and `fg` of the debugger: its environments are held while it is stopped.

Stopped, lambdatui does nothing, not even read the function's output: a function that prints blocks on the full
pipe and would be charged the stop, a timeout Lambda never gives. So the environments are held first (frozen, their
deadlines stopped: core/clock_rules.py), then the terminal is given back and lambdatui stops, as Textual's own
SIGTSTP handler does; at `fg` the terminal is taken back and they go on. Both run from the loop (app.py says why).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from lambdatui.ui.backend import Backend


class TerminalStop:
    """Part of `LambdaTuiApp`: it runs on the app's state."""

    # Immutable defaults, which the first assignment makes the app's own.
    _continues = 0  # SIGCONTs so far: asyncio runs its signal handlers in the order the signals came
    _stop_asked_at: Optional[int] = None  # the SIGCONTs there were when Ctrl-Z came
    _terminal_given_back = False  # stopped by Ctrl-Z: `fg` takes the terminal back
    _stops_handled = False  # SIGTSTP and SIGCONT are handled on the loop (app.py): Ctrl-Z can stop lambdatui
    _driver: Any
    backend: Optional["Backend"]

    def action_stop_lambdatui(self) -> None:
        """Ctrl-Z typed: in the raw mode the debugger runs its terminal in, a key, not the terminal's SIGTSTP (which
        `kill -TSTP` still sends): the same stop, where lambdatui can be stopped and resumed (a terminal of its own
        and its SIGTSTP handler in place)."""
        if not self._stops_handled:
            self.notify("Ctrl-Z: lambdatui cannot be stopped here (it has no terminal of its own).",  # type: ignore[attr-defined]
                        severity="warning")
            return
        self._stop_requested()

    def _stop_requested(self) -> None:
        """Ctrl-Z: the environments are held (frozen, their deadlines stopped), then the terminal is given back and
        lambdatui stops, as Textual's own SIGTSTP handler does."""
        self._stop_asked_at = self._continues
        if self.backend is None:
            self._stop_if_still_due()
        else:
            self.backend.suspend(True, self._stop_if_still_due)

    def _stop_if_still_due(self) -> None:
        asked_at, self._stop_asked_at = self._stop_asked_at, None
        if asked_at != self._continues:  # `fg` came first (a SIGCONT right after the SIGTSTP): no stop to make
            self._continued_environments()
            return
        suspend = getattr(self._driver, "_sigtstp_application", None)
        if suspend is not None:
            self._terminal_given_back = True
            suspend()  # returns once continued

    def _continued(self) -> None:
        """`fg`: the terminal is taken back (if it was given back), and the environments go on."""
        self._continues += 1
        resume = getattr(self._driver, "_sigcont_application", None)
        if self._terminal_given_back and resume is not None:
            self._terminal_given_back = False
            resume()
        self._continued_environments()

    def _continued_environments(self) -> None:
        if self.backend is not None:
            self.backend.suspend(False, lambda: None)
