"""A handler Lambda will fail to find gets a start-up note saying what was most likely meant; Lambda's own error
still comes at Init (the function runs as it would there)."""

from __future__ import annotations

from pathlib import Path

from lambdatui.config import handler_hint, resolve_function


def write(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("def handler(event, context):\n    return 1\n")
    return path


def test_a_file_name_given_as_the_handler_is_named_as_such(tmp_path: Path) -> None:
    write(tmp_path, "app.py")
    config = resolve_function(str(tmp_path), handler="app.py")
    assert [note for note in config.notes if "names a function 'py'" in note] == [
        "Handler 'app.py' names a function 'py' in module 'app': a handler is module.function (for app.py, "
        "e.g. app.handler), so Lambda will find no handler"]


def test_a_handler_file_with_a_dot_in_its_name_is_named_as_python_imports_it(tmp_path: Path) -> None:
    handler = write(tmp_path, "app.test.py")
    config = resolve_function(str(handler))
    assert config.handler == "app.test.handler"
    assert any("imports module 'app.test' as 'test' in a package 'app'" in note for note in config.notes), config.notes


def test_ordinary_handlers_get_no_note(tmp_path: Path) -> None:
    write(tmp_path, "app.py")
    (tmp_path / "pkg").mkdir()
    write(tmp_path / "pkg", "mod.py")
    assert handler_hint("app.handler", tmp_path) is None
    assert handler_hint("pkg.mod.handler", tmp_path) is None
    assert handler_hint("app.py", tmp_path / "pkg") is None  # no app.py there: nothing to say it was meant


def test_a_sub_package_handler_run_from_its_files_folder_names_the_codes_root(tmp_path: Path) -> None:
    # `lambdatui pkg/sub/mod.py --handler pkg.sub.mod.handler`: /var/task would be pkg/sub, where Lambda finds no pkg.
    folder = tmp_path / "pkg" / "sub"
    folder.mkdir(parents=True)
    handler = write(folder, "mod.py")
    config = resolve_function(str(handler), handler="pkg.sub.mod.handler")
    assert config.code_dir == folder  # the function runs as Lambda would run that folder (its error comes at Init)
    assert f"run lambdatui on {tmp_path}, the folder that holds pkg/" in "\n".join(config.notes), config.notes
    assert handler_hint("pkg.sub.mod.handler", tmp_path) is None  # run from the root: nothing to say
    assert handler_hint("mod.handler", folder) is None
