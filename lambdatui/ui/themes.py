"""Theme files (top-level `themes/`, shipped in the package as `lambdatui/_themes`) loaded as Textual themes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from textual.theme import BUILTIN_THEMES, Theme

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_THEME = "lambdatui-dark"
_SHORT_NAMES = {"dark": "lambdatui-dark", "light": "lambdatui-light", "high-contrast": "lambdatui-high-contrast"}
_FIELDS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground", "background", "surface",
           "panel", "boost", "dark")

# Variables every theme must give, so a user's theme file that forgets one still renders.
PHASE_VARIABLE_DEFAULTS = {
    "phase-init": "#4ea1ff",
    "phase-invoke": "#8fd694",
    "phase-frozen": "#5e81ac",
    "phase-held": "#ebcb8b",
    "phase-reset": "#d08770",  # not the error colour: a reset is not an error (the timeline marks it ↺)
    "phase-shutdown": "#b48ead",
    "phase-error": "#ff6b6b",
}


def themes_dir() -> Path:
    packaged = Path(__file__).resolve().parent.parent / "_themes"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "themes"  # a source checkout or editable install


class ThemeError(Exception):
    pass


def load_theme(path: Path) -> Theme:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ThemeError(f"{path}: {exc}") from None
    if "name" not in data or "primary" not in data:
        raise ThemeError(f"{path}: a theme needs at least 'name' and 'primary'")
    fields = {k: data[k] for k in _FIELDS if k in data}
    variables = {**PHASE_VARIABLE_DEFAULTS, **{str(k): str(v) for k, v in data.get("variables", {}).items()}}
    return Theme(name=str(data["name"]), variables=variables, **fields)


def load_themes(directory: Path | None = None) -> dict[str, Theme]:
    directory = directory or themes_dir()
    themes: dict[str, Theme] = {}
    for path in sorted(directory.glob("*.toml")):
        theme = load_theme(path)
        themes[theme.name] = theme
    return themes


def palette_themes(directory: Path | None = None) -> dict[str, Theme]:
    """Every theme the command palette offers: Textual's built-in ones (the App registers them all) plus ours."""
    return {**BUILTIN_THEMES, **load_themes(directory)}


def resolve_theme_name(name: str | None, available: dict[str, Theme]) -> str:
    """`--theme dark`, `--theme lambdatui-dark`, a theme file's own name or a Textual theme (`nord`).

    `available` is what `palette_themes()` returns, so the command line accepts exactly what ctrl+p offers.
    """
    if not name:
        return DEFAULT_THEME
    full = _SHORT_NAMES.get(name, name)
    if full not in available:
        choices = ", ".join(sorted({*_SHORT_NAMES, *available}))
        raise ThemeError(f"--theme {name}: no such theme (available: {choices})")
    return full
