"""Whole values (issue 15): `d` and enter open what the panels cut: a global, the result or error, the event, and
a /tmp file in the viewer. The real app over recorded sessions (`ReplayBackend`), with the /tmp viewer reading real
files through the same host code the debugger uses (`read_tmp_part`, from a directory handle). Nothing sleeps:
each wait polls the app's state within a bound.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Optional

import pytest
from _host import WAIT_S, screen_text, until_true
from palette import run_palette_command
from replay_backend import REPO, RecordedSession, ReplayBackend, load_session, replay
from test_snapshots import LARGE, settled  # noqa: F401 - its autouse fixtures are imported below
from test_snapshots import no_cursor_blink, plain_terminal_environment, stopped_clock  # noqa: F401
from textual.pilot import Pilot

from lambdatui.bootstrap.inspect_state import REPR_LIMIT
from lambdatui.model.facts import GlobalEntry, TmpEntry
from lambdatui.model.tmp_file import PART_BYTES
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.key_bindings import PALETTE_TITLES
from lambdatui.ui.screens.help import KEYS
from lambdatui.ui.screens.detail import DetailScreen
from lambdatui.ui.screens.tmp_file_viewer import TmpFileScreen
from lambdatui.ui.themes import DEFAULT_THEME
from lambdatui.ui.widgets import EventPanel, GlobalsView, ResultView, TmpView

pytestmark = [pytest.mark.timeout(60)]
anyio = pytest.mark.anyio

SAMPLES = REPO / "sample_functions"
SLOW_WAIT_S = 20.0  # a 256 KB part laid out as 16,384 hex rows, on a machine shared with other tests
WARM = "a3000000-0000-4000-8000-000000000003"
LONG_LIST = "[" + ", ".join(f"'item-{n:04d}'" for n in range(40))
CUT_REPR = LONG_LIST[: REPR_LIMIT - 3] + "..."  # exactly as the bootstrap cuts a repr
JSON_TEXT = '{"orders": [{"id": 1, "total": 9.5}, {"id": 2, "total": 12.25}], "cached": true}\n'
NOTES = "first line of the notes\nsecond line\n"
BINARY = bytes(range(256)) * 2
BIG = 2 * 1024 ** 3


def tmp_files(root: Path) -> None:
    """The files the /tmp tests read: text, JSON, binary, a 2 GB sparse file, and a link out of /tmp."""
    (root / "notes.txt").write_text(NOTES)
    (root / "cache.json").write_text(JSON_TEXT)
    (root / "blob.bin").write_bytes(BINARY)
    with open(root / "big.dat", "wb") as handle:
        handle.write(b"start of a big file\n")
        handle.truncate(BIG)  # sparse: costs no disk
    (root / "escape").symlink_to("/etc/hostname")


def entry(path: str, size: int) -> TmpEntry:
    return TmpEntry(path, "symlink" if path.endswith("escape") else "file", size, 1700000000.0, WARM, WARM, "new")


def session(tmp_root: Optional[Path] = None) -> RecordedSession:
    """The warm counter session, with a cut global (`orders`) and, with `tmp_root`, its files in the /tmp listing."""
    recorded = load_session("warm")
    snapshot = recorded.snapshot
    report = snapshot.globals
    assert report is not None
    orders = GlobalEntry("orders", "list", CUT_REPR, 0x7F0000001000, "state", "changed")
    snapshot = dataclasses.replace(snapshot, globals=dataclasses.replace(report, entries=(orders, *report.entries)))
    if tmp_root is not None:
        assert snapshot.tmp is not None
        listed = tuple(entry(f"/tmp/{p.name}", p.lstat().st_size) for p in sorted(tmp_root.iterdir()))
        snapshot = dataclasses.replace(snapshot, tmp=dataclasses.replace(snapshot.tmp, entries=listed))
    return dataclasses.replace(recorded, snapshot=snapshot)


def app_for(tmp_root: Optional[Path] = None, made: Optional[list[ReplayBackend]] = None) -> LambdaTuiApp:
    app = LambdaTuiApp(replay(session(tmp_root), made, tmp_root=tmp_root), code_dir=SAMPLES / "counter",
                       theme=DEFAULT_THEME)
    app.event_text = '{"n": 3, "note": "a long event whose first line the panel cuts at its edge"}'
    app.event_source = "--event"
    return app




def detail_text(app: LambdaTuiApp) -> str:
    screen = app.screen
    assert isinstance(screen, DetailScreen)
    return "\n".join([screen.detail.title, *screen.detail.notes, *(s.text for s in screen.detail.sections)])


async def open_file(pilot: Pilot, name: str, timeout: float = WAIT_S) -> TmpFileScreen:
    """Focus /tmp, move the cursor onto `name` (up or down from where it is), press enter; until its first part is
    shown."""
    app = pilot.app
    assert isinstance(app, LambdaTuiApp)
    view = app.query_one(TmpView)
    view.focus()
    await pilot.pause()
    for _ in range(10):
        if view.cursor.selected is not None and view.cursor.selected.path == f"/tmp/{name}":
            break
        # The listing is in name order: up to a name before the cursor's, down otherwise.
        above = view.cursor.selected is not None and f"/tmp/{name}" < view.cursor.selected.path
        await pilot.press("up" if above else "down")
    assert view.cursor.selected is not None and view.cursor.selected.path == f"/tmp/{name}"
    await pilot.press("enter")
    await until_true(pilot, lambda: isinstance(app.screen, TmpFileScreen) and app.screen.part is not None,
                     f"{name} in the viewer", timeout)
    assert isinstance(app.screen, TmpFileScreen)
    return app.screen


# ---------------------------------------------------------------------- the detail view


@anyio
class TestDetailKeys:
    async def test_globals_enter_shows_a_cut_repr_whole_down_then_d_the_next_and_a_click_moves_the_cursor(self) -> None:
        """enter on `orders` shows its whole repr and says the runtime cut it; down then d opens the next global,
        `invocations`, which is whole; back on `orders`, a click on the second global's row puts the cursor there.
        (One session for what three tests checked apart: each step starts from the cursor it names.)"""
        app = app_for()
        async with app.run_test(size=LARGE) as pilot:
            await settled(pilot)
            globals_view = app.query_one(GlobalsView)
            globals_view.focus()
            await pilot.pause()
            assert globals_view.cursor.selected is not None and globals_view.cursor.selected.name == "orders"
            assert CUT_REPR not in screen_text(pilot)  # the panel cuts it
            await pilot.press("enter")
            await until_true(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail view")
            text = detail_text(app)
            assert "orders: list" in text
            assert "'item-0010'" in text and "'item-0011'" in text  # pretty-printed, one item a line
            assert f"repr cut at {REPR_LIMIT} characters by the runtime" in text
            await until_true(pilot, lambda: "repr cut at" in screen_text(pilot), "the cut note on screen")
            await pilot.press("escape")
            await until_true(pilot, lambda: not isinstance(app.screen, DetailScreen), "escape to close it")

            assert globals_view.has_focus_within and globals_view.cursor.selected.name == "orders"
            await pilot.press("down", "d")
            await until_true(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail view")
            text = detail_text(app)
            assert text.startswith("invocations: int") and "repr cut" not in text
            await pilot.press("escape")
            await until_true(pilot, lambda: not isinstance(app.screen, DetailScreen), "escape to close it")

            view = globals_view
            await pilot.press("up")
            await until_true(pilot, lambda: view.cursor.selected is not None and view.cursor.selected.name == "orders",
                             "the cursor back on the first global")
            first = view.cursor._items[0][0]  # the row of the first global (after the header rows)
            region = view.cursor.body.region
            await pilot.click(offset=(region.x + 12, region.y + first + 1))  # the second global's row
            await until_true(pilot, lambda: view.cursor.selected is not None and
                             view.cursor.selected.name == "invocations", "the clicked global selected")

    async def test_d_on_the_result_shows_the_timeout_error_with_its_stacks(self) -> None:
        app = LambdaTuiApp(replay(load_session("timeout_slow")), code_dir=SAMPLES / "slow", theme=DEFAULT_THEME)
        async with app.run_test(size=LARGE) as pilot:
            await settled(pilot)
            app.query_one(ResultView).focus()
            await pilot.press("d")
            await until_true(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail view")
            screen = app.screen
            assert isinstance(screen, DetailScreen)
            headings = [s.heading for s in screen.detail.sections]
            assert "errorType" in headings and "errorMessage" in headings
            assert any("stack at the timeout" in h for h in headings)
            text = detail_text(app)
            assert "Sandbox.Timedout" in text and "Task timed out after 1.00 seconds" in text
            assert "handler.py" in text  # the hung frame, from the stacks dumped before the kill
            await pilot.press("escape")
            await until_true(pilot, lambda: not isinstance(app.screen, DetailScreen), "escape to close it")

    async def test_d_on_the_event_shows_it_pretty_printed_elsewhere_says_where_to_focus_and_the_palette_opens_it(
            self) -> None:
        """d on the Event panel: the event, indented. With nothing focused, enter says nothing and d says where to
        focus. The palette's command opens the focused value (the result), and the help lists the keys. (One session
        for what three tests checked apart.)"""
        assert ("`d` `enter`", "whole value") in [(keys, command) for keys, command, _ in KEYS]
        app = app_for()
        async with app.run_test(size=LARGE) as pilot:
            await settled(pilot)
            app.query_one(EventPanel).query_one("VerticalScroll").focus()
            await pilot.press("d")
            await until_true(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail view")
            text = detail_text(app)
            assert '"note": "a long event whose first line the panel cuts at its edge"' in text
            assert '\n  "n": 3,' in text  # indented, one key a line
            await pilot.press("escape")
            await until_true(pilot, lambda: not isinstance(app.screen, DetailScreen), "escape to close it")

            app.set_focus(None)
            await pilot.press("enter")
            await pilot.pause()
            assert not isinstance(app.screen, DetailScreen)
            assert not any("opens a value whole" in str(n.message) for n in app._notifications)
            await pilot.press("d")
            await until_true(pilot, lambda: any("opens a value whole" in str(n.message) for n in app._notifications),
                             "the hint")
            assert not isinstance(app.screen, DetailScreen)

            app.query_one(ResultView).focus()
            await run_palette_command(pilot, PALETTE_TITLES["show_detail"])
            await until_true(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail view")
            assert detail_text(app).startswith("response to request a3000000")


# ---------------------------------------------------------------------- the /tmp file viewer


@anyio
class TestTmpFileViewer:
    async def test_hex_json_text_a_2gb_sparse_file_a_link_out_of_tmp_and_a_vanished_file(self, tmp_path: Path) -> None:
        """blob.bin as hex rows, cache.json highlighted as JSON, notes.txt whole: one after the other, in the listing's
        order, each closed with escape. Then the 2 GB sparse file: its first part quickly, enter the next (two reads
        of it, nothing more); a link out of /tmp refused; a file gone since the listing says so. (One session for
        what five tests checked apart; the last two were one.)"""
        tmp_files(tmp_path)
        made: list[ReplayBackend] = []
        app = app_for(tmp_path, made)
        async with app.run_test(size=LARGE) as pilot:
            await settled(pilot)
            viewer = await open_file(pilot, "blob.bin")
            assert viewer.kind == "hex"
            await until_true(pilot, lambda: "00000010  10 11 12 13 14 15 16 17  18 19 1a 1b 1c 1d 1e 1f"
                             in screen_text(pilot), "the hex rows")
            await pilot.press("escape")
            await until_true(pilot, lambda: not isinstance(app.screen, TmpFileScreen), "escape to close it")

            viewer = await open_file(pilot, "cache.json")
            assert viewer.kind == "json"
            rows = viewer.query_one("TextRows").rows  # type: ignore[attr-defined]
            assert rows[0].plain == JSON_TEXT.rstrip("\n")
            assert len({span.style for span in rows[0].spans}) > 1  # keys, numbers and punctuation differ
            await pilot.press("escape")
            await until_true(pilot, lambda: not isinstance(app.screen, TmpFileScreen), "escape to close it")

            viewer = await open_file(pilot, "notes.txt")
            assert viewer.part is not None and viewer.part.data == NOTES.encode()
            assert viewer.kind == "text"
            await until_true(pilot, lambda: "second line" in screen_text(pilot) and f"the whole {len(NOTES)} bytes"
                             in screen_text(pilot), "the file on screen")
            await pilot.press("escape")
            await until_true(pilot, lambda: not isinstance(app.screen, TmpFileScreen), "escape to close it")

            controller = made[0].controller
            assert controller is not None
            reads_before = len(controller.tmp_reads)
            started = time.monotonic()
            viewer = await open_file(pilot, "big.dat", SLOW_WAIT_S)
            assert time.monotonic() - started < SLOW_WAIT_S  # reading 2 GB would take far longer (and 2 GB)
            part = viewer.part
            assert part is not None and part.size == BIG and len(part.data) == PART_BYTES
            await until_true(pilot, lambda: "showing the first 256 KB of 2.0 GB" in screen_text(pilot),
                             "the part's label", SLOW_WAIT_S)
            await pilot.press("enter")
            await until_true(pilot, lambda: viewer.part is not None and viewer.part.offset == PART_BYTES,
                             "the next part", SLOW_WAIT_S)
            assert [(read[1], read[2]) for read in controller.tmp_reads[reads_before:]] == [
                ("/tmp/big.dat", 0), ("/tmp/big.dat", PART_BYTES)]
            await pilot.press("escape")
            await until_true(pilot, lambda: not isinstance(app.screen, TmpFileScreen), "escape to close it")

            viewer = await open_file(pilot, "escape")
            assert viewer.part is not None and viewer.part.problem is not None
            assert "symbolic link" in viewer.part.problem
            await pilot.press("escape")
            await until_true(pilot, lambda: not isinstance(app.screen, TmpFileScreen), "escape to close it")
            (tmp_path / "notes.txt").unlink()
            viewer = await open_file(pilot, "notes.txt")
            await until_true(pilot, lambda: "is gone" in screen_text(pilot), "the vanished file's message")


# ---------------------------------------------------------------------- the images


def _open_tmp(name: str) -> Callable[[Pilot], object]:
    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        await open_file(pilot, name)
        await pilot.pause()

    return run_before


def test_tmp_viewer_text_image(snap_compare, tmp_path: Path) -> None:
    """The /tmp viewer over the warm session: title "/tmp/cache.json", "json · the whole 84 bytes", the JSON on one
    highlighted row, the hint "escape: close · arrows: scroll"."""
    tmp_files(tmp_path)
    assert snap_compare(app_for(tmp_path), terminal_size=LARGE, run_before=_open_tmp("cache.json"))


def test_tmp_viewer_hex_image(snap_compare, tmp_path: Path) -> None:
    """The /tmp viewer on a 512-byte binary: "binary: hex · the whole 512 bytes", xxd-style rows (offset, 16 bytes
    in two groups of 8, ASCII with dots)."""
    tmp_files(tmp_path)
    assert snap_compare(app_for(tmp_path), terminal_size=LARGE, run_before=_open_tmp("blob.bin"))


def test_global_detail_image(snap_compare) -> None:
    """A global's detail view: "orders: list", the warning "repr cut at 200 characters by the runtime …", then
    "state · changed in place (the same object) · id 0x7f0000001000" and the list, one item a line, highlighted."""

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        pilot.app.query_one(GlobalsView).focus()
        await pilot.press("enter")
        await until_true(pilot, lambda: isinstance(pilot.app.screen, DetailScreen), "the detail view")
        await pilot.pause()

    assert snap_compare(app_for(), terminal_size=LARGE, run_before=run_before)
