"""What a virtualenv's .pth files and setuptools' editable finders add to sys.path, read as `site` reads them."""

from __future__ import annotations

from lambdatui.processes.site_paths import finder_paths, pth_paths


def test_a_pth_file_adds_its_folders_and_runs_no_import_line() -> None:
    text = "# a comment\n\n/tmp/project/src\nrelative\nimport _virtualenv\nimport\tsys\n/tmp/other  \n"
    assert pth_paths(text, "/venv/lib/python3.11/site-packages") == [
        "/tmp/project/src", "/venv/lib/python3.11/site-packages/relative", "/tmp/other"]


def test_a_setuptools_finder_maps_its_packages_to_their_folders() -> None:
    text = ("import sys\nMAPPING: dict[str, str] = {'mylib': '/tmp/project/mylib', 'rel': 'not/absolute'}\n"
            "NAMESPACES: dict[str, list[str]] = {}\n")
    assert finder_paths(text) == ["/tmp/project/mylib"]
    assert finder_paths("MAPPING = {'old': '/tmp/old/old'}\n") == ["/tmp/old/old"]
    assert finder_paths("MAPPING = {broken\n") == [] and finder_paths("nothing here") == []
