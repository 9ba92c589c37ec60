"""Probe (round 3): the dataclass method cache under real use (lambdatui/dataclass_cache.py, entry.py, cli._exit_now).

Real commands throughout: the debugger on a real pseudo-terminal (ended with `q`, SIGTERM, or by closing the
terminal), `invoke`, `replay`, `serve`, and other real interpreters of this machine (pyenv's 3.10, 3.12, 3.13 and
the system's own 3.11) for what the cache module does alone. Every cache file lives under a PYTHONPYCACHEPREFIX in
pytest's tmp_path, or in a copy of the package there; PYTHONDONTWRITEBYTECODE is removed where the file must be
written; a prefix starts with the bytecode of what the commands import and no cache file (warm_bytecode.py: what
is probed is the method cache, not Python's compiling of .pyc files). Round 2 (test_probe2_dataclass_cache.py)
covered damaged files, concurrent first runs, a read-only folder and class equivalence; this round goes after the
file's life across commands and interpreters.
"""

from __future__ import annotations

import json
import marshal
import shutil
import signal
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

from lambdatui.dataclass_cache import _HEADER, MAX_ENTRIES

from probe_support import (BOUND, REPO, DebuggerOnPty, cache_env, file_identity,
                            stored_texts)
from probe_cache_path import checkout_cache_file
from warm_bytecode import seeded, serve_then_stop, warm_bytecode

__all__ = ["warm_bytecode"]  # the fixture, used by name

HELLO = REPO / "sample_functions" / "hello" / "handler.py"
COUNTER = REPO / "sample_functions" / "counter" / "handler.py"
REUSE = REPO / "sample_functions" / "counter" / "scenarios" / "reuse.toml"


def lambdatui(prefix: Path | None, *args: str, pythonpath: Path = REPO) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "lambdatui", *args], capture_output=True, text=True,
                          env=cache_env(prefix, pythonpath=pythonpath), cwd=pythonpath, timeout=BOUND,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, (args, done.stderr[-3000:])
    return done


def debugger_run(prefix: Path, end: str = "q") -> None:
    """The debugger on HELLO, drawn, then ended as a user ends it."""
    with DebuggerOnPty(str(HELLO), env=cache_env(prefix)) as tui:
        tui.ready()
        if end == "q":
            tui.type(b"q")
        elif end == "term":
            tui.proc.send_signal(signal.SIGTERM)
        else:
            tui.hang_up()
        assert tui.wait(30) == 0


# --------------------------------------------------------------------------- how the debugger ends


def assert_the_debugger_saves_what_it_compiled(prefix: Path, path: Path, end: str) -> None:
    """Two runs of the debugger ended by `end`, from a prefix without a cache file: the first writes it whole, the
    second then compiles nothing (and rewrites nothing)."""
    debugger_run(prefix, end)
    assert path.is_file(), f"the debugger ended by {end!r} wrote no cache file"
    assert len(stored_texts(path)) > 100  # lambdatui's classes, whichever Python (3.13 compiles a class in one text)
    saved = file_identity(path)
    debugger_run(prefix, end)
    assert file_identity(path) == saved, f"the debugger ended by {end!r} kept only part of what it compiles"


# Ended by `q`: checked by the first two runs of test_debugger_invoke_and_replay_alternating_... (the same start, a
# fresh prefix, then the same two runs; there the other commands follow).
@pytest.mark.parametrize("end", ["term", "hangup"])
def test_the_debugger_saves_what_it_compiled_however_it_is_ended(tmp_path: Path, warm_bytecode: Path,
                                                                 end: str) -> None:
    """entry.main saves in its `finally`; `invoke` saves before its os._exit. The debugger has an os._exit of its
    own: closing its terminal (ui/terminal_hangup.py hang_up) ends the process without the save, so a user who closes
    the terminal window rather than pressing q recompiles ~1,000 texts (textual's among them) at every start."""
    prefix = seeded(tmp_path / "prefix", warm_bytecode)
    assert_the_debugger_saves_what_it_compiled(prefix, checkout_cache_file(prefix), end)


# --------------------------------------------------------------------------- commands alternating


