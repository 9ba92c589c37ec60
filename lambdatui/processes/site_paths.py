"""The folders a virtualenv's interpreter imports from besides its own: what its `.pth` files add to sys.path (an
editable install, `pip install -e`, names the project's folder there, or maps its packages in a setuptools finder).

The sandbox must keep them in sight as much as the interpreter: one under the host's /tmp is hidden by a private
/tmp unless it is kept (sandbox.kept_folders), and the function's `import` of it then fails inside lambdatui where it
works on the host. Read, never run: starting the interpreter to ask it would cost every environment a process.
"""

from __future__ import annotations

import ast
import os
import re
from typing import Iterable

_MAX_FILE_BYTES = 1 << 16  # a .pth or finder written by an installer is a few lines; anything larger is not one
_MAPPING = re.compile(r"^MAPPING\b[^=\n]*=\s*(\{.*\})\s*$", re.MULTILINE)


def pth_paths(text: str, site_dir: str) -> list[str]:
    """The folders a `.pth` file's `text` adds to sys.path, as site.addpackage reads it: one per line, relative to
    `site_dir`; blank lines, comments and `import` lines add none."""
    found = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line or line.startswith("#") or line.startswith(("import ", "import\t")):
            continue
        found.append(os.path.normpath(os.path.join(site_dir, line)))
    return found


def finder_paths(text: str) -> list[str]:
    """The folders a setuptools editable finder (`__editable___*_finder.py`) maps its packages to (its MAPPING)."""
    match = _MAPPING.search(text)
    if match is None:
        return []
    try:
        mapping = ast.literal_eval(match.group(1))
    except (ValueError, SyntaxError):
        return []
    if not isinstance(mapping, dict):
        return []
    return [value for value in mapping.values() if isinstance(value, str) and os.path.isabs(value)]


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read(_MAX_FILE_BYTES)
    except OSError:
        return ""


def _site_dirs(venv: str) -> list[str]:
    """A virtualenv's site-packages folders (lib/pythonX.Y/site-packages; lib64 is often a link to lib)."""
    found: list[str] = []
    for lib in ("lib", "lib64"):
        base = os.path.join(venv, lib)
        try:
            names = sorted(os.listdir(base))
        except OSError:
            continue
        for name in names:
            site_dir = os.path.join(base, name, "site-packages")
            if name.startswith("python") and os.path.isdir(site_dir) and os.path.realpath(site_dir) not in found:
                found.append(os.path.realpath(site_dir))
    return found


def virtualenv_site_paths(interpreters: Iterable[str]) -> list[str]:
    """For the interpreters in a virtualenv (`bin/python` beside a `pyvenv.cfg`), the folders their site-packages'
    `.pth` files add; none for any other path. Each virtualenv is read once (the runtime's interpreter is often
    lambdatui's own, under two names)."""
    venvs: list[str] = []
    for interpreter in interpreters:
        where = os.path.dirname(os.path.abspath(interpreter))
        if os.path.basename(where) != "bin":
            continue  # the code's folder, a script, lambdatui's own folders: no interpreter of a virtualenv
        venv = os.path.dirname(where)
        if venv not in venvs and os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
            venvs.append(venv)
    found: list[str] = []
    for site_dir in (site_dir for venv in venvs for site_dir in _site_dirs(venv)):
        try:
            names = sorted(os.listdir(site_dir))
        except OSError:
            continue
        for name in names:
            if name.endswith(".pth"):
                found += pth_paths(_read(os.path.join(site_dir, name)), site_dir)
            elif name.startswith("__editable__") and name.endswith("finder.py"):
                found += finder_paths(_read(os.path.join(site_dir, name)))
    return [path for path in dict.fromkeys(found) if os.path.exists(path)]
