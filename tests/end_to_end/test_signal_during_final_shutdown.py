"""A signal during the shutdown that ends `invoke` (its invokes done) stops it at once (README: "A signal during that
shutdown (in `invoke` and `replay` too) stops it at once: every process is SIGKILLed without waiting out the budget,
... and lambdatui then ends killed by that signal").

Before, that shutdown took a first Ctrl-C as the start of a graceful stop: it cancelled the invokes (already done),
waited out the whole 2 s budget for an extension busy with its SHUTDOWN, and exited 0, as if no key had been pressed.
`replay` ends its steps the same way (StopNow.ending), and prints its final shutdown as `invoke` does.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from e2e_support import LambdatuiProcess, descendants, wait_all_gone
from test_no_orphans import kill_survivors
from test_second_signal import stubborn_function


@pytest.mark.parametrize("mode", ["invoke", "replay"])
@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_one_signal_during_the_final_shutdown_stops_it_at_once(
        code_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, number: int, mode: str) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    handler = stubborn_function(code_dir)  # its extension never leaves SHUTDOWN, and ignores SIGTERM
    if mode == "invoke":
        lambdatui = LambdatuiProcess("invoke", str(handler), "-e", "{}")
    else:
        scenario = code_dir / "one.toml"
        scenario.write_text('[[step]]\ninvoke = {}\nexpect.response = { ok = true }\n')
        lambdatui = LambdatuiProcess("replay", str(handler), str(scenario))
    tree: dict[int, int] = {}
    try:
        lambdatui.wait_for_line(r"got SHUTDOWN", timeout=30)  # the work is done: this is the final shutdown
        tree = descendants(lambdatui.proc.pid)
        lambdatui.signal(number)
        code = lambdatui.wait(timeout=30)
        output = lambdatui.output()
        assert "Traceback" not in output, output
        assert "were up: SIGKILLed" not in output, output  # it did not wait out the shutdown's budget
        assert code == -number, output
        if mode == "invoke":
            assert lambdatui.stdout.decode().splitlines() == ['{"ok": true}'], lambdatui.stdout  # its result stands
        assert wait_all_gone(tree, 10) == {}
        left = sorted(str(p.relative_to(state)) for p in state.rglob("*"))
        assert left in ([], ["lambdatui"]), left
    finally:
        lambdatui.close()
        kill_survivors(tree)
