"""The log's search bar: an Input on which up and down also move between matches.

shift+enter and shift+F3 do not reach every terminal: tmux and xterm send shift+enter as enter, and tmux's shift+F3
(ESC [1;2R) reads as a cursor position report, so the previous match needs a key every terminal sends.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class SearchInput(Input):
    BINDINGS = [
        Binding("up", "move(True)", "Previous match", show=False),
        Binding("down", "move(False)", "Next match", show=False),
    ]

    class Move(Message):
        """To the previous match (`backward`) or the next: the log pane moves."""

        def __init__(self, backward: bool) -> None:
            super().__init__()
            self.backward = backward

    def action_move(self, backward: bool) -> None:
        self.post_message(self.Move(backward))
