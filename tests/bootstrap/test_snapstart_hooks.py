"""SnapStart without a template: hooks around GET /restore/next, their failures, and their absence (spec §1.7, §4.8).

The handler modules register hooks with AWS's snapshot_restore_py (the test extras install it) and note each call
with a request to the fake API's /test/ routes, so the order of hooks against /restore/next is the order of paths.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from bootstrap_harness import (
    BOOTSTRAP_DIR,
    FUNCTION_INIT_PATH,
    GLOBALS_PATH,
    INIT_ERROR_PATH,
    INSPECTION_PATH,
    NEXT_PATH,
    RESTORE_ERROR_PATH,
    RESTORE_NEXT_PATH,
    Event,
    response_path,
    run_bootstrap,
    write,
)

SNAP_START = {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}
ERROR_TYPE = "lambda-runtime-function-error-type"

needs_hooks_package = pytest.mark.skipif(
    importlib.util.find_spec("snapshot_restore_py") is None,
    reason="snapshot-restore-py is not installed (the test extras install it; or "
    "pip install /work/pkgs/snapshot_restore_py-1.0.0-py3-none-any.whl)",
)

# FAIL_AT names the hook that raises; every hook notes its call first.
HOOKS = """
import os, sys, urllib.request
from snapshot_restore_py import register_after_restore, register_before_snapshot

CALLS = []
FAIL_AT = os.environ.get("FAIL_AT")

def note(tag):
    CALLS.append(tag)
    urllib.request.urlopen("http://%s/test/%s" % (os.environ["AWS_LAMBDA_RUNTIME_API"], tag)).read()
    if tag == FAIL_AT:
        raise ValueError("hook %s failed" % tag)

@register_before_snapshot
def before_first():
    note("before-first")

def before_with_args(a, b=None):
    note("before-args-%s-%s" % (a, b))

register_before_snapshot(before_with_args, 1, b=2)

@register_after_restore
def after_first():
    note("after-first")

register_after_restore(lambda x, y=0: note("after-args-%s-%s" % (x, y)), "x", y=3)

def handler(event, context):
    return {"calls": CALLS, "snapstart_loaded": "_lambdatui_bootstrap.snapstart" in sys.modules}
