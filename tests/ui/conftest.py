"""Fixtures for the UI tests: the asyncio backend for Textual's `run_test`, and real snapshots.

The snapshots come from real runs of the sample functions (`snapshots.py`); each costs from a few
hundred milliseconds to a second, so they are taken once per session.
"""

from __future__ import annotations

import pytest

import snapshots
from lambdatui.model.boundaries import Boundary
from lambdatui.model.debug_snapshot import DebuggerSnapshot


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio only


@pytest.fixture(scope="session")
def cold_snapshot() -> DebuggerSnapshot:
    return snapshots.cold()


@pytest.fixture(scope="session")
def warm_snapshot() -> DebuggerSnapshot:
    return snapshots.warm_counter()


@pytest.fixture(scope="session")
def timeout_snapshot() -> DebuggerSnapshot:
    return snapshots.slow_timeout()


@pytest.fixture(scope="session")
def crash_snapshot() -> DebuggerSnapshot:
    return snapshots.crash_reset()


@pytest.fixture(scope="session")
def held_snapshot() -> DebuggerSnapshot:
    return snapshots.held_at(Boundary.INIT_FUNCTION)


@pytest.fixture(scope="session")
def mutations_snapshot() -> DebuggerSnapshot:
    return snapshots.mutations()
