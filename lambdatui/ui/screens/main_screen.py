"""The debugger's main screen, the one at the bottom of the stack: Textual's own, repainted whole after a resize.

A terminal keeps no promise about its cells across a resize: shrinking crops them or scrolls them off the top, and
what was written for the size before lands on the size after. Textual lays out only the last of the resizes that
come faster than it reads them (its own debounce, or the kernel's one pending SIGWINCH while the loop is busy), and
its reflow redraws only what moved: when that last size is the one it laid out before (a window shrunk and grown
back), nothing moves and the damage stays on screen, the header and footer gone, other sizes' frames showing
(seen under tmux, resized during a 100,000-line burst). So every resize ends in a whole repaint.
"""

from __future__ import annotations

from typing import Optional

from textual import events
from textual.screen import Screen
from textual.timer import Timer

# A storm of resizes (a window dragged, during a burst whose lines share the UI's thread) ends in one whole repaint,
# this long after its last resize: not one per resize, each of which repaints every cell.
REPAINT_AFTER_S = 0.1


class MainScreen(Screen[None]):
    _repaint: Optional[Timer] = None

    def on_resize(self, event: events.Resize) -> None:
        # With a dialog on top this screen gets the resize too, and its repaint is drawn through the dialog's.
        if self._repaint is not None:
            self._repaint.stop()
        self._repaint = self.set_timer(REPAINT_AFTER_S, self._repaint_whole)

    def _repaint_whole(self) -> None:
        self._repaint = None
        self.call_after_refresh(self.refresh)  # once the last size is laid out, if that is still under way
