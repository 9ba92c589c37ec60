"""Fixtures for the bootstrap tests; the harness itself is in bootstrap_harness.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap_harness import FakeRuntimeApi


@pytest.fixture
def api():
    server = FakeRuntimeApi().start()
    yield server
    server.stop()


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    d = tmp_path / "code"
    d.mkdir()
    return d
