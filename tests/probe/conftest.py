"""The probe tests' own fixtures: Textual runs on asyncio only (anyio's backend for the UI probes)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
