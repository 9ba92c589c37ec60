"""Probe: dataclass methods served from the on-disk cache (lambdatui/dataclass_cache.py, lambdatui/entry.py).

Real interpreters throughout: the `lambdatui` command (`python -m lambdatui`, the console script's entry) and small
scripts run as subprocesses, with the cache written under a PYTHONPYCACHEPREFIX inside pytest's tmp_path (so the
checkout's own __pycache__ is never touched). PYTHONDONTWRITEBYTECODE is removed where the file must be written.
A prefix starts with the bytecode of what the commands import and no cache file (warm_bytecode.py: what is probed is
the method cache, not Python's compiling of .pyc files).
"""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lambdatui.dataclass_cache import _HEADER, MethodCache

from probe_cache_path import checkout_cache_file
from warm_bytecode import seeded, warm_bytecode

__all__ = ["warm_bytecode"]  # the fixture, used by name

REPO = Path(__file__).resolve().parents[2]
BOUND = 60  # seconds, for each subprocess


def _env(prefix: Path, *, write: bool = True) -> dict[str, str]:
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(prefix), "PYTHONPATH": str(REPO)}
    if write:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _cache_file(prefix: Path) -> Path:
    """Where the command keeps the file for this checkout under `prefix` (as default_path decides it: asked in this
    process, probe_cache_path.py)."""
    path = checkout_cache_file(prefix)
    assert str(path).startswith(str(prefix)), path
    return path


def _lambdatui(prefix: Path, *args: str, write: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lambdatui", *args], capture_output=True, text=True,
                          env=_env(prefix, write=write), cwd=REPO, timeout=BOUND, stdin=subprocess.DEVNULL)


def _one_byte_corruption() -> bytes:
    """A cache body (marshalled dict of source -> code, as `save` writes it) with one byte zeroed such that
    marshal.loads raises SystemError (bit rot in a code object's slot): the first such byte, found by scanning."""
    source = "def __create_fn__(_type_x, _return_type):\n def __init__(self, x:_type_x)->_return_type:\n" \
             "  self.x=x\n return __init__"
    body = marshal.dumps({source: compile(source, "<string>", "exec", dont_inherit=True)})
    for index in range(len(body)):
        damaged = bytearray(body)
        damaged[index] = 0
        try:
            marshal.loads(bytes(damaged))
        except SystemError:
            return bytes(damaged)
        except Exception:
            continue
    pytest.skip("no single zeroed byte makes this Python's marshal raise SystemError")


# --------------------------------------------------------------------------- broken files


def test_a_cache_with_one_damaged_byte_is_compiled_past_in_process(tmp_path: Path) -> None:
    """The module's promise (and tests/test_dataclass_cache.py's): a broken file is compiled past. A file whose
    marshal data is damaged inside a code object makes marshal raise SystemError, which _load does not catch."""
    path = tmp_path / "dataclass-methods.marshal"
    path.write_bytes(_HEADER + _one_byte_corruption())
    cache = MethodCache(str(path))  # must not raise
    assert cache.stored == {}


def test_the_command_still_starts_with_a_damaged_cache_file(tmp_path: Path, warm_bytecode: Path) -> None:
    """Every `lambdatui` start reads the file before anything else: a damaged one must cost the cache, not the
    command (a crash there also means the file is never rewritten, so every later start fails the same way)."""
    prefix = seeded(tmp_path / "prefix", warm_bytecode)
    path = _cache_file(prefix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_HEADER + _one_byte_corruption())
    done = _lambdatui(prefix, "--help", write=False)  # even where bytecode is not written, the file is read
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage" in done.stdout.lower()


