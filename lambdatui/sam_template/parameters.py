"""`--parameter-overrides`: values for a template's Parameters, as `sam local invoke --parameter-overrides` takes
them (`Key=Value Key2=Value2`, or CloudFormation's `ParameterKey=Key,ParameterValue=Value`), over their Default."""

from __future__ import annotations

import re
import shlex
from typing import Any, Mapping, Sequence

from lambdatui.config_error import ConfigError
from lambdatui.sam_template.intrinsics import OVERRIDDEN

_LONG_FORM = re.compile(r"^ParameterKey=([^,]*),ParameterValue=(.*)$")


def parse_overrides(given: Sequence[str]) -> dict[str, str]:
    """Each option's text split as a shell splits it (`'Stage=prod Name="a b"'`), into name -> value."""
    out: dict[str, str] = {}
    for text in given:
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise ConfigError(f"--parameter-overrides {text!r}: {exc}") from None
        for word in words:
            long_form = _LONG_FORM.match(word)
            name, sep, value = (long_form.group(1), "=", long_form.group(2)) if long_form else word.partition("=")
            if not sep or not name:
                raise ConfigError(f"--parameter-overrides {word!r}: expected KEY=VALUE")
            out[name] = value
    return out


def with_overrides(data: Mapping[str, Any], overrides: Mapping[str, str], origin: str) -> dict[str, Any]:
    """The template with each overridden parameter's Default replaced by the value given (typed as written: a
    CommaDelimitedList's text is split by the resolver). A name the template has no parameter for is a mistake
    CloudFormation refuses a deployment for: one line."""
    out = dict(data)
    if not overrides:
        return out
    parameters = data.get("Parameters") if isinstance(data.get("Parameters"), dict) else {}
    unknown = [name for name in overrides if name not in parameters]
    if unknown:
        have = ", ".join(parameters) or "none"
        raise ConfigError(f"--parameter-overrides {unknown[0]}: no such parameter in {origin} (its Parameters: {have})")
    out["Parameters"] = {name: ({**spec, "Default": overrides[name], OVERRIDDEN: True}
                                if name in overrides and isinstance(spec, dict) else spec)
                         for name, spec in parameters.items()}
    return out
