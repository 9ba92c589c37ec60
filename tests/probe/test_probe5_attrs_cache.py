"""Probe (round 5): the method cache serving attrs' generated methods (trio's and outcome's classes), with real
`python -m lambdatui` runs under a fresh PYTHONPYCACHEPREFIX and different PYTHONHASHSEEDs: a hashable class's
`__hash__` holds hash() of a string, stored with a stand-in number that each process replaces by its own.
A prefix starts with the bytecode of what the commands import and no cache file (warm_bytecode.py).
"""

from __future__ import annotations

import json
import marshal
import subprocess
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_probe5_support import BOUND, Live, write  # noqa: E402
from test_probe4_support import post  # noqa: E402
from probe_support import REPO, cache_env, file_identity, stored_texts  # noqa: E402
from probe_cache_path import checkout_cache_file  # noqa: E402
from lambdatui.dataclass_cache import _HEADER  # noqa: E402
from warm_bytecode import seeded, warm_bytecode  # noqa: E402

__all__ = ["warm_bytecode"]  # the fixture, used by name

HANDLER = "import time\n\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return {'ok': 1}\n"

# Instances of trio's and outcome's hashable attrs classes: their hashes and equality, and how many attrs scripts this
# process compiled rather than took from the cache.
HASHES = r'''
import json, sys
from lambdatui import dataclass_cache, deferred_imports, library_lookup
# As lambdatui's start does (entry.py): what it defers, or ctypes' search for libpthread, would compile patterns of
# their own, which the cache holds only from a start of its own.
deferred_imports.install()
cache = dataclass_cache.install() if sys.argv[1] == "cached" else None
library_lookup.install()
import trio, outcome
from trio._sync import EventStatistics
from trio._core._parking_lot import ParkingLotStatistics
from trio._channel import MemoryChannelStatistics
# (no None among the fields: hash(None) is its address in 3.11, another in every process)
values = [outcome.Value(5), outcome.Value("x"), outcome.Error(KeyError("k")), EventStatistics(tasks_waiting=3),
          ParkingLotStatistics(tasks_waiting=2), MemoryChannelStatistics(1, 2, 3, 4, 5, 6, 7)]
again = [outcome.Value(5), outcome.Value("x"), None, EventStatistics(tasks_waiting=3),
         ParkingLotStatistics(tasks_waiting=2), MemoryChannelStatistics(1, 2, 3, 4, 5, 6, 7)]
print(json.dumps({
    "hashes": [hash(v) for v in values[:2]] + [hash(v) for v in values[3:]],
    "eq": [a == b for a, b in zip(values, again)] + [outcome.Value(5) == outcome.Value(6),
                                                   EventStatistics(1) == EventStatistics(2)],
    "sets": len({outcome.Value(5), outcome.Value(5), outcome.Value(6)}),
    "repr": [repr(v) for v in values[:2]] + [repr(v) for v in values[3:]],
    "compiled": cache.compiled if cache else None,
}))
'''


def _run(argv: list[str], prefix: Path, seed: str, *, write_cache: bool = True) -> subprocess.CompletedProcess[str]:
    env = cache_env(prefix, write=write_cache)
    env["PYTHONHASHSEED"] = seed
    env.pop("LAMBDATUI_EARLY_START", None)
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=REPO, timeout=BOUND)


