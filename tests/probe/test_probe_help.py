"""Probes of the help screen (708394e): one HelpText widget wrapping the keys table to its width, in the real
debugger app (its real host as a guest, on a one-line handler), at several terminal sizes."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable

import pytest
from rich.console import Console
from textual.containers import VerticalScroll
from textual.pilot import Pilot

from lambdatui.config import resolve_function
from lambdatui.tui import build_debugger
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.key_bindings import APP_BINDINGS
from lambdatui.ui.screens.help import KEYS, SECTIONS, HelpScreen, HelpText, help_lines

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

WAIT_S = 15.0

# How the help spells a binding's key.
SPELLED = {"comma": ",", "full_stop": ".", "left_square_bracket": "[", "right_square_bracket": "]", "slash": "/",
           "question_mark": "?"}


def screen_text(app: LambdaTuiApp) -> str:
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True,
                      legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


async def until(pilot, check: Callable[[], object], what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_S} s for {what}; the screen shows:\n{screen_text(pilot.app)}")
        await pilot.pause(0.02)


def debugger(code_dir: Path) -> LambdaTuiApp:
    (code_dir / "handler.py").write_text("def handler(event, context):\n    return {'ok': True}\n")
    return build_debugger(resolve_function(str(code_dir / "handler.py")))


@asynccontextmanager
async def running(code_dir: Path, size: tuple[int, int]) -> AsyncIterator[tuple[LambdaTuiApp, Pilot]]:
    """The debugger at `size`, its first snapshot shown; quit and its host stopped however the test ends."""
    app = debugger(code_dir)
    try:
        async with app.run_test(size=size) as pilot:
            await until(pilot, lambda: app.snapshot is not None, "the first snapshot")
            yield app, pilot
            if app.return_code is None:
                await app.run_action("quit")
    finally:
        await stop(app)


async def stop(app: LambdaTuiApp) -> None:
    if app.backend is not None:
        app.backend.stop()
        await asyncio.wait_for(app.backend.wait_stopped(), WAIT_S)


async def open_help(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("question_mark")
    await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help screen")
    await pilot.pause()


def last_words() -> str:
    """The help's last line as it reads at any width: the end of the last section."""
    return " ".join(SECTIONS[-1][1].split()[-3:])


async def shown_at_the_end(pilot) -> str:  # type: ignore[no-untyped-def]
    """Scroll the help to its end; the text its viewport shows then (the dialog's inside, scrollbar left out)."""
    scroll = pilot.app.screen.query_one(VerticalScroll)
    scroll.scroll_end(animate=False)
    await pilot.pause()
    await pilot.pause()
    region = scroll.scrollable_content_region
    rows = screen_text(pilot.app).splitlines()[region.y:region.y + region.height]
    return "\n".join(row[region.x:region.x + region.width] for row in rows)


def check_fits(app: LambdaTuiApp) -> None:
    """HelpText's rows are its lines, none wider than the widget, and the widget is as tall as they are."""
    text = app.screen.query_one(HelpText)
    width = text.size.width
    lines = help_lines(width)
    too_wide = [line.plain for line in lines if line.cell_length > width]
    assert not too_wide, f"{len(too_wide)} of the help's lines are wider than its {width} columns: {too_wide[0]!r}"
    assert text.size.height == len(lines)


SUPPORTED = (100, 30)  # the smallest terminal the debugger supports


async def check_opened_at(app: LambdaTuiApp, pilot: Pilot, size: tuple[int, int]) -> None:
    """The help, just opened for the first time in a debugger started at `size`: its lines fit its width and it
    scrolls to its last words; at a size the debugger supports (100x30 and up), however the wrap falls, `code` and
    **bold** are styled, their marks never shown (Markdown's widget never showed them)."""
    assert app.size == size
    width = app.screen.query_one(HelpText).size.width
    screen = await shown_at_the_end(pilot)
    ends = last_words() in " ".join(screen.split())
    assert ends, f"at {size}, scrolled to its end, the help does not show its last words ({last_words()!r}):\n{screen}"
    check_fits(app)
    if size[0] >= SUPPORTED[0] and size[1] >= SUPPORTED[1]:
        marked = [line.plain for line in help_lines(width) if "`" in line.plain or "**" in line.plain]
        assert not marked, f"at {size} (the help {width} wide) Markdown marks show: {marked}"


# The sizes the other tests here start their debugger at (160x50, 140x45, 100x30): each of them opens the help
# first thing and checks it with `check_opened_at` (the same debugger, the same first opening) before going on.
@pytest.mark.parametrize("size", [(120, 40), (80, 24), (60, 20), (40, 15)],
                         ids=lambda size: f"{size[0]}x{size[1]}")
