"""Running a command from the command palette as a user does: ctrl+p, type its title, enter."""

from __future__ import annotations

import asyncio
import time
from typing import Callable

import pytest
from textual.command import CommandInput, CommandList, CommandPalette
from textual.pilot import Pilot

WAIT_S = 10.0
POLL_S = 0.02
TYPED = 3


async def _until(pilot: Pilot, check: Callable[[], bool], what: str) -> None:
    # A plain sleep, as _host.until_true polls: the app runs on this loop and gets there by itself, where
    # `pilot.pause` had every widget run a callback at each poll (~0.6 CPU-s a palette command).
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_S} s for {what}")
        await asyncio.sleep(POLL_S)


async def run_palette_command(pilot: Pilot, title: str) -> None:
    """ctrl+p, type `title`, wait until it is the highlighted match, enter, and wait for the palette to close."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await _until(pilot, lambda: isinstance(app.screen, CommandPalette), "the command palette")
    palette = app.screen
    commands = palette.query_one(CommandList)
    search = palette.query_one(CommandInput)
    # The first keys are typed; the rest arrives at once, as a paste does: each key searches every command again,
    # and typing a whole 80-character title that way took the suite 20 s for no more behaviour.
    await pilot.press(*title[:TYPED])
    search.insert_text_at_cursor(title[TYPED:])

    def first_is_it() -> bool:
        if search.value != title or commands.option_count == 0:
            return False
        prompt = commands.get_option_at_index(0).prompt
        return str(getattr(prompt, "plain", prompt)).split("\n")[0].strip() == title

    await _until(pilot, first_is_it, f"{title!r} as the first match")
    commands.highlighted = 0
    await pilot.press("enter")
    await _until(pilot, lambda: not isinstance(app.screen, CommandPalette), "the palette to close")
