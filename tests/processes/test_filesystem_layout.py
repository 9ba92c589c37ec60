"""/var/task and /opt as Lambda lays them out (issue 11): real mounts in the environment's namespace, real processes.

Every folder lives in pytest's tmp_path (the environment's state) or in a `code_dir` (the function's code and its
layers, which must not lie under /tmp): nothing is left on the host.
"""

from __future__ import annotations

import errno
import os
import zipfile
from pathlib import Path

import pytest
import trio
from proc_helpers import PY, running, spec

from lambdatui.model.paths import OPT, TASK_ROOT, SandboxPaths, host_path, sandbox_path
from lambdatui.processes import Sandbox
from lambdatui.processes.filesystem import FunctionFiles, extract_layers, layer_extensions, merged_folder

READ_BACK = """
import os, sys
def attempt(path):
    try:
        with open(path, "w") as fh:
            fh.write("x")
        return "written"
    except OSError as exc:
        return f"errno {exc.errno}"
for path in sys.argv[1:]:
    print(path, attempt(path), flush=True)
print("cwd", os.getcwd())
"""


def _layer(root: Path, name: str, files: dict[str, str]) -> Path:
    folder = root / name
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


@pytest.fixture
def env_dir(tmp_path: Path) -> Path:
    (tmp_path / "env" / "tmp").mkdir(parents=True)
    return tmp_path / "env"


def _sandbox(env_dir: Path, code: Path, layers: tuple[Path, ...] = ()) -> Sandbox:
    files = FunctionFiles(code, layers, env_dir.parent / "merged")
    sandbox = Sandbox.create(env_dir / "tmp", [PY, str(code)], files=files)
    if sandbox.layout is None:
        pytest.skip(f"this machine cannot lay out /var/task and /opt: {sandbox.files_note}")
    return sandbox


async def _run(sandbox: Sandbox, argv: list[str], cwd: str = TASK_ROOT) -> list[str]:
    with trio.fail_after(15):
        async with running(sandbox) as (sup, rec):
            handle = sup.spawn(spec(argv, cwd=cwd))
            status = await rec.wait_exit(handle)
    assert status.describe() == "exit status 0", rec.lines()
    return rec.lines("runtime", "stdout")


@pytest.mark.trio
async def test_code_is_read_only_at_var_task_and_the_rest_of_var_stays_visible(env_dir: Path, code_dir: Path) -> None:
    (code_dir / "handler.py").write_text("# the function\n")
    sandbox = _sandbox(env_dir, code_dir)
    assert sandbox.files_note is None
    assert sandbox.paths == SandboxPaths(str(code_dir), TASK_ROOT, (), OPT)
    script = READ_BACK + "print('handler', open('/var/task/handler.py').read().strip())\n" \
                         "print('opt', os.listdir('/opt'))\n"
    lines = await _run(sandbox, [PY, "-S", "-c", script, "/var/task/new.txt", "/var/task/handler.py",
                                 "/opt/new.txt", "/var/new.txt", "/tmp/ok.txt"])
    erofs = f"errno {errno.EROFS}"
    assert lines[:5] == [f"/var/task/new.txt {erofs}", f"/var/task/handler.py {erofs}", f"/opt/new.txt {erofs}",
                         f"/var/new.txt {erofs}", "/tmp/ok.txt written"]
    assert "cwd /var/task" in lines
    assert "handler # the function" in lines
    assert "opt []" in lines  # no layers: an empty /opt, as in Lambda
    assert not (code_dir / "new.txt").exists()
    assert (env_dir / "tmp" / "ok.txt").read_text() == "x"


@pytest.mark.trio
async def test_host_var_is_seen_beneath_the_overlay(env_dir: Path, code_dir: Path) -> None:
    sandbox = _sandbox(env_dir, code_dir)
    host = sorted(os.listdir("/var"))
    lines = await _run(sandbox, [PY, "-S", "-c", "import os; print(sorted(os.listdir('/var')))"])
    assert lines == [repr(sorted({*host, "task"}))]


