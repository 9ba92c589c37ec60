"""Composition root of the debugger: the Textual app, with the trio host as a guest on its loop."""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Optional, Sequence

from lambdatui.config import FunctionConfig
from lambdatui.host.bridge import HostGuest
from lambdatui.host.fleet_host import FleetOptions
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.backend import OnError, OnReady, OnUpdate
from lambdatui.ui.themes import DEFAULT_THEME

# The debugger's heap is large (Textual's widget tree and caches, the kept log, the phases' history), and with
# CPython's default thresholds (700, 10, 10) a burst of output makes the collector scan it again and again:
# in a 100,000-line invoke, 8 full collections of ~80 ms each, keys waiting behind them. A young generation of
# 10,000 allocations makes every collection rarer; measured: 1.1 s of collecting -> 0.25 s, no full one.
GC_THRESHOLDS = (10_000, 10, 10)


def build_debugger(
    config: FunctionConfig,
    *,
    theme: str = DEFAULT_THEME,
    invoke_host: str = "127.0.0.1",
    invoke_port: Optional[int] = None,
    url_port: Optional[int] = None,
    record: Optional[Path] = None,
    handler_given: bool = False,
    function_path: Optional[str] = None,
    replay_options: Sequence[str] = (),
    event: Optional[bytes] = None,
    fleet: Optional[FleetOptions] = None,
    notes: Sequence[str] = (),
) -> LambdaTuiApp:
    """The debugger app with its trio host as a guest; with `record`, the session is written there on exit."""
    gc.set_threshold(*GC_THRESHOLDS)  # this process is the debugger's from here on
    recorder = None
    if record is not None:
        from lambdatui.scenario.record import Recorder

        recorder = Recorder(config, handler_given=handler_given, function_path=function_path,
                            scenario_path=str(record), options=replay_options)

    def make_backend(on_ready: OnReady, on_update: OnUpdate, on_error: OnError) -> HostGuest:
        # The recorder listens at the controller itself, not at the UI's keys: invokes that arrive on the
        # Invoke API (--port) never pass through the UI, and they belong in the recording all the same.
        setup = recorder.attach if recorder is not None else None
        return HostGuest(config, invoke_host=invoke_host, invoke_port=invoke_port, on_ready=on_ready,
                         on_update=on_update, on_error=on_error, setup=setup, fleet=fleet, url_port=url_port,
                         notes=notes)

    def write_recording() -> None:
        if recorder is not None and record is not None:
            record.write_text(recorder.to_toml(), encoding="utf-8")

    # The events/ folder the event editor offers and saves into: a SAM project keeps it beside its template.
    events_home = config.project_dir or config.code_dir
    app = LambdaTuiApp(make_backend, code_dir=events_home, theme=theme, on_exit=write_recording)
    if event is not None:
        app.event_text = event.decode()
        app.event_source = "--event"
    return app


def run_tui(config: FunctionConfig, *, record: Optional[Path] = None, function_path: Optional[str] = None,
            replay_options: Sequence[str] = (), **options: object) -> int:
    app = build_debugger(config, record=record, function_path=function_path, replay_options=replay_options,
                         **options)  # type: ignore[arg-type]
    result = app.run()
    backend = app.backend
    for text in backend.events_not_run if isinstance(backend, HostGuest) else ():
        print(f"lambdatui: {text}", file=sys.stderr)
    if record is not None:
        from lambdatui.scenario.record_lines import replay_command

        command = replay_command(function_path or str(config.code_dir), str(record), replay_options)
        print(f"lambdatui: recorded the session to {record} (replay it with '{command}')")
    return result or 0