"""

BEFORE = ["/test/before-args-1-2", "/test/before-first"]  # last registered runs first
AFTER = ["/test/after-first", "/test/after-args-x-3"]  # registration order


@needs_hooks_package
def test_hooks_run_around_restore_next_in_lambdas_order(api, code_dir):
    write(code_dir, "handler.py", HOOKS)
    run = run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1")], **SNAP_START)
    assert api.paths() == BEFORE + [RESTORE_NEXT_PATH] + AFTER + [NEXT_PATH, response_path("r1"), NEXT_PATH], run.stderr
    assert api.one(RESTORE_NEXT_PATH).method == "GET"
    assert api.one(response_path("r1")).json() == {
        "calls": ["before-args-1-2", "before-first", "after-first", "after-args-x-3"],
        "snapstart_loaded": True,
    }


@needs_hooks_package
def test_a_failed_before_snapshot_hook_is_an_init_error_and_exit_64(api, code_dir):
    write(code_dir, "handler.py", HOOKS)
    run = run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="never")],
                        FAIL_AT="before-args-1-2", **SNAP_START)
    assert run.returncode == 64, run.stderr
    # No further hook, no snapshot, no invoke.
    assert api.paths() == ["/test/before-args-1-2", INIT_ERROR_PATH]
    posted = api.one(INIT_ERROR_PATH)
    assert posted.headers[ERROR_TYPE] == "Runtime.BeforeSnapshotError"
    body = posted.json()
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "hook before-args-1-2 failed")
    assert body["requestId"] == ""
    assert any("in before_with_args" in frame for frame in body["stackTrace"])
    assert not any(str(BOOTSTRAP_DIR) in frame for frame in body["stackTrace"])
    assert "[ERROR] ValueError: hook before-args-1-2 failed\rTraceback (most recent call last):" in run.stdout


@needs_hooks_package
def test_a_failed_after_restore_hook_is_a_restore_error_and_exit_65(api, code_dir):
    write(code_dir, "handler.py", HOOKS)
    run = run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="never")],
                        FAIL_AT="after-first", **SNAP_START)
    assert run.returncode == 65, run.stderr
    assert api.paths() == BEFORE + [RESTORE_NEXT_PATH, "/test/after-first", RESTORE_ERROR_PATH]
    posted = api.one(RESTORE_ERROR_PATH)
    assert posted.method == "POST"
    assert posted.headers[ERROR_TYPE] == "Runtime.AfterRestoreError"
    assert posted.headers["content-type"] == "application/json"
    body = posted.json()
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "hook after-first failed")
    assert any("in after_first" in frame for frame in body["stackTrace"])
    assert "[ERROR] ValueError: hook after-first failed\r" in run.stdout


@needs_hooks_package
def test_a_failed_restore_next_is_reported_as_awslambdaric_does_and_exits_64(api, code_dir):
    write(code_dir, "handler.py", HOOKS)
    api.statuses[RESTORE_NEXT_PATH] = 500
    run = run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="never")], **SNAP_START)
    assert run.returncode == 64, run.stderr
    assert api.paths() == BEFORE + [RESTORE_NEXT_PATH, INIT_ERROR_PATH]  # no after-restore hook
    posted = api.one(INIT_ERROR_PATH)
    assert posted.headers[ERROR_TYPE] == "Runtime.BeforeSnapshotError"
    assert posted.json()["errorType"] == "RuntimeApiError"
    assert "restore/next" in posted.json()["errorMessage"]


@needs_hooks_package
def test_the_restore_phase_has_its_own_globals_report(api, code_dir):
    write(code_dir, "handler.py", HOOKS)
    run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1")],
                  LAMBDATUI_PRIVATE_API="1", LAMBDATUI_REPORT_GLOBALS="1", **SNAP_START)
    paths = [p for p in api.paths() if not p.startswith("/test/")]
    assert paths == [
        FUNCTION_INIT_PATH, INSPECTION_PATH, GLOBALS_PATH, RESTORE_NEXT_PATH, INSPECTION_PATH, GLOBALS_PATH,
        NEXT_PATH, response_path("r1"), INSPECTION_PATH, GLOBALS_PATH, NEXT_PATH,
    ]
    assert [r.json()["phase"] for r in api.find(GLOBALS_PATH)] == ["init", "restore", "invoke"]


PLAIN = """
import sys
def handler(event, context):
    return {"snapstart_loaded": "_lambdatui_bootstrap.snapstart" in sys.modules}
"""


def _interpreter_without_hooks_package() -> str:
    """The venv's base interpreter: the same Python without the venv's packages."""
    base = getattr(sys, "_base_executable", None)
    if not base or base == sys.executable:
        pytest.skip("no base interpreter outside the venv to run without snapshot_restore_py")
    probe = subprocess.run([base, "-c", "import snapshot_restore_py"], capture_output=True, timeout=30)
    if probe.returncode == 0:
        pytest.skip("%s has snapshot_restore_py too: cannot run the bootstrap without it" % base)
    return base


def test_without_the_hooks_package_restore_next_then_next(api, code_dir):
    python = _interpreter_without_hooks_package()
    write(code_dir, "handler.py", PLAIN)
    run = run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1")], python=python, **SNAP_START)
    assert api.paths() == [RESTORE_NEXT_PATH, NEXT_PATH, response_path("r1"), NEXT_PATH], run.stderr
    assert api.one(response_path("r1")).json() == {"snapstart_loaded": True}


def test_an_ordinary_init_never_loads_snapstart(api, code_dir):
    """The hot path pays nothing: no /restore/next, and the module is not even imported."""
    write(code_dir, "handler.py", PLAIN)
    run_bootstrap(api, code_dir, "handler.handler", [Event(request_id="r1")],
                  AWS_LAMBDA_INITIALIZATION_TYPE="on-demand")
    assert api.paths() == [NEXT_PATH, response_path("r1"), NEXT_PATH]
    assert api.one(response_path("r1")).json() == {"snapstart_loaded": False}