def test_a_file_with_the_right_header_but_another_layout_is_compiled_past(tmp_path: Path, warm_bytecode: Path) -> None:
    """The header names the interpreter build, not the file's layout: a file whose values are not code objects
    (another lambdatui version's layout, or damage that still unmarshals) must not reach exec()."""
    prefix = seeded(tmp_path / "prefix", warm_bytecode)
    first = _lambdatui(prefix, "--help")
    assert first.returncode == 0, first.stderr
    path = _cache_file(prefix)
    codes = MethodCache(str(path)).stored
    assert codes
    path.write_bytes(_HEADER + marshal.dumps({source: (code, 1) for source, code in codes.items()}))
    again = _lambdatui(prefix, "--help", write=False)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout == first.stdout


@pytest.mark.parametrize("cut", [len(_HEADER), len(_HEADER) + 1, 0.5, -1])
def test_a_truncated_file_is_compiled_past_and_rewritten_whole(tmp_path: Path, warm_bytecode: Path, cut: float) -> None:
    prefix = seeded(tmp_path / "prefix", warm_bytecode)
    first = _lambdatui(prefix, "--help")
    assert first.returncode == 0, first.stderr
    path = _cache_file(prefix)
    whole = path.read_bytes()
    at = int(len(whole) * cut) if isinstance(cut, float) else (cut if cut >= 0 else len(whole) + cut)
    path.write_bytes(whole[:at])
    again = _lambdatui(prefix, "--help")
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    reloaded = MethodCache(str(path))
    assert len(reloaded.stored) > 20  # the second start wrote the whole file again


def test_a_file_of_the_same_version_but_another_build_is_ignored(tmp_path: Path, warm_bytecode: Path) -> None:
    """Same version number, another build line in sys.version: its code objects are not used."""
    prefix = seeded(tmp_path / "prefix", warm_bytecode)
    path = _cache_file(prefix)
    path.parent.mkdir(parents=True, exist_ok=True)
    other = f"lambdatui dataclass methods\n{sys.version.split()[0]} (main, Jan  1 1970, 00:00:00) [Other]\n"
    assert other.encode() != _HEADER
    # Code that would break every class if it were used: each known text maps to a function returning None.
    poisoned = compile("def __create_fn__(*a, **k):\n return None", "<string>", "exec")
    path.write_bytes(other.encode() + marshal.dumps({"x": poisoned}))
    done = _lambdatui(prefix, "--help")
    assert done.returncode == 0, done.stderr
    assert path.read_bytes().startswith(_HEADER)  # rewritten for this build


# --------------------------------------------------------------------------- concurrent first runs

_RACER = textwrap.dedent("""
    import os, sys
    os.read(0, 1)  # the start line: every racer goes at once
    sys.argv = ["lambdatui", "--help"]
    from lambdatui import entry
    try:
        code = entry.main()
    except SystemExit as exit:
        code = exit.code
    sys.exit(code or 0)
""")


