"""Whether the function's code and layers together pass what Lambda takes unzipped (lambda-spec §10.1: 250 MB).

Lambda refuses to create or update such a function. lambdatui runs it all the same, and says so: the folder it runs is
a developer's working copy, with what a build leaves out (tests, data, the virtualenv the function runs in), and a
debugger that refused it would hide the function it is there to show. The virtualenv the function runs in is left out
of the count: its packages are what a build would put in the package, but so are they for every function, and a
folder holding a `.venv` of torch would otherwise be told it is too big on every start.

Counted off the start's critical path (runner.py runs it on a thread): a folder is walked until the count passes the
limit, never further.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

MAX_UNZIPPED_BYTES = 262_144_000  # CreateFunction's "Unzipped size must be smaller than 262144000 bytes"
MB = 1024 * 1024


def size_note(code_dir: Path, layers: Sequence[Path], interpreter: Optional[str]) -> Optional[str]:
    """A line for the user where the code's folder and the layers come to more than Lambda takes; None where not."""
    layer_bytes = sum(_unzipped(layer.resolve(), None, MAX_UNZIPPED_BYTES + 1) for layer in layers)
    venv = _virtualenv_of(interpreter)
    code_dir = code_dir.resolve()
    code_bytes = 0
    if layer_bytes <= MAX_UNZIPPED_BYTES:
        code_bytes = _unzipped(code_dir, venv, MAX_UNZIPPED_BYTES + 1 - layer_bytes)
    if code_bytes + layer_bytes <= MAX_UNZIPPED_BYTES:
        return None
    parts = [f"the code's folder {code_dir}" + (f" (the virtualenv it runs in, {venv}, left out)"
                                                if venv is not None and _within(venv, code_dir) else "")]
    if layers:
        parts.append(f"its {len(layers)} layer{'s' if len(layers) > 1 else ''} ({_mb(layer_bytes)} unzipped)")
    return (f"Size: {' and '.join(parts)} {'come' if layers else 'comes'} to more than 250 MB unzipped ({MAX_UNZIPPED_BYTES:,} bytes), which "
            "Lambda refuses to deploy (its limit for a function and its layers together); lambdatui runs it all the "
            "same.")


def _unzipped(path: Path, skip: Optional[Path], budget: int) -> int:
    """The bytes `path` (a folder, or a layer's .zip) unzips to, counted until they pass `budget`."""
    if path.is_file():
        import zipfile  # only where a layer is a .zip: config.check_layers read its listing already

        try:
            with zipfile.ZipFile(path) as archive:
                return sum(info.file_size for info in archive.infolist())
        except (OSError, zipfile.BadZipFile, ValueError):
            return 0
    total = 0
    folders = [str(path)]
    while folders and total < budget:
        folder = folders.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if skip is None or entry.path != str(skip):
                            folders.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue  # unreadable: the function could not read it either
    return total


def _virtualenv_of(interpreter: Optional[str]) -> Optional[Path]:
    """The virtualenv folder an interpreter belongs to (`<venv>/bin/python`, beside its pyvenv.cfg), if any."""
    if not interpreter:
        return None
    root = Path(os.path.abspath(interpreter)).parent.parent.resolve()
    return root if (root / "pyvenv.cfg").is_file() else None


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _mb(count: int) -> str:
    return f"more than {MAX_UNZIPPED_BYTES // MB} MB" if count > MAX_UNZIPPED_BYTES else f"{-(-count // MB)} MB"
