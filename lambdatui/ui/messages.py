"""App-wide messages: what arrived from the lifecycle (past tense, as facts are)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from textual.message import Message

from lambdatui.controller import Controller
from lambdatui.model.debug_snapshot import DebuggerSnapshot
from lambdatui.model.facts import Fact


@dataclass
class ControllerReady(Message):
    """The lifecycle is up: the controller to drive it, and the Invoke API's address when it is served."""

    controller: Controller
    invoke_api: Optional[str]


@dataclass
class SnapshotUpdated(Message):
    """A newer snapshot of everything, with the facts that arrived since the last one."""

    snapshot: DebuggerSnapshot
    facts: list[Fact]

    def can_replace(self, message: Message) -> bool:
        """Textual asks the older message whether a newer one supersedes it: the newest snapshot wins,
        and the older facts (log lines) move into it so none is lost."""
        if isinstance(message, SnapshotUpdated):
            message.facts = self.facts + message.facts
            return True
        return False


@dataclass
class BackendFailed(Message):
    """The lifecycle host (its trio thread) stopped with `error`."""

    error: BaseException

    @property
    def reason(self) -> str:
        """What stopped it, in words: the first error inside trio's nested exception groups (a full disk under
        the state folder arrived three groups deep, and its repr filled the notice), as `Type: message`, or the
        message alone for lambdatui's own one-line errors."""
        error = self.error
        while getattr(error, "exceptions", None):  # an exception group (the backport's too, on Python 3.10)
            error = error.exceptions[0]  # type: ignore[attr-defined]
        from lambdatui.config_error import ConfigError  # the CLI's one-line errors: their message says it all

        if isinstance(error, ConfigError):
            return str(error)
        text = str(error)
        return f"{type(error).__name__}: {text}" if text else type(error).__name__
