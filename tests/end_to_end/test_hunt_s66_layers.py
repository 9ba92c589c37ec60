"""From a bug hunt (session 66): layers at /opt as a user builds them, through the real CLI.

What test_layers.py and test_layer_files_edges.py do not check: an extension a layer ships as a symbolic link into
/opt, a layer path that is neither a folder nor a regular file, the same layer named twice through a link, a zip's
odd entries (a directory entry alone, modes, links in bin/), and layer folders whose names hold an overlay option's
separators (`,` and `:`) with a native library loaded by name from /opt/lib. Everything is generated in `code_dir`.

Three found bugs, fixed in the same session: such a linked extension was never launched (its link was followed on
this machine, not in /opt), and a layer path that is a device was left out (the function ran without it), one that
is a fifo named .zip hung lambdatui: both are now refused before anything runs. So is a zip whose name is both a
file and a folder (its extraction failed, and the layer was left out).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from e2e_support import platform_lines, run_cli, write_file

PLAIN = "def handler(event, context):\n    return 'ran'\n"

# An external extension as AWS's samples ship one: the launcher in /opt/extensions/NAME execs the real program.
EXTENSION = '''#!/bin/sh
echo "started as $0"
exec "{python}" -S -c '
import json, os, sys, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
r = urllib.request.Request(api + "/register", data=json.dumps({{"events": ["SHUTDOWN"]}}).encode(),
                           headers={{"Lambda-Extension-Name": "linked"}}, method="POST")
ident = urllib.request.urlopen(r).headers["Lambda-Extension-Identifier"]
print("registered", flush=True)
urllib.request.urlopen(urllib.request.Request(api + "/event/next", headers={{"Lambda-Extension-Identifier": ident}}))
'
'''


def _zip_file(zf: zipfile.ZipFile, name: str, text: str, mode: int) -> None:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    zf.writestr(info, text)


def _zip_link(zf: zipfile.ZipFile, name: str, target: str) -> None:
    _zip_file(zf, name, target, 0o120777)


@pytest.mark.parametrize("shape", ["folder", "zip"])
def test_an_extension_linked_to_its_program_under_opt_is_launched(code_dir: Path, shape: str) -> None:
    """/opt/extensions/linked -> /opt/impl/ext.sh resolves in Lambda's /opt: Lambda starts it like any executable."""
    handler = write_file(code_dir / "fn" / "handler.py", PLAIN)
    script = EXTENSION.format(python=sys.executable)
    if shape == "folder":
        layer = code_dir / "layer"
        write_file(layer / "impl" / "ext.sh", script, executable=True)
        (layer / "extensions").mkdir()
        os.symlink("/opt/impl/ext.sh", layer / "extensions" / "linked")
    else:
        layer = code_dir / "layer.zip"
        with zipfile.ZipFile(layer, "w") as zf:
            _zip_file(zf, "impl/ext.sh", script, 0o100755)
            _zip_link(zf, "extensions/linked", "/opt/impl/ext.sh")
    result = run_cli("invoke", str(handler), "--layer", str(layer), "-e", "{}", timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "ran"
    assert "[linked]     started as /opt/extensions/linked" in result.stderr, result.stderr
    assert any(line.startswith("EXTENSION\tName: linked\tState: Ready") for line in platform_lines(result.stderr))


def test_a_layer_that_is_a_device_is_refused_before_anything_runs(code_dir: Path) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", PLAIN)
    result = run_cli("invoke", str(handler), "--layer", "/dev/null", "-e", "{}", timeout=30)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("order", [("python", "python/x.py"), ("python/x.py", "python")], ids=["file-first", "folder-first"])
def test_a_zip_whose_name_is_both_a_file_and_a_folder_is_refused_before_anything_runs(code_dir: Path,
                                                                                        order: tuple[str, str]) -> None:
    """Its extraction could only fail: the layer would be left out and the function run without it."""
    handler = write_file(code_dir / "fn" / "handler.py", PLAIN)
    layer = code_dir / "layer.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        for name in order:
            archive.writestr(name, "X = 1\n")
    result = run_cli("invoke", str(handler), "--layer", str(layer), "-e", "{}", timeout=30)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"lambdatui: --layer {layer}: its entry 'python/x.py' lies under its file 'python', so it cannot be extracted "
        "(a name cannot be both a file and a folder)"], result.stderr


