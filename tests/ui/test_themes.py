"""`--theme`: every theme the command palette offers is accepted; anything else is one clear line, exit 2."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from textual.theme import BUILTIN_THEMES

from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.themes import DEFAULT_THEME, ThemeError, palette_themes, resolve_theme_name
from replay_backend import REPO, load_session, replay

HANDLER = str(REPO / "sample_functions" / "counter" / "handler.py")


def lambdatui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lambdatui", *args], capture_output=True, text=True, timeout=60,
                          cwd=REPO)


class TestResolve:
    @pytest.mark.parametrize("name", ["nord", "textual-dark", "gruvbox", "dracula"])
    def test_textuals_own_themes_are_accepted(self, name: str) -> None:
        assert resolve_theme_name(name, palette_themes()) == name

    @pytest.mark.parametrize(("name", "full"), [
        ("dark", "lambdatui-dark"), ("high-contrast", "lambdatui-high-contrast"),
        ("lambdatui-light", "lambdatui-light"), (None, DEFAULT_THEME),
    ])
    def test_ours_by_short_or_full_name(self, name: str | None, full: str) -> None:
        assert resolve_theme_name(name, palette_themes()) == full

    @pytest.mark.anyio
    async def test_every_theme_the_palette_offers_is_accepted(self) -> None:
        app = LambdaTuiApp(replay(load_session("warm")), code_dir=REPO / "sample_functions" / "counter")
        async with app.run_test(size=(100, 30)):
            offered = set(app.available_themes)  # what ctrl+p → Theme lists (Textual's ThemeProvider)
        assert offered >= set(BUILTIN_THEMES) and DEFAULT_THEME in offered
        assert {resolve_theme_name(name, palette_themes()) for name in offered} == offered

    def test_an_unknown_name_lists_the_valid_ones(self) -> None:
        with pytest.raises(ThemeError) as caught:
            resolve_theme_name("nope", palette_themes())
        message = str(caught.value)
        assert "\n" not in message and "nope" in message
        for valid in ("dark", "light", "high-contrast", "nord", "textual-dark"):
            assert valid in message


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class TestCommandLine:
    def test_an_unknown_theme_is_one_line_and_exit_2(self) -> None:
        done = lambdatui(HANDLER, "--theme", "nope")
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "nope" in lines[0] and "nord" in lines[0], done.stderr
        assert "Traceback" not in done.stderr

    def test_nord_gets_past_the_theme_check(self) -> None:
        """The check after it (a terminal to draw on: the test gives none) fails instead, before the screen would
        take over; an option checked before the theme (a busy --port) is refused as well with a known theme."""
        done = lambdatui(HANDLER, "--theme", "nord")
        assert done.returncode == 2, done.stderr
        assert "theme" not in done.stderr and "needs a terminal" in done.stderr, done.stderr
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            done = lambdatui(HANDLER, "--theme", "nord", "--port", str(port))
        assert done.returncode == 2, done.stderr
        assert "theme" not in done.stderr and str(port) in done.stderr, done.stderr
