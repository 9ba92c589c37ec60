"""Init failures: each is logged, posted to /runtime/init/error, and exits 1 (spec §6.2)."""

from __future__ import annotations

import pytest

from bootstrap_harness import BOOTSTRAP_DIR, INIT_ERROR_PATH, Event, run_bootstrap, write

MODULES = {
    "handler.py": "def handler(event, context):\n    return 1\n",
    "broken_syntax.py": "x = 1\ndef handler(event, context:\n    pass\n",
    "raises_at_import.py": "def setup():\n    raise RuntimeError('init boom')\nsetup()\n",
    "imports_missing.py": "import definitely_not_installed_xyz\n",
}

CASES = [
    pytest.param(
        "nomodule.handler", "Runtime.ImportModuleError",
        "Unable to import module 'nomodule': No module named 'nomodule'", id="missing-module",
    ),
    pytest.param(
        "imports_missing.handler", "Runtime.ImportModuleError",
        "Unable to import module 'imports_missing': No module named 'definitely_not_installed_xyz'",
        id="missing-dependency",
    ),
    pytest.param(
        "handler.nope", "Runtime.HandlerNotFound",
        "Handler 'nope' missing on module 'handler'", id="missing-function",
    ),
    pytest.param(
        "handler", "Runtime.MalformedHandlerName",
        "Bad handler 'handler': not enough values to unpack (expected 2, got 1)", id="malformed-name",
    ),
    pytest.param(
        "sys.handler", "Runtime.BuiltInModuleConflict",
        "Cannot use built-in module sys as a handler module", id="builtin-conflict",
    ),
    pytest.param("raises_at_import.handler", "RuntimeError", "init boom", id="exception-at-import"),
]


def _write_modules(code_dir):
    for name, source in MODULES.items():
        write(code_dir, name, source)


@pytest.mark.parametrize("handler, error_type, message", CASES)
def test_init_error_is_reported_and_exits_1(api, code_dir, handler, error_type, message):
    _write_modules(code_dir)
    run = run_bootstrap(api, code_dir, handler, [Event(request_id="never")])
    assert run.returncode == 1
    assert api.paths() == [INIT_ERROR_PATH], "no /next after a failed init"
    posted = api.one(INIT_ERROR_PATH)
    assert posted.headers["lambda-runtime-function-error-type"] == error_type
    assert posted.headers["content-type"] == "application/json"
    body = posted.json()
    assert body["errorType"] == error_type
    assert body["errorMessage"] == message
    assert body["requestId"] == ""
    assert "LAMBDA_WARNING: Unhandled exception." in run.stdout
    assert ("[ERROR] %s: %s\rTraceback (most recent call last):" % (error_type, message)) in run.stdout
    assert not any(str(BOOTSTRAP_DIR) in frame for frame in body["stackTrace"])


def test_exception_at_import_keeps_the_user_frames(api, code_dir):
    _write_modules(code_dir)
    run_bootstrap(api, code_dir, "raises_at_import.handler")
    trace = api.one(INIT_ERROR_PATH).json()["stackTrace"]
    path = code_dir / "raises_at_import.py"
    assert trace[-2:] == [
        '  File "%s", line 3, in <module>\n    setup()\n' % path,
        '  File "%s", line 2, in setup\n    raise RuntimeError(\'init boom\')\n' % path,
    ]


def test_syntax_error_has_awslambdaric_trace_shape(api, code_dir):
    _write_modules(code_dir)
    run = run_bootstrap(api, code_dir, "broken_syntax.handler")
    assert run.returncode == 1
    posted = api.one(INIT_ERROR_PATH)
    assert posted.headers["lambda-runtime-function-error-type"] == "Runtime.UserCodeSyntaxError"
    body = posted.json()
    assert body["errorMessage"].startswith("Syntax error in module 'broken_syntax': ")
    path = code_dir / "broken_syntax.py"
    assert body["stackTrace"] == ['  File "%s" Line 2\n    def handler(event, context:\n' % path]


def test_missing_handler_module_with_private_api_still_fails_cleanly(api, code_dir):
    run = run_bootstrap(api, code_dir, "nomodule.handler", LAMBDATUI_PRIVATE_API="1")
    assert run.returncode == 1
    assert api.paths() == ["/lambdatui/v1/function-init", INIT_ERROR_PATH]

