"""trio's import looks libpthread up; lambdatui answers that lookup without `ldconfig -p`, as find_library would."""

from __future__ import annotations

import ctypes.util
import json
import subprocess
import sys

import pytest

from lambdatui.library_lookup import PTHREAD, quick_lookup

# Every program trio's import starts, through the audit event every subprocess.Popen raises.
_STARTED_BY_TRIO_IMPORT = """
import json, sys
started = []
sys.addaudithook(lambda event, args: event == "subprocess.Popen" and started.append(str(args[0])))
if sys.argv[1] == "installed":
    from lambdatui import library_lookup
    library_lookup.install()
import trio
print(json.dumps(started))
"""

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux") or not ctypes.util.find_library(PTHREAD),
                                reason="the quick answer is glibc's soname")


def _started_by_trio_import(mode: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _STARTED_BY_TRIO_IMPORT, mode], capture_output=True, text=True,
                          check=True, timeout=60)
    return json.loads(done.stdout)


@glibc_only
def test_libpthread_is_found_as_find_library_finds_it() -> None:
    assert quick_lookup(ctypes.util.find_library)(PTHREAD) == ctypes.util.find_library(PTHREAD)


@glibc_only
def test_only_libpthread_is_answered_without_the_lookup_itself() -> None:
    asked: list[str] = []

    def lookup(name: str) -> str | None:
        asked.append(name)
        return ctypes.util.find_library(name)

    quick = quick_lookup(lookup)
    quick(PTHREAD)
    assert asked == []
    assert quick("m") == ctypes.util.find_library("m")
    assert asked == ["m"]


@glibc_only
def test_trio_imports_without_starting_ldconfig() -> None:
    assert any("ldconfig" in program for program in _started_by_trio_import("plain"))  # what the change removes
    assert _started_by_trio_import("installed") == []


_LOADED_BY_TRIO_IMPORT = """
import ctypes, json, sys
from lambdatui import deferred_imports, library_lookup
deferred_imports.install()
library_lookup.install()
import trio
loaded = {name: name in sys.modules and type(sys.modules[name]) is not deferred_imports.DeferredModule
          for name in ("ctypes.util", "tempfile")}
import ctypes.util
m = ctypes.util.find_library("m")  # anything but libpthread: the real lookup, imported now
print(json.dumps({"loaded": loaded, "m": m, "now": type(sys.modules["ctypes.util"]).__name__,
                  "quick": getattr(ctypes.util.find_library, "quick", False)}))
"""


@glibc_only
def test_ctypes_util_is_imported_only_for_a_lookup_of_another_library() -> None:
    """trio's import asks only for libpthread: ctypes.util (and the tempfile it imports) stays unimported until
    something asks for another library, which then gets ctypes.util's own answer."""
    done = subprocess.run([sys.executable, "-c", _LOADED_BY_TRIO_IMPORT], capture_output=True, text=True,
                          check=True, timeout=60)
    seen = json.loads(done.stdout)
    assert seen["loaded"] == {"ctypes.util": False, "tempfile": False}
    assert seen["m"] == ctypes.util.find_library("m") and seen["now"] == "module" and seen["quick"] is True