def test_debugger_invoke_and_replay_alternating_keep_one_file_that_none_of_them_recompiles(
        tmp_path: Path, warm_bytecode: Path) -> None:
    """Each command defines a different set of classes (the debugger textual's, replay the scenario's): after each
    ran once, the file holds every set and a second round rewrites nothing. It starts with the debugger ended by `q`
    twice in a row (test_the_debugger_saves_what_it_compiled_however_it_is_ended's case of `q`: right after the
    first, before any other command could add a text it missed)."""
    prefix = seeded(tmp_path / "prefix", warm_bytecode)
    path = checkout_cache_file(prefix)
    assert_the_debugger_saves_what_it_compiled(prefix, path, "q")
    after_debugger = set(stored_texts(path))
    lambdatui(prefix, "replay", str(COUNTER), str(REUSE))
    after_replay = set(stored_texts(path))
    assert after_debugger <= after_replay, "replay's save dropped texts only the debugger uses"
    assert after_replay - after_debugger, "replay defines no class of its own: the test proves nothing"
    lambdatui(prefix, "invoke", str(HELLO), "-e", "{}")
    settled = file_identity(path)
    debugger_run(prefix)
    assert file_identity(path) == settled, "the second debugger run recompiled (and rewrote) the file"
    lambdatui(prefix, "replay", str(COUNTER), str(REUSE))
    lambdatui(prefix, "invoke", str(HELLO), "-e", "{}")
    assert file_identity(path) == settled, "a second replay or invoke recompiled (and rewrote) the file"


def test_a_replay_run_while_the_debugger_is_open_keeps_its_texts_once_the_debugger_quits(
        tmp_path: Path, warm_bytecode: Path) -> None:
    """A debugger open in one terminal, `lambdatui replay` run in another (an everyday pairing): both compile on
    this first start and both save at exit. The debugger saves last, writing the file as it read it at its start
    plus what it compiled: replay's texts, saved meanwhile, must not be thrown away (the next replay would compile
    them all again)."""
    prefix = seeded(tmp_path / "prefix", warm_bytecode)
    path = checkout_cache_file(prefix)
    with DebuggerOnPty(str(HELLO), env=cache_env(prefix)) as tui:
        tui.ready()
        lambdatui(prefix, "replay", str(COUNTER), str(REUSE))
        replay_texts = set(stored_texts(path))
        assert replay_texts
        tui.type(b"q")
        assert tui.wait(30) == 0
    kept = set(stored_texts(path))
    lost = replay_texts - kept
    assert not lost, f"{len(lost)} of replay's {len(replay_texts)} texts were dropped by the debugger's save"


# --------------------------------------------------------------------------- pruning under real use


def _stale_file(path: Path, count: int) -> set[str]:
    """A whole, valid file of `count` texts no class of today's lambdatui writes (an old version's)."""
    stored = {}
    for index in range(count):
        source = f"def __create_fn__():\n def __repr__(self):\n  return 'gone_field_{index}'\n return __repr__"
        stored[source] = marshal.dumps(compile(source, "<string>", "exec", dont_inherit=True))
    payload = marshal.dumps(stored)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_HEADER + b"%08x\n" % zlib.crc32(payload) + payload)
    return set(stored)


def test_past_max_entries_real_runs_drop_the_stale_texts_and_then_settle(tmp_path: Path, warm_bytecode: Path) -> None:
    prefix = seeded(tmp_path / "prefix", warm_bytecode)
    path = checkout_cache_file(prefix)
    stale = _stale_file(path, MAX_ENTRIES)
    lambdatui(prefix, "invoke", str(HELLO), "-e", "{}")
    after_invoke = set(stored_texts(path))
    assert not (after_invoke & stale), "the stale texts were kept past MAX_ENTRIES"
    assert len(after_invoke) > 100
    lambdatui(prefix, "replay", str(COUNTER), str(REUSE))
    after_replay = set(stored_texts(path))
    assert after_invoke <= after_replay and not (after_replay & stale)
    settled = file_identity(path)
    lambdatui(prefix, "invoke", str(HELLO), "-e", "{}")
    lambdatui(prefix, "replay", str(COUNTER), str(REUSE))
    assert file_identity(path) == settled


