"""The headless modes say when a subscriber's listener does not take its telemetry: once when it starts failing, once
when it takes a batch again, never for each retry; the debugger and `replay` show every attempt themselves."""

from __future__ import annotations

import io

from lambdatui.host.console import ConsoleReporter, FleetConsoleReporter
from lambdatui.model import facts as f


def delivered(extension: str, error: str | None = None, attempt: int = 1) -> f.TelemetryDelivered:
    return f.TelemetryDelivered(extension, "telemetry", 3, 300, ("platform.start",), error, attempt)


def test_a_listener_that_refuses_is_said_once_then_once_again_when_it_takes() -> None:
    out = io.StringIO()
    report = ConsoleReporter(out)
    for fact in (delivered("obs"), delivered("obs", "connection refused"), delivered("obs", "connection refused", 2),
                 delivered("obs", "HTTP 500", 3), delivered("obs", attempt=4), delivered("obs")):
        report(fact)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("[lambdatui]")
    assert "extension obs was not taken by its listener (connection refused)" in lines[0], lines
    assert "extension obs is taken by its listener again" in lines[1]


def test_drops_are_said_unless_nobody_is_left_to_tell() -> None:
    out = io.StringIO()
    report = ConsoleReporter(out)
    report(f.TelemetryDropped("obs", 12, 4096))
    report(f.TelemetryDropped("obs", 5, 100, gone=True))
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "extension obs: 12 records dropped" in lines[0], lines


def test_serve_tells_each_environments_extension_apart() -> None:
    out = io.StringIO()
    report = FleetConsoleReporter(out)
    report(1, delivered("obs", "timed out"))
    report(2, delivered("obs", "timed out"))
    report(1, delivered("obs", "timed out", 2))
    lines = out.getvalue().splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["#1", "#2"], lines