def test_a_fifo_named_zip_is_refused_without_hanging(code_dir: Path) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", PLAIN)
    fifo = code_dir / "layer.zip"
    os.mkfifo(fifo)
    try:
        result = run_cli("invoke", str(handler), "--layer", str(fifo), "-e", "{}", timeout=5)
    except subprocess.TimeoutExpired:  # run() has killed it: nothing had started
        pytest.fail("lambdatui still waited on the fifo after 5 s")
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_same_layer_through_a_symbolic_link_is_attached_twice_and_refused(code_dir: Path) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", PLAIN)
    layer = code_dir / "layer"
    write_file(layer / "python" / "m.py", "X = 1\n")
    os.symlink(layer, code_dir / "alias")
    result = run_cli("invoke", str(handler), "--layer", str(layer), "--layer", str(code_dir / "alias"), "-e", "{}")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert f"layer {layer} is attached twice" in result.stderr, result.stderr


ODD_ZIP_READER = '''import os, subprocess


def handler(event, context):
    out = {}
    for path in ["/opt/onlydir", "/opt/bin/tool", "/opt/ro.txt"]:
        out[path] = oct(os.stat(path).st_mode)
    out["links"] = [os.readlink("/opt/bin/alias"), os.readlink("/opt/bin/abs")]
    out["run"] = [subprocess.run([name], capture_output=True, text=True).stdout.strip()
                  for name in ("tool", "alias", "abs")]
    return out
'''


def test_a_zips_directory_entry_modes_and_links_in_bin_are_kept(code_dir: Path) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", ODD_ZIP_READER)
    archive = code_dir / "odd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        directory = zipfile.ZipInfo("onlydir/")
        directory.create_system = 3
        directory.external_attr = (0o40755 << 16) | 0x10
        zf.writestr(directory, "")
        _zip_file(zf, "bin/tool", "#!/bin/sh\necho tool $0\n", 0o100750)
        _zip_link(zf, "bin/alias", "tool")
        _zip_link(zf, "bin/abs", "/opt/bin/tool")
        _zip_file(zf, "ro.txt", "x", 0o100444)
    result = run_cli("invoke", str(handler), "--layer", str(archive), "-e", "{}", timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "/opt/onlydir": "0o40755",
        "/opt/bin/tool": "0o100750",
        "/opt/ro.txt": "0o100444",
        "links": ["tool", "/opt/bin/tool"],
        "run": ["tool /opt/bin/tool", "tool /opt/bin/alias", "tool /opt/bin/abs"],
    }


LIB_READER = '''import ctypes, os


def handler(event, context):
    import commamod
    ctypes.CDLL("libhuntz.so")  # by name: found through LD_LIBRARY_PATH's /opt/lib
    return {"opt": sorted(os.listdir("/opt")), "module": commamod.__file__}
'''


def _a_shared_library() -> Path:
    for pattern in ("/lib/*/libz.so.1", "/usr/lib/*/libz.so.1", "/lib64/libz.so.1", "/usr/lib64/libz.so.1",
                    "/usr/lib/libz.so.1"):
        found = sorted(glob.glob(pattern))
        if found:
            return Path(found[0])
    pytest.skip("no libz.so.1 on this machine to ship as a layer's library")


def test_layers_named_with_a_comma_and_a_colon_merge_and_a_library_loads_by_name(code_dir: Path) -> None:
    handler = write_file(code_dir / "fn" / "handler.py", LIB_READER)
    odd = code_dir / "layer,v1:odd"
    write_file(odd / "python" / "commamod.py", "X = 1\n")
    libs = code_dir / "libs"
    (libs / "lib").mkdir(parents=True)
    shutil.copyfile(_a_shared_library(), libs / "lib" / "libhuntz.so")
    result = run_cli("invoke", str(handler), "--layer", str(odd), "--layer", str(libs), "-e", "{}", timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"opt": ["lib", "python"], "module": "/opt/python/commamod.py"}
    assert "not laid out" not in result.stderr
