"""Every input the core accepts has exactly one handler: `Environment.handle` dispatches on the input's name."""

from __future__ import annotations

import typing

from lambdatui.core.environment import Environment
from lambdatui.core.inputs import Input


def test_every_input_has_exactly_one_handler() -> None:
    for kind in typing.get_args(Input):
        name = f"_on_{kind.__name__}"
        owners = [cls.__name__ for cls in Environment.__mro__ if name in vars(cls)]
        assert len(owners) == 1, f"{name}: defined in {owners or 'no rules module'}"