def test_concurrent_first_runs_leave_one_whole_file_and_no_temporaries(tmp_path: Path, warm_bytecode: Path) -> None:
    prefix = seeded(tmp_path / "prefix", warm_bytecode)
    racers = [subprocess.Popen([sys.executable, "-c", _RACER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=_env(prefix), cwd=REPO) for _ in range(6)]
    try:
        for racer in racers:
            assert racer.stdin is not None
            racer.stdin.write(b"g")
            racer.stdin.close()
            racer.stdin = None  # communicate() must not flush it again
        outputs = [racer.communicate(timeout=BOUND) for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()
    assert [racer.returncode for racer in racers] == [0] * len(racers), [err[-500:] for _, err in outputs]
    assert len({out for out, _ in outputs}) == 1
    path = _cache_file(prefix)
    siblings = sorted(p.name for p in path.parent.iterdir() if p.name.startswith("dataclass-methods"))
    assert siblings == [path.name]  # no "<file>.<pid>" temporary left by a racer
    assert len(MethodCache(str(path)).stored) > 20
    check = subprocess.run([sys.executable, "-c", "import json; from lambdatui import dataclass_cache as d; "
                            "c = d.install(); import lambdatui.cli; print(json.dumps(c.compiled))"],
                           capture_output=True, text=True, env=_env(prefix), cwd=REPO, timeout=BOUND)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout) == 0


def test_the_headless_invoke_writes_the_cache_once_and_rewrites_nothing_the_second_time(
        tmp_path: Path, warm_bytecode: Path) -> None:
    """`invoke` ends through os._exit (cli._exit_now), which must still save; a second identical run compiles
    nothing, so the file is not replaced (same inode, same bytes)."""
    prefix = seeded(tmp_path / "prefix", warm_bytecode)
    handler = REPO / "sample_functions" / "hello" / "handler.py"
    first = _lambdatui(prefix, "invoke", str(handler), "-e", "{}")
    assert first.returncode == 0, first.stderr
    path = _cache_file(prefix)
    assert path.is_file()
    before = (path.stat().st_ino, path.read_bytes())
    second = _lambdatui(prefix, "invoke", str(handler), "-e", "{}")
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert (path.stat().st_ino, path.read_bytes()) == before


# --------------------------------------------------------------------------- read-only package folder


def test_a_read_only_package_folder_costs_only_the_cache(tmp_path: Path) -> None:
    """A copy of the package on a read-only bind mount (root bypasses permission bits, so a real read-only
    mount): the command runs, prints the same, and nothing is left beside it."""
    import shutil

    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("unshare/mount not available")
    copy = tmp_path / "copy"
    shutil.copytree(REPO / "lambdatui", copy / "lambdatui", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    script = (f"mount --bind {copy} {copy} && mount -o remount,bind,ro {copy} && "
              f"{sys.executable} -m lambdatui --help")
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=BOUND)
    if done.returncode != 0 and ("mount" in done.stderr or "unshare" in done.stderr) and "usage" not in done.stdout.lower():
        pytest.skip(f"no read-only bind mount here: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr
    assert "usage" in done.stdout.lower()
    left = sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if "dataclass-methods" in p.name
                  or p.name == "__pycache__")
    assert left == []


# --------------------------------------------------------------------------- same classes either way

_CLASSES = textwrap.dedent('''
    import dataclasses, inspect, json, sys, typing
    from dataclasses import dataclass, field, InitVar, KW_ONLY
    if sys.argv[1] == "cache":
        from lambdatui import dataclass_cache
        cache = dataclass_cache.install(sys.argv[2])

    @dataclass(frozen=True)
    class Point:
        x: int
        y: int = 2
        tags: tuple = field(default_factory=tuple)

    @dataclass(frozen=True)
    class Other:  # the same field names and default structure as Point: the same method texts
        x: str
        y: str = "two"
        tags: tuple = field(default_factory=lambda: ("fresh",))

    @dataclass(order=True, unsafe_hash=True)
    class Version:
        major: int
        minor: int = 0
        label: str = field(default="", compare=False, repr=False)

    @dataclass
    class Base:
        a: int
        b: list = field(default_factory=list)
        def __post_init__(self):
            self.b.append(self.a * 10)

    @dataclass
    class Child(Base):
        c: str = "c"
        total: int = field(init=False)
        scale: InitVar[int] = 3
        kind: typing.ClassVar[str] = "child"
        def __post_init__(self, scale):
            super().__post_init__()
            self.total = self.a * scale

    @dataclass(kw_only=True)
    class Options:
        verbose: bool = False
        level: int

    @dataclass
    class Mixed:
        first: int
        _: KW_ONLY
        second: int = 5

    @dataclass(slots=True, frozen=True)
    class Slotted:
        name: str
        weight: float = 1.5

    @dataclass(eq=False)
    class Identity:
        value: int

    @dataclass(match_args=False, repr=False)
    class Quiet:
        z: int

    @dataclass
    class Node:
        name: str
        children: list = field(default_factory=list)
        parent: "typing.Optional[Node]" = None

    def sig(fn):
        try:
            return repr(fn())
        except Exception as exc:
            return type(exc).__name__ + ": " + str(exc)

    out = {}
    p, q = Point(1), Point(1)
    o = Other("a")
    out["point"] = [repr(p), p == q, p == Point(1, 3), hash(p) == hash(q), p.tags == q.tags,
                    sig(lambda: setattr(p, "x", 5)), sig(lambda: delattr(p, "y")), sig(lambda: Point()),
                    sig(lambda: Point(1, 2, [], 4)), str(inspect.signature(Point)), Point.__init__.__qualname__,
                    repr(Point.__init__.__annotations__), Point.__init__.__defaults__[0], Point.__doc__,
                    Point.__match_args__]
    out["other"] = [repr(o), o.tags, o.y, Other.__init__.__qualname__, repr(Other.__init__.__annotations__),
                    sig(lambda: setattr(o, "y", "3"))]
    v = [Version(1, 2, "b"), Version(1, 2, "a"), Version(0, 9)]
    out["version"] = [repr(v[0]), v[0] == v[1], hash(v[0]) == hash(v[1]), sorted(v) == [v[2], v[0], v[1]],
                      v[2] < v[0], v[0] <= v[1], v[0] > v[2], sig(lambda: v[0] < 3), sig(lambda: v[0] < (1, 3))]
    c = Child(2)
    out["child"] = [repr(c), c.b, c.total, sig(lambda: Child(2, [], "x", 9)), str(inspect.signature(Child)),
                    sig(lambda: Child(1, total=3)), "scale" in c.__dict__, Child.kind,
                    [f.name for f in dataclasses.fields(Child)]]
    out["options"] = [sig(lambda: Options(level=1)), sig(lambda: Options(True, 1)), sig(lambda: Options()),
                      str(inspect.signature(Options))]
    out["mixed"] = [sig(lambda: Mixed(1, second=2)), sig(lambda: Mixed(1, 2)), Mixed.__match_args__]
    s = Slotted("n")
    out["slotted"] = [repr(s), hasattr(s, "__dict__"), Slotted.__slots__, sig(lambda: setattr(s, "name", "m")),
                      hash(s) == hash(Slotted("n")), sig(lambda: dataclasses.replace(s, weight=2.0))]
    i = Identity(1)
    out["identity"] = [i == Identity(1), i == i, Identity.__hash__ is object.__hash__]
    out["quiet"] = [repr(Quiet(1)).startswith("<__main__.Quiet object"), hasattr(Quiet, "__match_args__")]
    n = Node("root")
    n.children.append(Node("leaf", parent=n))
    out["node"] = [repr(n), n == Node("root", [Node("leaf", parent=n)])]
    out["asdict"] = [dataclasses.asdict(Point(1)), dataclasses.astuple(Version(3, 4, "l"))]
    if sys.argv[1] == "cache":
        out["compiled"] = cache.compiled
        cache.save()
    print(json.dumps(out, default=repr, sort_keys=True))
''')


def test_classes_from_cached_code_behave_exactly_as_freshly_compiled_ones(tmp_path: Path, warm_bytecode: Path) -> None:
    script = tmp_path / "classes.py"
    script.write_text(_CLASSES)
    cache_path = tmp_path / "cache" / "dataclass-methods.marshal"
    prefix = seeded(tmp_path / "prefix", warm_bytecode)

    def run(*args: str) -> dict:
        out = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                             env=_env(prefix), cwd=tmp_path, timeout=BOUND)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    fresh = run("plain")
    first = run("cache", str(cache_path))
    # At least a text for each class with its own (Point's and Other's are one): up to Python 3.12 one a method
    # (and the shapes dataclass_replay.py keeps), from 3.13 one for all of a class's methods (one `exec` a class).
    assert first.pop("compiled") >= 10
    assert cache_path.is_file()
    cached = run("cache", str(cache_path))
    assert cached.pop("compiled") == 0  # every method of every class came from the file
    assert first == fresh
    assert cached == fresh