def _hashes(prefix: Path, seed: str, mode: str) -> dict:
    out = _run(["-c", HASHES, mode], prefix, seed, write_cache=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _invoke(path: Path, prefix: Path, seed: str) -> None:
    out = _run(["-m", "lambdatui", "invoke", str(path)], prefix, seed)
    assert out.returncode == 0 and json.loads(out.stdout) == {"ok": 1}, out.stderr[-2000:]


def _serve_with_a_timeout(path: Path, prefix: Path, seed: str) -> None:
    """`serve --timeout 1` and one invoke that outlives it (trio's cancel scopes and deadlines at work)."""
    env = {**cache_env(prefix), "PYTHONHASHSEED": seed}
    with Live("early", "serve", str(path), "--port", "0", "--timeout", "1", env=env) as live:
        status, headers, body = post(live.url(), {"sleep": 3})
        assert (status, headers.get("x-amz-function-error"), json.loads(body)["errorType"]) == (
            200, "Unhandled", "Sandbox.Timedout"), body
        status, _, body = post(live.url(), {})
        assert (status, json.loads(body)) == (200, {"ok": 1}), body
        live.proc.terminate()
        assert live.wait() == 0, live.stderr[-2000:]


def test_runs_under_other_hash_seeds_rewrite_nothing_and_hash_as_attrs_does(
        code_dir: Path, warm_bytecode: Path) -> None:
    prefix = seeded(code_dir / "pycache", warm_bytecode)
    path = write(code_dir / "fn" / "handler.py", HANDLER)
    cache = checkout_cache_file(prefix)
    _invoke(path, prefix, "1")
    assert cache.is_file()
    assert any(key.startswith("attrs\0<attrs generated methods trio.") for key in stored_texts(cache))
    written = file_identity(cache)
    _invoke(path, prefix, "2")
    _invoke(path, prefix, "3")
    assert file_identity(cache) == written, "a second start under another PYTHONHASHSEED rewrote the cache"
    # serve imports more (its Invoke API): its first start may add texts, the next one none.
    _serve_with_a_timeout(path, prefix, "4")
    served = file_identity(cache)
    _serve_with_a_timeout(path, prefix, "5")
    assert file_identity(cache) == served, "a second serve under another PYTHONHASHSEED rewrote the cache"
    # trio's classes from code stored under seeds 1-4, in a process of seed 6: as attrs itself makes them.
    cached, plain = _hashes(prefix, "6", "cached"), _hashes(prefix, "6", "plain")
    assert cached["compiled"] == 0, cached
    assert {**cached, "compiled": None} == plain, (cached, plain)
    assert all(cached["eq"][:2]) and cached["eq"][-2:] == [False, False] and cached["sets"] == 2, cached


def test_a_damaged_attrs_entry_under_a_valid_checksum_is_compiled_past(
        code_dir: Path, warm_bytecode: Path) -> None:
    """One attrs entry (outcome.Value's methods) whose code no longer unmarshals, in a file whose checksum was
    recomputed over it: the class is compiled anew, hashes as attrs' own, and the next save repairs the entry."""
    prefix = seeded(code_dir / "pycache", warm_bytecode)
    path = write(code_dir / "fn" / "handler.py", HANDLER)
    cache = checkout_cache_file(prefix)
    _invoke(path, prefix, "1")
    data = cache.read_bytes()
    header_end = len(_HEADER)
    stored = marshal.loads(data[header_end + 9:])
    [key] = [k for k in stored if k.startswith("attrs\0<attrs generated methods outcome._impl.Value>")]
    stored[key] = stored[key][: len(stored[key]) // 3]
    payload = marshal.dumps(stored)
    cache.write_bytes(data[:header_end] + b"%08x\n" % zlib.crc32(payload) + payload)
    cached, plain = _hashes(prefix, "2", "cached"), _hashes(prefix, "2", "plain")
    assert cached["compiled"] == 1 and {**cached, "compiled": None} == plain, (cached, plain)
    _invoke(path, prefix, "3")
    assert type(marshal.loads(stored_texts(cache)[key])).__name__ == "code"


FIELDLESS = r'''
import json, sys
from lambdatui import dataclass_cache
if sys.argv[1] == "cached":
    dataclass_cache.install(sys.argv[2])
import attr

@attr.s(frozen=True)
class Empty:
    pass

@attr.s(frozen=True)
class Other:
    pass

@attr.s(frozen=True)
class One:
    x = attr.ib(default=1)

print(json.dumps([hash(Empty()), hash(Other()), hash(One())]))
if sys.argv[1] == "cached":
    dataclass_cache.save()
'''


def test_a_hashable_attrs_class_without_fields_hashes_as_attrs_makes_it(code_dir: Path, tmp_path: Path) -> None:
    """attrs' __hash__ of a class with no field is `hash((<its number>,))`: a tuple of constants, which the compiler
    folds into one constant. The stand-in number inside it is never replaced by this process's own: every such class
    then hashes alike, unlike attrs' own (each class's number is hash() of its own name)."""
    cache = tmp_path / "methods.marshal"
    env = cache_env(None, write=True)
    env["PYTHONHASHSEED"] = "7"
    results = {}
    for mode in ("plain", "cached", "cached"):  # the second cached run takes the code from the file
        out = subprocess.run([sys.executable, "-c", FIELDLESS, mode, str(cache)], capture_output=True, text=True,
                             env=env, cwd=REPO, timeout=BOUND)
        assert out.returncode == 0, out.stderr
        results.setdefault(mode, []).append(json.loads(out.stdout))
    plain = results["plain"][0]
    assert plain[0] != plain[1]
    for cached in results["cached"]:
        assert cached == plain, f"attrs' own hashes {plain}; from the method cache {cached} (Empty, Other, One)"
