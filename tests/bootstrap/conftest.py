"""Fixtures for the bootstrap tests; the harness itself is in bootstrap_harness.py.

`code_dir` (generated function code, outside /tmp) comes from tests/conftest.py.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from bootstrap_harness import FakeRuntimeApi


@pytest.fixture
def api() -> Iterator[FakeRuntimeApi]:
    """A scripted Runtime API on an ephemeral loopback port, stopped after the test."""
    server = FakeRuntimeApi().start()
    yield server
    server.stop()