@pytest.mark.trio
async def test_layers_merge_at_opt_a_later_layers_file_wins(env_dir: Path, code_dir: Path) -> None:
    first = _layer(code_dir, "first", {"python/shared.py": "WHO = 'first'\n", "python/only_first.py": "X = 1\n",
                                       "bin/tool": "#!/bin/sh\necho first tool\n"})
    second = _layer(code_dir, "second", {"python/shared.py": "WHO = 'second'\n", "lib/libdemo.txt": "lib\n"})
    sandbox = _sandbox(env_dir, code_dir / "first", (first, second))
    script = ("import os\n"
              "print(open('/opt/python/shared.py').read().strip())\n"
              "print(sorted(os.listdir('/opt')))\n"
              "print(sorted(os.listdir('/opt/python')))\n")
    lines = await _run(sandbox, [PY, "-S", "-c", script])
    assert lines == ["WHO = 'second'", "['bin', 'lib', 'python']", "['only_first.py', 'shared.py']"]
    lines = await _run(sandbox, [PY, "-S", "-c", READ_BACK, "/opt/python/shared.py", "/opt/bin/new"])
    assert lines[:2] == [f"/opt/python/shared.py errno {errno.EROFS}", f"/opt/bin/new errno {errno.EROFS}"]
    assert (second / "python" / "shared.py").read_text() == "WHO = 'second'\n"


@pytest.mark.trio
async def test_one_layer_is_bound_read_only(env_dir: Path, code_dir: Path) -> None:
    only = _layer(code_dir, "only", {"python/mod.py": "A = 1\n"})
    sandbox = _sandbox(env_dir, code_dir, (only,))
    lines = await _run(sandbox, [PY, "-S", "-c", READ_BACK + "print(open('/opt/python/mod.py').read().strip())",
                                 "/opt/python/mod.py"])
    assert lines[0] == f"/opt/python/mod.py errno {errno.EROFS}"
    assert "A = 1" in lines


@pytest.mark.trio
async def test_an_extension_from_a_layer_starts_as_opt_extensions_name(env_dir: Path, code_dir: Path) -> None:
    layer = _layer(code_dir, "layer", {"extensions/ext": "#!/bin/sh\necho \"$0 from $(pwd)\"\n"})
    (layer / "extensions" / "ext").chmod(0o755)
    found = layer_extensions((layer,))
    sandbox = _sandbox(env_dir, code_dir, (layer,))
    assert sandbox.paths is not None
    argv0 = sandbox_path(str(found["ext"]), sandbox.paths)
    assert argv0 == "/opt/extensions/ext"
    assert await _run(sandbox, [argv0]) == ["/opt/extensions/ext from /var/task"]


def test_layer_extensions_a_later_layers_file_replaces_an_earlier_ones(code_dir: Path) -> None:
    first = _layer(code_dir, "a", {"extensions/one": "", "extensions/two": "", "extensions/sub/not-one": ""})
    second = _layer(code_dir, "b", {"extensions/two": ""})
    assert layer_extensions((first, second)) == {"one": first / "extensions" / "one",
                                                 "two": second / "extensions" / "two"}


def test_zip_layers_are_extracted_with_their_permissions(code_dir: Path, tmp_path: Path) -> None:
    archive = code_dir / "layer.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("extensions/ext")
        info.external_attr = (0o100755 << 16)
        zf.writestr(info, "#!/bin/sh\necho hi\n")
        zf.writestr("python/mod.py", "A = 1\n")
    folders, problems = extract_layers((code_dir, archive), tmp_path / "layers")
    assert problems == []
    assert folders[0] == code_dir
    assert os.access(folders[1] / "extensions" / "ext", os.X_OK)
    assert (folders[1] / "python" / "mod.py").read_text() == "A = 1\n"
    broken = code_dir / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really")
    folders, problems = extract_layers((broken,), tmp_path / "more")
    assert folders == () and "could not be extracted" in problems[0]


