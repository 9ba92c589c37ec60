"""Composition root of the debugger: the Textual app, with the trio host as a guest on its loop."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from lambdatui.config import FunctionConfig
from lambdatui.host.bridge import BridgedController, HostGuest
from lambdatui.ui.app import LambdaTuiApp
from lambdatui.ui.backend import OnError, OnReady, OnUpdate
from lambdatui.ui.themes import DEFAULT_THEME


def build_debugger(
    config: FunctionConfig,
    *,
    theme: str = DEFAULT_THEME,
    invoke_host: str = "127.0.0.1",
    invoke_port: Optional[int] = None,
    record: Optional[Path] = None,
    handler_given: bool = False,
    event: Optional[bytes] = None,
) -> LambdaTuiApp:
    """The debugger app with its trio host as a guest; with `record`, the session is written there on exit."""
    recorder = None
    if record is not None:
        from lambdatui.scenario.record import Recorder

        recorder = Recorder(config, handler_given=handler_given)

    def make_backend(on_ready: OnReady, on_update: OnUpdate, on_error: OnError) -> HostGuest:
        def setup(controller: BridgedController) -> None:
            if recorder is not None:
                controller.subscribe(recorder.fact)

        return HostGuest(config, invoke_host=invoke_host, invoke_port=invoke_port, on_ready=on_ready,
                         on_update=on_update, on_error=on_error, setup=setup)

    def write_recording() -> None:
        if recorder is not None and record is not None:
            record.write_text(recorder.to_toml())

    app = LambdaTuiApp(make_backend, code_dir=config.code_dir, theme=theme,
                       record=recorder.command if recorder is not None else None, on_exit=write_recording)
    if event is not None:
        app.event_text = event.decode()
        app.event_source = "--event"
    return app


def run_tui(config: FunctionConfig, *, record: Optional[Path] = None, **options: object) -> int:
    result = build_debugger(config, record=record, **options).run()  # type: ignore[arg-type]
    if record is not None:
        print(f"lambdatui: recorded the session to {record} (replay it with 'lambdatui replay')")
    return result or 0
