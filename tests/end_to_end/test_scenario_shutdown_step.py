"""An invoke after a `shutdown = true` step written without `env` (found by a bug hunt of hand-written scenarios).

With `env = 1` (what the debugger's `s` records), the environment spins down, leaves the fleet, and the next invoke
cold-starts a new one, as in Lambda. Without `env`, every environment is gone for good, as at lambdatui's own exit
(a scenario that checks SHUTDOWN's delivery), and later invokes are refused `Sandbox.Failure`; the help said "(default:
#1)" for it too, and the replay printed such a refusal as "the function returned an error (through the runtime's
/error)", though no runtime ran it. The help now says which, and the outcome line says no runtime ran it.
"""

from __future__ import annotations

from pathlib import Path

from e2e_support import run_cli, write_file

HANDLER = '''calls = 0


def handler(event, context):
    global calls
    calls += 1
    return {"calls": calls}
'''

STEPS = '''[[step]]
invoke = {{}}
expect = {{ response = {{ calls = 1 }}, cold = true }}

[[step]]
shutdown = true
{env}
[[step]]
invoke = {{}}
expect = {{ response = {{ calls = 1 }}, cold = true }}
'''


def test_an_invoke_after_a_shutdown_of_env_1_cold_starts_a_new_environment(code_dir: Path) -> None:
    """What the debugger records for `s`: this passes."""
    handler = write_file(code_dir / "handler.py", HANDLER)
    scenario = write_file(code_dir / "env1.toml", STEPS.format(env="env = 1\n"))
    done = run_cli("replay", str(handler), str(scenario))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "env #1 is shut down (SHUTDOWN spindown) and leaves the fleet" in done.stdout, done.stdout[-3000:]


def test_an_invoke_after_a_shutdown_step_without_env_is_refused_and_not_called_the_function_s_error(
        code_dir: Path) -> None:
    handler = write_file(code_dir / "handler.py", HANDLER)
    scenario = write_file(code_dir / "noenv.toml", STEPS.format(env=""))
    done = run_cli("replay", str(handler), str(scenario))
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr  # its expect.cold: the invoke never ran
    step3 = done.stdout.split("-- step 3/3")[1]
    assert "ERROR Sandbox.Failure: no runtime ran it; the caller was answered at once" in step3, step3
    assert "through the runtime's /error" not in step3, step3


def test_the_help_says_what_a_shutdown_step_without_env_does() -> None:
    said = run_cli("replay", "--help").stdout
    assert "every environment gone for good (later invokes" in said, said
    assert "acts on env #N only (default: #1), a shutdown too" in said, said
