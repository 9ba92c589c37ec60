"""Which AWS credentials the function gets, said at start (lambda-spec §10.4: a local run passes the user's own
through where Lambda gives the execution role's, and says which profile or key)."""

from __future__ import annotations

from pathlib import Path

from lambdatui.host.launch import credentials_note

KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_an_access_key_is_told_by_its_last_four_characters_never_its_secret() -> None:
    said = credentials_note({}, {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
                                 "AWS_SESSION_TOKEN": "token", "AWS_PROFILE": "dev"})
    assert said is not None
    assert "...MPLE" in said and KEY not in said and SECRET not in said and "token" not in said
    assert "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN" in said
    assert "'dev'" not in said  # the SDKs take the key before the profile


def test_a_key_without_its_secret_is_no_credential_and_the_profile_is_told() -> None:
    said = credentials_note({}, {"AWS_ACCESS_KEY_ID": KEY, "AWS_PROFILE": "dev"})
    assert said is not None and "profile 'dev' (AWS_PROFILE, this shell's)" in said and KEY[-4:] not in said


def test_a_profile_set_for_the_function_wins_and_names_the_files_the_shell_chose(tmp_path: Path) -> None:
    shell = {"AWS_PROFILE": "dev", "AWS_CONFIG_FILE": str(tmp_path / "config")}
    said = credentials_note({"AWS_PROFILE": "ci"}, shell)
    assert said is not None
    assert "profile 'ci' (AWS_PROFILE, set for the function)" in said
    assert f"{tmp_path / 'config'} and ~/.aws/credentials" in said


def test_the_default_profile_is_told_only_where_its_files_are(tmp_path: Path) -> None:
    assert credentials_note({}, {"HOME": str(tmp_path)}) is None
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[default]\n")
    said = credentials_note({}, {"HOME": str(tmp_path)})
    assert said is not None and "default profile of ~/.aws/credentials," in said and "config" not in said
    assert credentials_note({}, {}) is None  # no HOME: no file the function could read
