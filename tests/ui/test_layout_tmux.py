"""The layout in a real terminal (issue 15): the installed `lambdatui` in a tmux pane at 100x30 and at 200x60, with a
real function that writes a file with a 30-character name to /tmp and then exits mid-invoke (the environment resets
with Runtime.ExitError). The screen is read back with `capture-pane -p` (see test_tmux.py for the harness).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from test_tmux import LAMBDATUI, REPO, START_S, Pane, assert_all_gone, pane  # noqa: F401 - `pane` is a fixture

pytestmark = pytest.mark.timeout(60)

NAME = "thirty_character_file_name.txt"
WRITE_THEN_EXIT = f'''\
import os
import tempfile


def handler(event, context):
    with open(os.path.join(tempfile.gettempdir(), "{NAME}"), "w") as f:
        f.write("written before the runtime exits")
    os._exit(3)  # the runtime process dies mid-invoke: Lambda resets the environment (Runtime.ExitError)
'''


def open_at(pane: Pane, code_dir: Path, width: int, height: int) -> None:
    """`lambdatui code_dir/handler.py` in a `width`x`height` pane, continued to idle, then invoked once."""
    (code_dir / "handler.py").write_text(WRITE_THEN_EXIT)
    command = " ".join(shlex.quote(part) for part in (LAMBDATUI, str(code_dir / "handler.py")))
    pane.tmux("new-session", "-d", "-x", str(width), "-y", str(height), "-s", pane.session, "-c", str(REPO),
              command, ";", "set-option", "-t", pane.session, "remain-on-exit", "on")
    pane.wait_for("HELD at init.extensions", timeout=START_S)
    pane.collect()
    pane.keys("c")
    pane.wait_for("idle: frozen, waiting for an invoke")
    pane.keys("i")


def test_at_100x30_every_panel_and_the_footer_show(pane: Pane, code_dir: Path) -> None:
    open_at(pane, code_dir, 100, 30)
    # One capture may catch a pane mid-repaint: what is asserted together is waited for together.
    screen = pane.wait_for("Runtime.ExitError", "new by ", "λ ", "Participant", "Receives next", "after invoke",
                           "/tmp", "Event", "function error", "all  platform  function  extensions")
    lines = screen.rstrip("\n").split("\n")
    assert len(lines) == 30, screen
    assert lines[-1].startswith("n Step") and "q Quit" in lines[-1], f"the footer is not on the last row:\n{screen}"
    assert "Make the terminal" not in screen
    started = pane.collect()
    pane.keys("q")
    assert_all_gone(pane, started, "q")


def test_at_200x60_the_whole_tmp_name_and_error_type_read_from_the_screen(pane: Pane, code_dir: Path) -> None:
    open_at(pane, code_dir, 200, 60)
    # A capture may catch the result pane mid-repaint (one line half overwritten): wait for both of its lines.
    screen = pane.wait_for("function error: Runtime.ExitError", "Status error (Runtime.ExitError)", NAME, "new by ")
    row = next(line for line in screen.split("\n") if NAME in line)
    assert f"{NAME} " in row and "new by " in row, row  # whole, then its size and who wrote it
    started = pane.collect()
    pane.keys("q")
    assert_all_gone(pane, started, "q")
