"""The platform's log lines, formatted exactly (lambda-spec §4.9, §4.5, §4.2)."""

from __future__ import annotations

import pytest

from lambdatui.core import platform_lines as pl
from lambdatui.model.facts import InvokeReported


def reported(**overrides) -> InvokeReported:
    fields = dict(request_id="4ce9340a-b765-490f-ad8a-02ab3415e2bf", duration_ms=26.73, billed_duration_ms=27,
                  memory_size_mb=128, max_memory_used_mb=75, init_duration_ms=None, status="success",
                  error_type=None)
    fields.update(overrides)
    return InvokeReported(**fields)


def test_start_and_end():
    assert pl.start("4ce9340a", "$LATEST") == "START RequestId: 4ce9340a Version: $LATEST"
    assert pl.start("4ce9340a", "7") == "START RequestId: 4ce9340a Version: 7"
    assert pl.end("4ce9340a") == "END RequestId: 4ce9340a"


def test_init_start_separates_version_and_arn_with_a_tab():
    assert pl.init_start("python:3.13.v14", "arn:aws:lambda:eu-south-1::runtime:abc") == (
        "INIT_START Runtime Version: python:3.13.v14\tRuntime Version ARN: arn:aws:lambda:eu-south-1::runtime:abc")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {},
            "REPORT RequestId: 4ce9340a-b765-490f-ad8a-02ab3415e2bf\tDuration: 26.73 ms\tBilled Duration: 27 ms\t"
            "Memory Size: 128 MB\tMax Memory Used: 75 MB\t",
            id="warm-success",
        ),
        pytest.param(
            dict(duration_ms=133.61, billed_duration_ms=214, max_memory_used_mb=31, init_duration_ms=80.0),
            "REPORT RequestId: 4ce9340a-b765-490f-ad8a-02ab3415e2bf\tDuration: 133.61 ms\tBilled Duration: 214 ms\t"
            "Memory Size: 128 MB\tMax Memory Used: 31 MB\tInit Duration: 80.00 ms\t",
            id="cold-init-duration-last",
        ),
        pytest.param(
            dict(duration_ms=133.61, billed_duration_ms=214, max_memory_used_mb=31, init_duration_ms=80.0,
                 status="error", error_type="Runtime.ExitError"),
            "REPORT RequestId: 4ce9340a-b765-490f-ad8a-02ab3415e2bf\tDuration: 133.61 ms\tBilled Duration: 214 ms\t"
            "Memory Size: 128 MB\tMax Memory Used: 31 MB\tInit Duration: 80.00 ms\tStatus: error\t"
            "Error Type: Runtime.ExitError\t",
            id="crash",
        ),
        pytest.param(
            dict(duration_ms=3016.784, billed_duration_ms=3101, max_memory_used_mb=31, init_duration_ms=84.0,
                 status="timeout"),
            "REPORT RequestId: 4ce9340a-b765-490f-ad8a-02ab3415e2bf\tDuration: 3016.78 ms\tBilled Duration: 3101 ms\t"
            "Memory Size: 128 MB\tMax Memory Used: 31 MB\tInit Duration: 84.00 ms\tStatus: timeout\t",
            id="timeout",
        ),
        pytest.param(
            dict(duration_ms=3000.0, billed_duration_ms=3000, status="timeout"),
            "REPORT RequestId: 4ce9340a-b765-490f-ad8a-02ab3415e2bf\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\t"
            "Memory Size: 128 MB\tMax Memory Used: 75 MB\tStatus: timeout\t",
            id="warm-timeout-no-init",
        ),
        pytest.param(
            dict(max_memory_used_mb=None, memory_size_mb=512),
            "REPORT RequestId: 4ce9340a-b765-490f-ad8a-02ab3415e2bf\tDuration: 26.73 ms\tBilled Duration: 27 ms\t"
            "Memory Size: 512 MB\tMax Memory Used: 512 MB\t",
            id="unknown-memory-use-shows-memory-size",
        ),
    ],
)
def test_report(overrides, expected):
    assert pl.report(reported(**overrides)) == expected


