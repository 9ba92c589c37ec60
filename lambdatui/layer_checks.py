"""Whether a layer is one Lambda could publish: a folder, or a .zip archive that extracts as Lambda extracts it.

Every door checks it here, before anything runs: `--layer`, and a SAM template's LayerVersion with a local
ContentUri (config.check_layers, sam_template/layer_refs.py). Lambda never runs a function whose layer could not be
published, so neither does lambdatui: refused up front, not left out of a function that then runs without it.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Optional

NOT_A_LAYER = "expected a layer folder or a .zip archive"


def layer_problem(path: Path) -> Optional[str]:
    """Why the existing `path` is no layer (None: it is one)."""
    if path.is_dir():
        return None
    if not path.is_file():  # a device, a fifo (opening one named .zip would wait for a writer)
        return f"{NOT_A_LAYER} (this is neither a folder nor a regular file)"
    if path.suffix.lower() != ".zip":
        return NOT_A_LAYER
    return _zip_problem(path)


def _zip_problem(path: Path) -> Optional[str]:
    """Why a layer's .zip cannot be extracted as Lambda publishes a layer, found from its listing (None: it can)."""
    import zipfile  # only when a layer is a file: most starts have none, and zipfile costs ~2 ms to import

    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return f"{NOT_A_LAYER} (this one is named .zip but is not a zip archive)"
    links: set[tuple[str, ...]] = set()
    files: dict[tuple[str, ...], str] = {}
    named = [(info, tuple(p for p in info.filename.split("/") if p not in ("", ".", ".."))) for info in infos]
    for info, parts in named:  # as zipfile reads the name
        behind = next((parts[:depth] for depth in range(1, len(parts) + 1) if parts[:depth] in links), None)
        if behind is not None:
            # The extraction refuses to write through a link the archive made (processes/filesystem.py).
            return (f"its entry {info.filename!r} lies behind its symbolic link {'/'.join(behind)!r}, so it cannot be "
                    "extracted without writing outside the layer")
        if stat.S_ISLNK(info.external_attr >> 16) and parts:
            links.add(parts)
        elif parts and not info.is_dir():
            files[parts] = info.filename
    for info, parts in named:  # a file's name used as a folder's, in either order
        under = next((parts[:depth] for depth in range(1, len(parts)) if parts[:depth] in files), None)
        if under is not None:
            return (f"its entry {info.filename!r} lies under its file {files[under]!r}, so it cannot be extracted "
                    "(a name cannot be both a file and a folder)")
    return None