async def test_the_help_fits_its_width_and_scrolls_to_its_end(code_dir: Path, size: tuple[int, int]) -> None:
    """At every size, the help opened at that size: its lines fit its width and it scrolls to its last words; no
    Markdown mark shows at the sizes the debugger supports. One debugger a size for both: both read the help as it
    opens."""
    async with running(code_dir, size) as (app, pilot):
        await open_help(pilot)
        await check_opened_at(app, pilot, size)


async def test_resizing_while_the_help_is_open_rewraps_it(code_dir: Path) -> None:
    async with running(code_dir, (140, 45)) as (app, pilot):
        await open_help(pilot)
        await check_opened_at(app, pilot, (140, 45))  # test_the_help_fits_its_width_and_scrolls_to_its_end's 140x45
        widths = []
        for size in [(100, 30), (120, 40), (100, 30), (160, 50)]:
            await pilot.resize_terminal(*size)
            await until(pilot, lambda: app.size == size, "the new size")
            await pilot.pause()
            widths.append(app.screen.query_one(HelpText).size.width)
            screen = await shown_at_the_end(pilot)
            check_fits(app)
            assert last_words() in " ".join(screen.split()), f"at {size} the end is not reachable:\n{screen}"
        assert len(set(widths)) >= 2, widths  # it did follow the terminal


async def test_the_kept_help_screen_opens_wrapped_to_the_size_after_a_resize(code_dir: Path) -> None:
    async with running(code_dir, (160, 50)) as (app, pilot):
        await open_help(pilot)
        await check_opened_at(app, pilot, (160, 50))  # test_the_help_fits_its_width_and_scrolls_to_its_end's 160x50
        wide = app.screen.query_one(HelpText).size.width
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen), "the help to close")
        await pilot.resize_terminal(100, 30)
        await until(pilot, lambda: app.size == (100, 30), "the new size")
        await open_help(pilot)
        narrow = app.screen.query_one(HelpText).size.width
        assert narrow < wide
        check_fits(app)
        screen = await shown_at_the_end(pilot)
        assert last_words() in " ".join(screen.split()), screen


async def test_each_closing_key_closes_the_help_and_only_that(code_dir: Path) -> None:
    """Each key in turn, in one debugger: it closes the help and does nothing more (the app runs on, not quitting),
    the help opens again and the key closes it again. A key that did more (`q` quitting) fails its own check: the
    keys after it never run on an app that already went wrong."""
    async with running(code_dir, (100, 30)) as (app, pilot):
        await open_help(pilot)
        await check_opened_at(app, pilot, (100, 30))  # test_the_help_fits_its_width_and_scrolls_to_its_end's 100x30
        for index, key in enumerate(["escape", "q", "question_mark"]):
            if index:  # (the first time, open already)
                await open_help(pilot)
            await pilot.press(key)
            await until(pilot, lambda: not isinstance(app.screen, HelpScreen), f"{key} to close the help")
            await pilot.pause()
            assert app.is_running and not app._quitting, f"{key} did more than close the help"
            await open_help(pilot)  # and it opens again
            await pilot.press(key)
            await until(pilot, lambda: not isinstance(app.screen, HelpScreen), f"{key} to close it again")
            await pilot.pause()
            assert app.is_running and not app._quitting, f"{key}, pressed again, did more than close the help"


def help_keys() -> set[str]:
    keys = set()
    for spelled, _, _ in KEYS:
        tokens = spelled.replace("`", " ").split()
        if "…" in tokens:  # `1`…`9`: a range
            first, last = tokens[0], tokens[-1]
            keys.update(str(n) for n in range(int(first), int(last) + 1))
            continue
        keys.update(tokens)
    return keys


def test_every_key_of_the_apps_bindings_is_in_the_help() -> None:
    listed = help_keys()
    missing = []
    for binding in APP_BINDINGS:
        for key in binding.key.split(","):
            if SPELLED.get(key, key) not in listed:
                missing.append(f"{key} ({binding.action})")
    assert not missing, f"keys the debugger has that the help does not list: {missing}"


def test_every_key_the_help_lists_is_a_real_binding() -> None:
    bound = {SPELLED.get(key, key) for binding in APP_BINDINGS for key in binding.key.split(",")}
    bound |= {"ctrl+p", "ctrl+c"}  # Textual's own: the command palette, and copy
    stale = sorted(help_keys() - bound)
    assert not stale, f"the help lists keys the debugger does not have: {stale}"
