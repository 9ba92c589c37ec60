"""The debugger's notice when its lifecycle host stops: what stopped it, in words, not the repr of trio's nested
exception groups (a full disk under the state folder arrived three groups deep)."""

from __future__ import annotations

import sys

import pytest

from lambdatui.config_error import ConfigError
from lambdatui.ui.messages import BackendFailed

pytestmark = pytest.mark.skipif(sys.version_info < (3, 11), reason="builds exception groups with the builtin")


def test_the_first_error_inside_nested_groups_is_said_with_its_type() -> None:
    inner = OSError(28, "No space left on device")
    error = BaseExceptionGroup("outer", [ExceptionGroup("middle", [ExceptionGroup("inner", [inner])])])
    assert BackendFailed(error).reason == "OSError: [Errno 28] No space left on device"


def test_lambdatuis_own_one_line_error_is_its_message_alone() -> None:
    error = ExceptionGroup("run", [ConfigError("env #1 could not start: no space left, in the runs' folder /x")])
    assert BackendFailed(error).reason == "env #1 could not start: no space left, in the runs' folder /x"


def test_a_plain_error_without_a_message_is_its_type() -> None:
    assert BackendFailed(RuntimeError()).reason == "RuntimeError"
