"""The pure layers stay pure: the core and model import no trio, quart, hypercorn or textual."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("trio", "quart", "quart_trio", "hypercorn", "textual", "anyio", "h11")


def _modules_after_import(*modules: str) -> set[str]:
    code = (
        "import json, sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    return set(json.loads(out.stdout))


def test_core_and_model_import_no_io_framework() -> None:
    loaded = _modules_after_import(
        "lambdatui.core.environment",
        "lambdatui.core.platform_lines",
        "lambdatui.model.facts",
        "lambdatui.model.snapshot",
        "lambdatui.config",
    )
    leaked = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN)
    assert not leaked, f"pure layers pulled in {leaked}"


def test_the_hygiene_check_can_see_a_leak() -> None:
    # Guards the test above against passing vacuously.
    loaded = _modules_after_import("lambdatui.host.environment_host")
    assert "trio" in loaded


def test_bootstrap_imports_no_http_client_email_or_urllib() -> None:
    # Issue 9: they cost ~40 ms of the runtime's start-up and most of its CPU per invoke.
    loaded = _modules_after_import("lambdatui.bootstrap.loop")
    heavy = sorted(m for m in loaded if m.split(".")[0] in ("http", "email", "urllib", "ssl"))
    assert not heavy, f"the bootstrap pulled in {heavy}"


def test_headless_modes_import_no_ui_and_serve_starts_without_quart() -> None:
    # Issue 9: textual and pygments are the TUI's; quart (~160 ms of import) is loaded by the first request that
    # needs it, so `invoke` never pays for it and `serve` answers plain invokes before it is there.
    loaded = _modules_after_import("lambdatui.headless", "lambdatui.runner", "lambdatui.api.server")
    heavy = sorted(m for m in loaded if m.split(".")[0] in ("textual", "pygments", "quart", "quart_trio", "flask",
                                                              "werkzeug", "jinja2"))
    assert not heavy, f"a headless start pulled in {heavy}"
    assert "lambdatui.api.server" in loaded and "lambdatui.api.invoke_checks" in loaded


def test_invoke_and_serve_start_without_the_scenario_package() -> None:
    # Issue 9: parsing and comparing scenarios is replay's (and --record's, which imports it when asked); its
    # dataclasses cost `invoke` and `serve` ~20 ms of start-up.
    loaded = _modules_after_import("lambdatui.cli", "lambdatui.headless", "lambdatui.runner", "lambdatui.api.server")
    assert not sorted(m for m in loaded if m.startswith("lambdatui.scenario")), "a headless start parsed scenarios"
    assert "lambdatui.fleet_options" in loaded and "lambdatui.config" in loaded
