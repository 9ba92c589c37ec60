"""A function whose environment runs the listener extension (telemetry_listener.py, standard library only): it
subscribes as its LISTENER_CONFIG says, and writes every batch it receives to the environment's /tmp, read here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambdatui.config import FunctionConfig, resolve_function
from lambdatui.host.environment_host import EnvironmentHost
from sandbox_support import expected_sandbox

from e2e_support import write_file

LISTENER = Path(__file__).with_name("telemetry_listener.py")
NAME = "listener"


def listener_function(code_dir: Path, handler_source: str, **listener: Any) -> FunctionConfig:
    """The handler in `code_dir`, with the listener as its extension, configured by `listener`."""
    if expected_sandbox(code_dir).hosts_file is None:
        pytest.skip("no mount namespace here: sandbox.localdomain cannot resolve inside the environment")
    handler = write_file(code_dir / "handler.py", handler_source)
    (code_dir / "extensions").mkdir()
    write_file(code_dir / "extensions" / NAME, LISTENER.read_text(), executable=True)
    return resolve_function(str(handler), env_pairs=[f"LISTENER_CONFIG={json.dumps(listener)}"])


def received(host: EnvironmentHost) -> list[dict]:
    """The batches the listener received, as it wrote them (read before the environment's folder goes)."""
    assert host.sandbox is not None
    path = host.sandbox.tmp_dir / f"{NAME}.received"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def events(host: EnvironmentHost) -> list[dict]:
    return [event for batch in received(host) for event in batch["events"]]