def test_serve_stopped_by_a_signal_saves_the_cache(tmp_path: Path, warm_bytecode: Path) -> None:
    """`serve` ends through entry.main's return on SIGTERM: its classes (quart's, hypercorn's) are kept."""
    prefix = seeded(tmp_path / "prefix", warm_bytecode)
    path = checkout_cache_file(prefix)
    assert serve_then_stop(cache_env(prefix)) == 0
    assert path.is_file() and len(stored_texts(path)) > 100


# --------------------------------------------------------------------------- the package's own __pycache__


def _package_copy(root: Path) -> Path:
    shutil.copytree(REPO / "lambdatui", root / "lambdatui", ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.mark.parametrize("shape", ["file", "dangling-symlink", "symlink-to-dir"])
def test_a_pycache_that_is_a_file_or_a_symlink(tmp_path: Path, code_dir: Path, shape: str) -> None:
    """Where Python would put the package's bytecode is not a folder of its own: the command runs and prints the
    same, and the cache is written exactly where importlib writes the bytecode (or nowhere)."""
    copy = _package_copy(tmp_path / "copy")
    pycache = copy / "lambdatui" / "__pycache__"
    elsewhere = tmp_path / "elsewhere"
    if shape == "file":
        pycache.write_text("not a folder")
    elif shape == "dangling-symlink":
        pycache.symlink_to(tmp_path / "missing")
    else:
        elsewhere.mkdir()
        pycache.symlink_to(elsewhere)
    (code_dir / "handler.py").write_text("def handler(event, context):\n    return {'ok': event}\n")
    first = lambdatui(None, "invoke", str(code_dir / "handler.py"), "-e", '{"a": 1}', pythonpath=copy)
    assert json.loads(first.stdout) == {"ok": {"a": 1}}
    if shape == "symlink-to-dir":  # a second run, which reads the file the first wrote through the symlink
        second = lambdatui(None, "invoke", str(code_dir / "handler.py"), "-e", '{"a": 1}', pythonpath=copy)
        assert json.loads(second.stdout) == {"ok": {"a": 1}}
    else:
        # No cache file anywhere (checked below), the pycache as it was and no folder made where the dangling
        # symlink points: a second run would meet the cache's side as the first did (no file to read, the same
        # place to fail to write), only the subpackages' own bytecode new: it could only repeat the first.
        assert not (tmp_path / "missing").exists() and not elsewhere.exists()
    strays = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("dataclass-methods*"))
    if shape == "symlink-to-dir":
        (written,) = [p for p in elsewhere.iterdir() if p.name.startswith("dataclass-methods")]
        assert written.name == f"dataclass-methods.{sys.implementation.cache_tag}.marshal"
        assert len(stored_texts(written)) > 100
        assert strays == [f"elsewhere/{written.name}"], strays
        assert any(p.suffix == ".pyc" for p in elsewhere.iterdir())  # importlib wrote there too
    else:
        assert strays == [], strays
        if shape == "file":
            assert pycache.is_file() and pycache.read_text() == "not a folder"
        else:
            assert pycache.is_symlink() and pycache.readlink() == tmp_path / "missing"


def test_two_checkouts_sharing_one_prefix_keep_one_file_each(tmp_path: Path, warm_bytecode: Path) -> None:
    prefix = seeded(tmp_path / "prefix", warm_bytecode)
    one, two = _package_copy(tmp_path / "one"), _package_copy(tmp_path / "two")
    # The second checkout's dataclasses differ by one field: its texts must never be served to the first.
    facts = two / "lambdatui" / "ids.py"
    facts.write_text(facts.read_text() + textwrap.dedent("""

        import dataclasses as _dc


        @_dc.dataclass(frozen=True)
        class _ProbeOnlyInTwo:
            probe_field_only_in_two: int = 3
        """))
    # Their bytecode too, where importlib looks for a copy's: copied with their times, the sources are the
    # checkout's, but for two's ids.py (compiled again: its size and time are not those the .pyc holds).
    for copy in (one, two):
        seeded(prefix / (copy / "lambdatui").relative_to("/"), warm_bytecode / (REPO / "lambdatui").relative_to("/"))
    paths = [checkout_cache_file(prefix, root=one), checkout_cache_file(prefix, root=two)]
    assert paths[0] != paths[1]
    for copy in (one, two):
        lambdatui(prefix, "invoke", str(HELLO), "-e", "{}", pythonpath=copy)
    texts = [set(stored_texts(p)) for p in paths]
    assert not any("probe_field_only_in_two" in t for t in texts[0])
    assert any("probe_field_only_in_two" in t for t in texts[1])
    before = [file_identity(p) for p in paths]
    for copy in (two, one):
        lambdatui(prefix, "invoke", str(HELLO), "-e", "{}", pythonpath=copy)
    assert [file_identity(p) for p in paths] == before