def test_without_a_namespace_the_real_folders_are_used_and_said(env_dir: Path, code_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    first = _layer(code_dir, "first", {"python/shared.py": "1", "python/a.py": ""})
    second = _layer(code_dir, "second", {"python/shared.py": "2"})
    monkeypatch.setattr("lambdatui.processes.namespaces.namespace_support", lambda tmp, writable=(), kept=(): (None, "not here"))
    sandbox = Sandbox.create(env_dir / "tmp", [PY], files=FunctionFiles(code_dir, (first, second),
                                                                         env_dir.parent / "merged"))
    assert sandbox.layout is None and sandbox.paths is not None
    merged = env_dir.parent / "merged"
    assert sandbox.paths == SandboxPaths(str(code_dir), str(code_dir), (str(first), str(second)), str(merged))
    assert (merged / "python" / "shared.py").read_text() == "2"
    assert (merged / "python" / "a.py").exists()
    note = sandbox.files_note or ""
    assert note.startswith("/var/task and /opt are not laid out as in Lambda (no private mount namespace here)")
    assert f"runs from {code_dir} (LAMBDA_TASK_ROOT), which it can write to" in note
    assert f"its layers are read from {merged}, not /opt" in note
    assert "\n" not in note
    # A frame in the merged folder is the layer file that provides it.
    assert host_path(str(merged / "python" / "a.py"), sandbox.paths) == str(first / "python" / "a.py")


def test_an_interpreter_under_opt_keeps_the_real_paths(env_dir: Path, code_dir: Path) -> None:
    sandbox = Sandbox.create(env_dir / "tmp", ["/opt/python3/bin/python3"], files=FunctionFiles(code_dir))
    assert sandbox.layout is None
    assert sandbox.files_note is not None
    assert "(/opt/python3/bin/python3 lies under /opt, which the layout would hide)" in sandbox.files_note


def test_merged_folder_of_one_layer_is_that_layer(code_dir: Path, tmp_path: Path) -> None:
    assert merged_folder((code_dir,), tmp_path / "m") == code_dir
    assert merged_folder((), tmp_path / "m") is None
    assert not (tmp_path / "m").exists()


@pytest.mark.filterwarnings("ignore:Duplicate name")  # the link and then a file of the same name, on purpose
@pytest.mark.parametrize("through", ["a folder", "the file itself"])
def test_a_zip_layer_cannot_write_through_its_own_symbolic_link(code_dir: Path, tmp_path: Path, through: str) -> None:
    # A link to a folder outside, then a file under the link's name: extracting it must not write the host's files.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("kept\n")
    archive = code_dir / "layer.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("python" if through == "a folder" else "python/victim")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, str(outside) if through == "a folder" else str(outside / "victim"))
        zf.writestr("python/victim", "overwritten\n")
    folders, problems = extract_layers((archive,), tmp_path / "layers")
    assert (outside / "victim").read_text() == "kept\n"
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert folders == () and "lies behind its symbolic link" in problems[0], problems


def test_a_zip_layers_links_inside_it_are_kept(code_dir: Path, tmp_path: Path) -> None:
    archive = code_dir / "layer.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("lib/libfoo.so.1", "ELF\n")
        link = zipfile.ZipInfo("lib/libfoo.so")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "libfoo.so.1")
        zf.writestr("lib/other.so", "ELF\n")
    (folder,), problems = extract_layers((archive,), tmp_path / "layers")
    assert problems == []
    assert os.readlink(folder / "lib" / "libfoo.so") == "libfoo.so.1"
    assert (folder / "lib" / "libfoo.so").read_text() == "ELF\n"


@pytest.mark.parametrize("inner_first", [False, True])
def test_a_layer_inside_another_is_refused_by_name_whichever_comes_first(tmp_path: Path, inner_first: bool) -> None:
    """overlayfs refuses lower folders nested in one another (ELOOP); the layout says which lies inside which, also
    where the inner one is reached through a symbolic link."""
    from lambdatui.processes.filesystem import layout_obstacle

    outer = tmp_path / "outer"
    (outer / "inner").mkdir(parents=True)
    (tmp_path / "link").symlink_to(outer / "inner")
    code = tmp_path / "code"
    code.mkdir()
    inner = tmp_path / "link"  # the inner layer, named through a link from outside the outer one
    layers = (inner, outer) if inner_first else (outer, inner)
    reason = layout_obstacle(FunctionFiles(code, layers), [str(code / "handler.py")], tmp_path / "state")
    assert reason == f"layer {inner} lies inside layer {outer}, and /opt cannot merge a folder with one inside it"
    assert layout_obstacle(FunctionFiles(code, (outer, tmp_path / "code")), [], tmp_path / "state") is None
