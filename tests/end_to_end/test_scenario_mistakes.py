"""Mistakes a user makes writing a scenario by hand from the README, and what `lambdatui replay` says about them.
Found by a helper's bug hunt. README: "exits ... 2 for a malformed scenario (`FILE:LINE: message`)"; a fault that cannot
act says so (`refused`) rather than that it was injected."""

from __future__ import annotations

from pathlib import Path

from e2e_support import SAMPLES, run_cli, write_file

HANDLER = '''calls = 0


def handler(event, context):
    global calls
    calls += 1
    return {"calls": calls}
'''


def test_expect_each_on_a_single_invoke_says_why(code_dir: Path, tmp_path: Path) -> None:
    """The message ended with "makes no sense here: " and nothing after it: the reason was an empty string."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    scenario = write_file(tmp_path / "each.toml", "[[step]]\ninvoke = {}\nexpect.each = [{ cold = true }]\n")
    done = run_cli("replay", str(handler), str(scenario))
    assert done.returncode == 2, done.stdout + done.stderr
    line = done.stderr.strip()
    assert line.startswith(f"{scenario}:1: step 1: expect.each"), line
    assert not line.endswith(":"), line  # was: "... expect.each makes no sense here:"
    assert "parallel" in line, line  # expect.each is for a parallel step's invokes


def test_a_bad_signal_names_its_step(code_dir: Path, tmp_path: Path) -> None:
    """Every other mistake in a step starts with `step N:`; a bad signal's did not."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    scenario = write_file(tmp_path / "signal.toml",
                          '[[step]]\ninvoke = {}\n\n[[step]]\nfault = "crash"\nsignal = "SIGFOO"\n')
    done = run_cli("replay", str(handler), str(scenario))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().startswith(f"{scenario}:4: step 2: "), done.stderr


def test_a_raise_fault_a_custom_runtime_cannot_carry_out_is_not_reported_as_injected(tmp_path: Path) -> None:
    """Raising in the handler is done by lambdatui's Python runtime (the debugger's `r` says so). Against a custom
    runtime the replay printed `fault  raise Exception(...) in the handler`, then the invoke succeeded, and nothing
    said the fault never acted (an exit code, which only that runtime can take either, says so: "An exit code can
    only be injected into lambdatui's Python runtime; runtime gets SIGKILL instead")."""
    bootstrap = SAMPLES / "stream" / "bootstrap"  # a custom runtime, standard library only
    scenario = write_file(tmp_path / "raise.toml",
                          '[[step]]\nfault = "raise"\n\n[[step]]\ninvoke = { chunks = 1, pause_ms = 0 }\n')
    done = run_cli("replay", str(bootstrap), str(scenario))
    if done.returncode == 2:  # refused up front: fine, if it names the file and the fault
        assert done.stderr.startswith(f"{scenario}:") and "raise" in done.stderr, done.stderr
        return
    assert done.returncode == 0, done.stdout + done.stderr
    block = done.stdout.split("-- step 2/2")[0]
    assert "refused" in block or "Python runtime" in block, block  # was: only "fault  raise Exception(...)"


def test_telemetry_expected_from_an_extension_the_function_does_not_have_is_a_malformed_scenario(
        code_dir: Path, tmp_path: Path) -> None:
    """As a fault's target naming no participant is refused before any process starts (exit 2, `FILE:LINE:`), so
    should an expect.telemetry naming an extension the function does not launch: it was run, then failed (exit 1)
    with "telemetry never subscribed to the Telemetry or Logs API", as if the extension existed and misbehaved."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    scenario = write_file(tmp_path / "telemetry.toml",
                          '[[step]]\ninvoke = {}\n'
                          'expect.telemetry = { extension = "telemetry", types = ["platform.start"] }\n')
    done = run_cli("replay", str(handler), str(scenario))
    assert done.returncode == 2, done.stdout[-1500:] + done.stderr
    assert done.stderr.startswith(f"{scenario}:1: step 1:") and "telemetry" in done.stderr, done.stderr
    assert "INIT_START" not in done.stdout  # refused before any process started


def test_an_environment_never_started_is_not_counted_alive_nor_spun_down(code_dir: Path, tmp_path: Path) -> None:
    """`env = 2` on the first invoke starts env #2 for it ("a number passed over so is kept for the invoke that names
    it"). env #1 never ran Init, yet it counted among the environments alive (2 after one cold start) and, idle, was
    "shut down (SHUTDOWN spindown)" and counted in spun_down (2 spun down after one cold start)."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    scenario = write_file(tmp_path / "env2.toml", "\n".join([
        "[function]", "idle_shutdown = 1", "",
        "[[step]]", "invoke = {}", "env = 2", "expect = { cold = true, environments = 1, cold_starts = 1 }", "",
        "[[step]]", "pause = 2.5", "expect = { environments = 0, spun_down = 1 }", ""]))
    done = run_cli("replay", str(handler), str(scenario))
    assert done.returncode == 0, done.stdout[-2500:] + done.stderr[-1000:]


def test_a_fault_armed_for_a_point_no_later_step_reaches_is_said_to_have_never_fired(code_dir: Path,
                                                                                      tmp_path: Path) -> None:
    """A fault armed `at = "invoke.start"` in the last step passed silently: nothing said it never acted."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    scenario = write_file(tmp_path / "armed.toml", '[[step]]\ninvoke = {}\n\n[[step]]\nfault = "crash"\n'
                                                   'at = "invoke.start"\n')
    done = run_cli("replay", str(handler), str(scenario))
    assert done.returncode == 0, done.stdout[-1500:] + done.stderr
    assert "crash runtime (SIGKILL) at invoke.start: armed, never fired" in done.stdout, done.stdout[-1500:]