# --------------------------------------------------------------------------- other interpreters, one prefix

_DEFINE = textwrap.dedent('''
    import dataclasses, json, sys
    from lambdatui import dataclass_cache
    cache = dataclass_cache.install()

    @dataclasses.dataclass(frozen=True)
    class Point:
        x: int
        y: int = 2

    @dataclasses.dataclass(order=True)
    class Version:
        major: int
        minor: int = 0

    assert repr(Point(1)).endswith("Point(x=1, y=2)") and Version(1) < Version(1, 1)
    print(json.dumps({"compiled": cache.compiled, "path": cache.path, "stored": len(cache.stored)}))
    dataclass_cache.save()
''')


def _interpreters() -> dict[str, str]:
    """This one, and pyenv's of the minor versions other than its own (one of the same shares its cache file)."""
    found = {"venv": sys.executable}
    own = "%d.%d" % sys.version_info[:2]
    for version in [version for version in ("3.10", "3.12", "3.13") if version != own]:
        try:
            matches = sorted(Path("/root/.pyenv/versions").glob(f"{version}.*/bin/python{version}"))
        except OSError:  # root's, run as another user
            matches = []
        if matches:
            found[version] = str(matches[-1])
    return found


def _define(python: str, prefix: Path) -> dict:
    out = subprocess.run([python, "-c", _DEFINE], capture_output=True, text=True, env=cache_env(prefix), cwd="/",
                         timeout=BOUND)
    assert out.returncode == 0, (python, out.stderr[-2000:])
    return json.loads(out.stdout)


def test_interpreters_of_other_minor_versions_in_one_prefix_keep_their_own_files(tmp_path: Path) -> None:
    pythons = _interpreters()
    if len(pythons) < 2:
        pytest.skip("no other Python minor version installed here")
    prefix = tmp_path / "prefix"
    first = {name: _define(python, prefix) for name, python in pythons.items()}
    assert all(run["compiled"] > 0 for run in first.values()), first
    assert len({run["path"] for run in first.values()}) == len(pythons)  # one file per cache tag
    second = {name: _define(python, prefix) for name, python in reversed(list(pythons.items()))}
    assert {name: run["compiled"] for name, run in second.items()} == {name: 0 for name in pythons}


def test_two_builds_of_one_minor_version_sharing_a_checkout_do_not_recompile_each_other_away(tmp_path: Path) -> None:
    """The system's own Python 3.11 beside the virtualenv's (pyenv's 3.11.x): one cache tag, so one file name, as
    their .pyc files are one (the same magic number: the bytecode, marshal format included, is the same within a
    minor version). The header names the whole build (sys.version), so each discards the other's file and writes
    its own: used in turn (a system `python3 -m lambdatui` and the venv's), neither ever starts from the cache."""
    system = shutil.which("python3", path="/usr/bin")
    if system is None:
        pytest.skip("no system python3")
    probe = subprocess.run([system, "-c", "import sys; print(sys.implementation.cache_tag); print(sys.version)"],
                           capture_output=True, text=True, timeout=BOUND)
    tag, version = probe.stdout.split("\n", 1)
    if tag != sys.implementation.cache_tag or version.strip() == sys.version:
        pytest.skip(f"the system Python ({tag}) is not another build of {sys.implementation.cache_tag}")
    prefix = tmp_path / "prefix"
    runs = [_define(python, prefix) for python in (sys.executable, system, sys.executable, system)]
    assert len({run["path"] for run in runs}) == 1
    assert runs[0]["compiled"] > 0 and runs[1]["compiled"] >= 0
    assert [run["compiled"] for run in runs[2:]] == [0, 0], runs
