"""README hunt (s67): the features of the latest commits as a new user meets them in README.md.

Walked through with the real CLI: layers at /opt (`--layer` and a SAM template's `AWS::Serverless::LayerVersion`),
the 250 MB size line, the credentials line, templates' "not applied" notes, idle shutdown (Ctrl-Z's stop not counted,
provisioned and SnapStart's snapshot kept), log tails, Managed Instances, SnapStart, `replay` and `--record`. Most of
it does what README says. Four findings, fixed in the same session (each test failed before):

- README says a template's layer with a local `ContentUri` is "a folder or a `.zip` archive, checked as `--layer`
  checks it", and that a `.zip` whose entry lies behind a symbolic link the archive makes "is refused before anything
  runs (exit 2)". `--layer` refused such a zip, one whose name is both a file and a folder, and a fifo named `.zip`;
  the template's layer reading (sam_template/layer_refs.py) checked only `is_zipfile`: the first two were "left out"
  with a `[lambdatui]` line and the function ran without its layer (exit 0), and the fifo hung lambdatui in
  processes/filesystem.py's `_extract_zip` on the event loop's thread, where SIGTERM could not stop it. Both doors
  now use layer_checks.layer_problem.
- README's `--env` row (options shared by every mode) says a `[lambdatui]` line at start names the AWS credentials the
  function's SDK calls will use. `invoke`, `serve` and the debugger printed it; `replay` did not (the note was
  published before the timeline's printer listens). It now goes to replay's stderr, as its sandbox notes do.

lambdatui's run folders go to tmp_path (XDG_STATE_HOME); the fifo's run is killed by run_cli's bound.
"""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from e2e_support import run_cli, write_file

HELLO = "def handler(event, context):\n    return {'ran': True}\n"


def _template_with_layer(code_dir: Path, content_uri: str) -> Path:
    write_file(code_dir / "src" / "app.py", HELLO)
    return write_file(code_dir / "template.yaml", f"""\
Transform: AWS::Serverless-2016-10-31
Resources:
  Lib:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: {content_uri}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.11
      CodeUri: src/
      Layers: [!Ref Lib]
""")


@pytest.fixture
def own_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def _symlinked_entry_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        link = zipfile.ZipInfo("lib")
        link.external_attr = (0o120777) << 16  # a symbolic link to /etc, made by the archive itself
        archive.writestr(link, "/etc")
        archive.writestr("lib/passwd", "written through the link\n")
    return path


def _file_and_folder_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("python", "a file\n")
        archive.writestr("python/m.py", "X = 1\n")
    return path


def test_layer_flag_refuses_the_same_zips(code_dir: Path, own_state: None) -> None:
    """The contrast the template's layers are held to: `--layer` refuses both zips before anything runs."""
    handler = write_file(code_dir / "fn" / "handler.py", HELLO)
    for layer in (_symlinked_entry_zip(code_dir / "linked.zip"), _file_and_folder_zip(code_dir / "dual.zip")):
        result = run_cli("invoke", str(handler), "--layer", str(layer), "-e", "{}")
        assert result.returncode == 2, result.stderr
        assert result.stdout == "", result.stdout


@pytest.mark.parametrize("make, refusal", [
    (lambda path: _symlinked_entry_zip(path), "lies behind its symbolic link 'lib'"),
    (lambda path: _file_and_folder_zip(path), "cannot be both a file and a folder"),
], ids=["entry-behind-its-own-link", "name-both-file-and-folder"])
def test_a_template_layer_zip_is_refused_as_layer_refuses_it(code_dir: Path, own_state: None, make: object,
                                                              refusal: str) -> None:
    """README 776: a template's layer is 'a folder or a `.zip` archive, checked as `--layer` checks it'; README 957:
    'A `.zip` whose entry lies behind a symbolic link the archive itself makes is refused before anything runs (exit
    2)', and so is one whose name is both a file and a folder. Through a template both were left out with a line, and
    the function ran without its layer (exit 0)."""
    make(code_dir / "lib.zip")  # type: ignore[operator]
    result = run_cli("invoke", str(_template_with_layer(code_dir, "lib.zip")), "-e", "{}")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "", result.stdout
    assert refusal in result.stderr, result.stderr


def test_a_template_layer_that_is_a_fifo_is_refused_without_hanging(code_dir: Path, own_state: None) -> None:
    """README 776: 'checked as `--layer` checks it' (`--layer` refuses a path that is neither a folder nor a regular
    file, a fifo named .zip included, before anything runs)."""
    template = _template_with_layer(code_dir, "lib.zip")
    os.mkfifo(code_dir / "lib.zip")
    try:
        result = run_cli("invoke", str(template), "-e", "{}", timeout=4)
    except subprocess.TimeoutExpired:  # run() has killed it (SIGKILL): it hung before any environment started
        pytest.fail("lambdatui still waited on the template layer's fifo after 4 s")
    assert result.returncode == 2, result.stderr
    assert result.stdout == "", result.stdout


def test_replay_says_which_aws_credentials_the_function_uses(code_dir: Path, tmp_path: Path, own_state: None,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """README 682 (`--env`, options shared by every mode): 'A `[lambdatui]` line at start says which of them the
    function's SDK calls will use: the access key (by its last four characters, never the secret) ...'."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAHUNTS67WXYZ")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    handler = write_file(code_dir / "handler.py", HELLO)
    invoked = run_cli("invoke", str(handler), "-e", "{}")
    assert invoked.returncode == 0, invoked.stderr
    assert "AWS credentials: the function's SDK calls use this shell's access key ...WXYZ" in invoked.stderr
    scenario = tmp_path / "one.toml"
    scenario.write_text("[[step]]\ninvoke = {}\nexpect = { response = { ran = true } }\n")
    replayed = run_cli("replay", str(handler), str(scenario))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    both = replayed.stdout + replayed.stderr
    assert "not-a-real-secret" not in both
    assert "AWS credentials: the function's SDK calls use this shell's access key ...WXYZ" in both, both
