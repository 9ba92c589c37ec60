"""The pure layers stay pure: the core and model import no trio, quart, hypercorn or textual."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
        "lambdatui.model.facts.logs",
        "lambdatui.model.facts.lifecycle",
        "lambdatui.model.facts.reports",
        "lambdatui.model.facts.inspection",
        "lambdatui.model.facts.faults",
        "lambdatui.model.facts.sandbox_api",
        "lambdatui.model.snapshot",
        "lambdatui.model.debug_state",
        "lambdatui.model.phase_history",
        "lambdatui.model.invoke_compare",
        "lambdatui.model.api_traffic",
        "lambdatui.model.log_search",
        "lambdatui.model.tmp_file",
        "lambdatui.model.telemetry_records",
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


def test_invoke_and_serve_start_without_the_stack_parser() -> None:
    # Issue 9: its patterns are compiled as it loads (~0.4 ms of every start); only a stack dump needs them.
    loaded = _modules_after_import("lambdatui.cli", "lambdatui.headless", "lambdatui.runner", "lambdatui.api.server")
    assert "lambdatui.model.stacks" not in loaded
    assert "lambdatui.host.runtime_signals" in loaded  # what dumps stacks is there, and parses them when asked


def _undocumented_dataclasses(source: str) -> tuple[list[str], int]:
    """The dataclasses in `source` without a docstring (by name), and how many dataclasses it has in all."""
    import ast

    def is_dataclass(decorator: ast.expr) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return (isinstance(target, ast.Name) and target.id == "dataclass") or (
            isinstance(target, ast.Attribute) and target.attr == "dataclass")

    classes = [node for node in ast.walk(ast.parse(source))
               if isinstance(node, ast.ClassDef) and any(is_dataclass(d) for d in node.decorator_list)]
    return [c.name for c in classes if ast.get_docstring(c) is None], len(classes)


def test_the_docstring_check_can_see_an_undocumented_dataclass() -> None:
    # Guards the test below against passing vacuously: every form of the decorator is recognised.
    source = (
        "import dataclasses\nfrom dataclasses import dataclass\n"
        "@dataclass\nclass A:\n    x: int\n"
        "@dataclass(frozen=True)\nclass B:\n    '''Documented.'''\n"
        "@dataclasses.dataclass(slots=True)\nclass C:\n    x: int\n"
    )
    assert _undocumented_dataclasses(source) == (["A", "C"], 3)


def test_dataclasses_invoke_and_serve_import_have_docstrings() -> None:
    # Issue 9: for a dataclass without a docstring, Python (3.11) makes one at class creation from
    # inspect.signature(cls), ~0.05 ms a class (measured, 3.11.7): 83 of them cost every `invoke` and `serve`
    # ~4-6 ms of start-up. A docstring of our own documents the class and costs nothing.
    from pathlib import Path

    import lambdatui

    root = Path(lambdatui.__file__).parent
    loaded = _modules_after_import("lambdatui.cli", "lambdatui.headless", "lambdatui.api.server")
    undocumented: list[str] = []
    total = 0
    for name in sorted(m for m in loaded if m.startswith("lambdatui.")):
        path = root.joinpath(*name.split(".")[1:])
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        missing, count = _undocumented_dataclasses(path.read_text(encoding="utf-8"))
        undocumented += [f"{name}.{cls}" for cls in missing]
        total += count
    assert total > 100, f"only {total} dataclasses found: is the check still looking at the right modules?"
    assert not undocumented, f"{len(undocumented)} dataclasses without a docstring: {undocumented}"


def test_a_runtime_reaches_its_first_next_without_the_idna_codec(tmp_path) -> None:
    # Issue 9: ~1.4 ms of every Init. The Runtime API's address is ASCII, passed as bytes so the socket module needs
    # no IDNA codec. (decimal stays: awslambdaric imports it at start-up, which shadows a function's decimal.py.)
    import os
    import socket
    from pathlib import Path

    (tmp_path / "fn.py").write_text("def handler(event, context):\n    return event\n")
    bootstrap = Path(__file__).resolve().parents[1] / "lambdatui" / "bootstrap"
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(30)
        env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % server.getsockname()[1],
               "_HANDLER": "fn.handler", "LAMBDA_TASK_ROOT": str(tmp_path)}
        runtime = subprocess.Popen([sys.executable, "-X", "importtime", str(bootstrap)], cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            connection, _ = server.accept()
            with connection:
                connection.settimeout(30)
                assert connection.recv(4096).startswith(b"GET /2018-06-01/runtime/invocation/next ")
        finally:
            runtime.kill()
            _, imports = runtime.communicate(timeout=30)
    loaded = {line.rsplit("|", 1)[-1].strip() for line in imports.splitlines() if line.startswith("import time:")}
    assert "json" in loaded and "decimal" in loaded  # the record is there
    assert "encodings.idna" not in loaded


def _assert_invoke_never_imports(tmp_path, modules: tuple[str, ...]) -> None:
    """A real `lambdatui invoke` under an audit hook imports none of `modules`; the hook hears each when imported."""
    handler = tmp_path / "handler.py"
    handler.write_text("def handler(event, context):\n    return 1\n")
    watcher = (
        "import os, sys\n"
        f"WATCHED = {modules!r}\n"
        "def heard(event, args):\n"
        "    if event == 'import' and args[0] in WATCHED:\n"
        "        os.write(2, f'HEARD {event} {args[0]!r}\\n'.encode())\n"
        "sys.addaudithook(heard)\n"
    )
    invoke = (f"sys.argv = ['lambdatui', 'invoke', {str(handler)!r}, '-e', '{{}}']\n"
              "from lambdatui.entry import main\n"
              "raise SystemExit(main())\n")
    run = subprocess.run([sys.executable, "-c", watcher + invoke], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.strip() == "1", run.stderr[-2000:]
    assert "HEARD" not in run.stderr, run.stderr[-2000:]
    probe = subprocess.run([sys.executable, "-c", watcher + "".join(f"import {name}\n" for name in modules)],
                           capture_output=True, text=True, timeout=60)
    assert all(f"HEARD import {name!r}" in probe.stderr for name in modules), probe.stderr


def test_invoke_imports_no_zipfile_without_layers(tmp_path) -> None:
    # Issue 9: zipfile is for layers given as .zip archives; a start that has none does not import it (~4 ms here).
    _assert_invoke_never_imports(tmp_path, ("zipfile",))


NOT_FOR_INVOKE = (
    # the debugger's views
    "lambdatui.model.debug_state", "lambdatui.model.debug_snapshot", "lambdatui.model.timeline",
    "lambdatui.model.phase_history", "lambdatui.model.shared_init_values", "lambdatui.host.tmp_reader",
    "lambdatui.host.tmp_scanner", "lambdatui.model.tmp_tree", "lambdatui.model.globals_diff",
    # Managed Instances' rules
    "lambdatui.core.managed_environment", "lambdatui.core.managed_runtime_rules", "lambdatui.core.managed_invoke_rules",
)


def test_invoke_loads_neither_the_debuggers_views_nor_managed_instances(tmp_path) -> None:
    # Issue 9: `invoke` keeps no timeline, snapshot, globals or /tmp views (its session does not track), and its
    # environment takes one invoke at a time, so it does not import what makes them: ~30 classes and three rule
    # modules, ~4 % of its start (measured in instructions, valgrind).
    _assert_invoke_never_imports(tmp_path, NOT_FOR_INVOKE)


def test_the_runtime_bootstrap_imports_no_typing() -> None:
    """Its annotations are for the reader and the type checker: typing costs ~5 ms of every runtime's start, on
    `invoke`'s way to its first event (the function's own imports are its own)."""
    import lambdatui

    folder = str(Path(lambdatui.__file__).parent)
    code = (f"import sys; sys.path.insert(0, {folder!r})\n"
            "import bootstrap.loop, bootstrap.snapstart, bootstrap.workers, bootstrap.copy_namespace\n"
            "print(sorted({'typing', 'trio', 'lambdatui'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
