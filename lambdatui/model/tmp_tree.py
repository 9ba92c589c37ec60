"""The environment's /tmp as a listing that says which phase created or last changed each path.

/tmp survives invokes and resets (lambda-spec §4), which is exactly why it causes warm-start bugs:
the listing attributes every path to the phase that wrote it (`"init"`, a request id, or `"before"`
for what was there when lambdatui first looked), so the user can see that invoke 3 read a file
invoke 1 left behind.

Modification times are compared in integer nanoseconds, never as the float seconds `TmpEntry`
carries: at today's epoch a float second has a resolution of about 240 ns, so two writes close
together could round to the same float and a change would be missed (and float equality is a trap
in general). The exact nanoseconds of each listing are kept in a private side table keyed by the
`TmpChanged` object (dropped when that object is garbage-collected), so the public fact stays the
plain dataclass every client already knows. A `TmpChanged` this module did not build (one rebuilt
from a recording, say) falls back to comparing the float, which is exact for any mtime that went
through the same conversion.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from lambdatui.model.facts import TmpChanged, TmpEntry

BEFORE = "before"  # `by` for the first scan, at environment start: what was already there
NEW = "new"
CHANGED = "changed"
SAME = "same"


@dataclass(frozen=True)
class TmpScanEntry:
    """One path a scan found, with the exact lstat data the diff compares."""

    path: str  # as the function sees it: "/tmp/<relative>"
    kind: str  # "file", "dir", "symlink", "other"
    size: int
    mtime_ns: int


# id(TmpChanged) -> {path: mtime_ns}; a weakref.finalize removes the row with its listing.
_exact_mtimes: dict[int, dict[str, int]] = {}


def diff_tmp(scan: Sequence[TmpScanEntry], previous: Optional[TmpChanged], by: str, truncated: bool,
             writers: Optional[str] = None) -> TmpChanged:
    """The listing after phase `by`, attributed against `previous` (None: nothing was listed yet).

    `writers`: who may have made the changes, where `by` alone cannot say (Managed Instances: the invokes that ran
    beside it share /tmp): `writers_of` names them; by default, `by`.

    A path absent before is created and changed by `by`; a path whose kind, size or mtime moved
    was changed by `by` (a different kind is a new object at that path, so it is created by `by`
    too); an untouched path keeps both attributions.

    When this scan is `truncated`, a path missing from it may simply lie past the limit, so nothing
    is reported removed. (After a truncated *previous* scan, a path it missed reads as new: the
    attribution is only as complete as the listing it compares against.)
    """
    current = _by_path(scan)
    before = {e.path: e for e in previous.entries} if previous is not None else {}
    before_ns = _mtimes_of(previous)
    entries = tuple(_attribute(s, before.get(path), before_ns, writers or by) for path, s in sorted(current.items()))
    removed = () if truncated else tuple(sorted(path for path in before if path not in current))
    listing = TmpChanged(entries, removed, by, truncated)
    _remember(listing, {path: s.mtime_ns for path, s in current.items()})
    return listing


WRITERS_SEPARATOR = " or "


def writers_of(request_ids: Sequence[str]) -> str:
    """Several invokes, any of which may have written a path (as `created_by`/`changed_by`: "A or B")."""
    return WRITERS_SEPARATOR.join(request_ids)


def mtime_seconds(mtime_ns: int) -> float:
    """What `TmpEntry.mtime` shows: float epoch seconds, for display only (never compared when ns are known)."""
    return mtime_ns / 1e9


# ---------------------------------------------------------------------- attribution


def _by_path(scan: Sequence[TmpScanEntry]) -> dict[str, TmpScanEntry]:
    # A path listed twice (a racing rescan) keeps its last sighting, the newest data.
    return {s.path: s for s in scan}


def _attribute(found: TmpScanEntry, before: Optional[TmpEntry], before_ns: Optional[Mapping[str, int]],
               by: str) -> TmpEntry:
    mtime = mtime_seconds(found.mtime_ns)
    if before is None or before.kind != found.kind:
        return TmpEntry(found.path, found.kind, found.size, mtime, by, by, NEW)
    if _differs(found, before, before_ns):
        return TmpEntry(found.path, found.kind, found.size, mtime, before.created_by, by, CHANGED)
    return TmpEntry(found.path, found.kind, found.size, mtime, before.created_by, before.changed_by, SAME)


def _differs(found: TmpScanEntry, before: TmpEntry, before_ns: Optional[Mapping[str, int]]) -> bool:
    if found.size != before.size:
        return True
    if before_ns is not None and found.path in before_ns:
        return found.mtime_ns != before_ns[found.path]
    return mtime_seconds(found.mtime_ns) != before.mtime  # a listing we did not build: best effort


# ---------------------------------------------------------------------- the exact-mtime side table


def _remember(listing: TmpChanged, mtimes_ns: dict[str, int]) -> None:
    key = id(listing)
    _exact_mtimes[key] = mtimes_ns
    # The id is only unique while the object lives: forget the row the moment it dies.
    weakref.finalize(listing, _exact_mtimes.pop, key, None)


def _mtimes_of(listing: Optional[TmpChanged]) -> Optional[Mapping[str, int]]:
    if listing is None:
        return None
    return _exact_mtimes.get(id(listing))
