"""The code's folder and the layers against what Lambda takes unzipped (lambda-spec §10.1), counted on real files
(sparse: a file's size costs no disk)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from lambdatui.unzipped_size import MAX_UNZIPPED_BYTES, _unzipped, size_note

MB = 1024 * 1024


def sized(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as blob:
        blob.truncate(size)
    return path


def test_a_folder_at_the_limit_passes_and_one_byte_more_is_told(tmp_path: Path) -> None:
    code = tmp_path / "fn"
    sized(code / "handler.py", 100)
    sized(code / "data" / "a.bin", MAX_UNZIPPED_BYTES - 100)
    assert size_note(code, (), None) is None
    sized(code / "data" / "b.bin", 1)
    said = size_note(code, (), None)
    assert said is not None and said.startswith(f"Size: the code's folder {code} comes to more than 250 MB")


def test_the_layers_count_with_the_code_and_are_named(tmp_path: Path) -> None:
    code, layer = tmp_path / "fn", tmp_path / "layer"
    sized(code / "weights.bin", 60 * MB)
    sized(layer / "python" / "model.bin", 200 * MB)
    said = size_note(code, (layer,), None)
    assert said is not None and "and its 1 layer (200 MB unzipped) come to more than 250 MB" in said


def test_the_virtualenv_the_function_runs_in_is_left_out(tmp_path: Path) -> None:
    code = tmp_path / "project"
    sized(code / "handler.py", 100)
    venv = code / ".venv"
    sized(venv / "pyvenv.cfg", 10)
    sized(venv / "lib" / "torch.so", 900 * MB)
    assert size_note(code, (), str(venv / "bin" / "python")) is None
    said = size_note(code, (), "/usr/bin/python3")  # another interpreter: the folder is the project's own
    assert said is not None and "left out" not in said
    sized(code / "data.bin", 300 * MB)
    said = size_note(code, (), str(venv / "bin" / "python"))
    assert said is not None and f"(the virtualenv it runs in, {venv}, left out)" in said


def test_a_zip_layer_counts_what_it_unzips_to_from_its_listing(tmp_path: Path) -> None:
    layer = tmp_path / "layer.zip"
    with zipfile.ZipFile(layer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("python/a.py", "x" * 5000)
        archive.writestr("python/b.py", "y" * 3000)
    assert layer.stat().st_size < 1000 and _unzipped(layer, None, MAX_UNZIPPED_BYTES) == 8000


def test_a_walk_stops_once_past_its_budget_and_follows_no_link(tmp_path: Path) -> None:
    code = tmp_path / "fn"
    for index in range(3):
        sized(code / f"d{index}" / "x.bin", 10)
    (code / "outside").symlink_to(tmp_path.parent)  # a link to a folder is not walked, nor counted as one
    assert _unzipped(code, None, 1000) == 30
    assert _unzipped(code, None, 5) == 10  # stopped after the first folder, which passed the budget
