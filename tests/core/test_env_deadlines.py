"""Lambda-Runtime-Deadline-Ms and the INVOKE event's deadlineMs = invoke start + function timeout (lambda-spec §4.4)."""

from __future__ import annotations

import json

import pytest
from driver import Driver, ext

from lambdatui.core.effects import RUNTIME

@pytest.mark.parametrize(("mono0", "timeout_ms"), [
    (1000.0, 3000),
    (1000.25, 3000),
    (0.5, 1000),
    (123456.789, 900_000),
    pytest.param(5.2, 3000, id="5.2-3000-float-remaining-time-rounds-not-truncates"),
])
def test_fresh_invoke_deadline_is_wall_plus_timeout_for_runtime_and_extensions(mono0, timeout_ms):
    d = Driver(["ext-a"], mono0=mono0, timeout_ms=timeout_ms)
    d.cold_start({"ext-a": ("INVOKE",)})
    parked_rt, parked_ext = d.next_token[RUNTIME], d.next_token[ext("ext-a")]
    wall = d.wall_ms
    d.invoke()
    runtime_deadline = int(dict(d.reply(parked_rt).headers)["Lambda-Runtime-Deadline-Ms"])
    assert runtime_deadline == wall + timeout_ms
    assert json.loads(d.reply(parked_ext).body)["deadlineMs"] == runtime_deadline