def test_report_fields_are_tab_separated_with_a_trailing_tab():
    line = pl.report(reported(init_duration_ms=1.5, status="error", error_type="Extension.Crash"))
    assert line.endswith("\t") and not line.endswith("\t\t")
    fields = line[:-1].split("\t")
    assert [field.split(":")[0] for field in fields] == [
        "REPORT RequestId", "Duration", "Billed Duration", "Memory Size", "Max Memory Used", "Init Duration",
        "Status", "Error Type"]


@pytest.mark.parametrize(
    ("duration", "phase", "status", "error_type", "expected"),
    [
        (1236.04, "init", "timeout", None, "INIT_REPORT Init Duration: 1236.04 ms\tPhase: init\tStatus: timeout"),
        (1236.04, "init", "error", "Extension.Crash",
         "INIT_REPORT Init Duration: 1236.04 ms\tPhase: init\tStatus: error\tError Type: Extension.Crash"),
        (12.0, "invoke", "error", "Runtime.ImportModuleError",
         "INIT_REPORT Init Duration: 12.00 ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ImportModuleError"),
        (0.004, "invoke", "timeout", None, "INIT_REPORT Init Duration: 0.00 ms\tPhase: invoke\tStatus: timeout"),
    ],
)
def test_init_report(duration, phase, status, error_type, expected):
    assert pl.init_report(duration, phase, status, error_type) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("python-example-extension", "Ready", ("INVOKE", "SHUTDOWN")),
         "EXTENSION\tName: python-example-extension\tState: Ready\tEvents: [INVOKE,SHUTDOWN]"),
        (("logs", "Ready", ("SHUTDOWN",)), "EXTENSION\tName: logs\tState: Ready\tEvents: [SHUTDOWN]"),
        (("quiet", "Ready", ()), "EXTENSION\tName: quiet\tState: Ready\tEvents: []"),
        (("bad", "LaunchError", ("INVOKE",), "Extension.LaunchError"),
         "EXTENSION\tName: bad\tState: LaunchError\tEvents: [INVOKE]\tError Type: Extension.LaunchError"),
    ],
)
def test_extension_line(args, expected):
    assert pl.extension(*args) == expected


@pytest.mark.parametrize(
    ("wall_ms", "expected"),
    [
        (1709572958033, "2024-03-04T17:22:38.033Z"),
        (1_700_000_000_000, "2023-11-14T22:13:20.000Z"),
        (1_700_000_000_005, "2023-11-14T22:13:20.005Z"),
        (1_700_000_000_999, "2023-11-14T22:13:20.999Z"),
    ],
)
def test_iso_time_has_milliseconds_and_z(wall_ms, expected):
    assert pl.iso_time(wall_ms) == expected


@pytest.mark.parametrize(
    ("timeout_s", "expected"),
    [
        (3.0, "2024-03-04T17:22:38.033Z b70435cc-1 Task timed out after 3.00 seconds"),
        (1.0, "2024-03-04T17:22:38.033Z b70435cc-1 Task timed out after 1.00 seconds"),
        (0.5, "2024-03-04T17:22:38.033Z b70435cc-1 Task timed out after 0.50 seconds"),
        (900.0, "2024-03-04T17:22:38.033Z b70435cc-1 Task timed out after 900.00 seconds"),
    ],
)
def test_task_timed_out(timeout_s, expected):
    assert pl.task_timed_out(1709572958033, "b70435cc-1", timeout_s) == expected


def test_request_error():
    assert pl.request_error("r-1", "Runtime exited without providing a reason") == (
        "RequestId: r-1 Error: Runtime exited without providing a reason")


@pytest.mark.parametrize(
    ("duration", "billed"),
    [(26.73, 27), (27.0, 27), (27.001, 28), (0.2, 1), (0.0, 1), (1.0, 1), (1.0000001, 2), (3016.78, 3017),
     (2999.999, 3000)],
)
def test_billed_duration_rounds_up_to_whole_ms_with_a_1_ms_minimum(duration, billed):
    assert pl.billed_ms(duration) == billed
