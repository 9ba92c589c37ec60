"""A virtualenv under /tmp whose editable install (`pip install -e`) lies in another folder of /tmp: the function
imports the installed package inside lambdatui as it does on the host.

The virtualenv's interpreter is seen again in the private /tmp (sandbox.kept_folders), but what its `.pth` files add
to sys.path was not: the project an editable install names stayed hidden under the private /tmp, and the function's
`import` failed with Runtime.ImportModuleError (before /tmp was kept, it shared the host's /tmp and worked). Both
folders are made directly in /tmp and removed after: the test leaves the host's /tmp as it found it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from e2e_support import run_cli, write_file
from sandbox_support import expected_sandbox

IMPORTS_THE_LIBRARY = '''import editable_library


def handler(event, context):
    return editable_library.VALUE
'''


@pytest.fixture
def folders_in_tmp() -> Iterator[tuple[Path, Path]]:
    venv_folder = Path(tempfile.mkdtemp(prefix="lambdatui-test-venv-", dir="/tmp"))
    library = Path(tempfile.mkdtemp(prefix="lambdatui-test-library-", dir="/tmp"))
    try:
        yield venv_folder, library
    finally:
        shutil.rmtree(venv_folder, ignore_errors=True)
        shutil.rmtree(library, ignore_errors=True)


def test_a_package_installed_editable_from_another_folder_of_tmp_is_imported(
        code_dir: Path, folders_in_tmp: tuple[Path, Path]) -> None:
    if expected_sandbox(code_dir).mode != "mount-namespace":
        pytest.skip("no private /tmp here: the host's /tmp is the function's")
    venv_folder, library = folders_in_tmp
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv_folder / "venv")], check=True,
                   timeout=120, stdin=subprocess.DEVNULL)
    python = venv_folder / "venv" / "bin" / "python"
    write_file(library / "src" / "editable_library" / "__init__.py", 'VALUE = "imported from the editable install"\n')
    # What pip, setuptools, hatchling or uv write for an editable install of a src layout: the folder, on a line.
    (site_packages,) = (venv_folder / "venv" / "lib").glob("python*/site-packages")
    (site_packages / "__editable__.editable_library-0.1.pth").write_text(f"{library / 'src'}\n")
    handler = write_file(code_dir / "handler.py", IMPORTS_THE_LIBRARY)
    result = run_cli("invoke", str(handler), "--python", str(python))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "imported from the editable install", result.stdout + result.stderr
    (note,) = [line for line in result.stderr.splitlines() if "/tmp is the environment's own, but the host's " in line]
    assert str(library) in note and f"{library / 'src'}" in note, note  # said: seen, and why
    assert sorted(p.name for p in library.iterdir()) == ["src"], "the function wrote into the host's folder"
