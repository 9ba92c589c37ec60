"""What the template reader gives: one function of a template as far as a local run can know it, and, when the
template holds several and none was named, the choice among them (which the CLI lists and the debugger's picker
shows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from lambdatui.config_error import ConfigError


@dataclass(frozen=True)
class FunctionChoice:
    """One function of the template to choose from: its logical ID, Handler and Runtime, as the picker lists it."""

    logical_id: str
    handler: str
    runtime: str


class ChooseFunction(ConfigError):
    """The template holds several functions and none was chosen: the message lists them, one a line."""

    def __init__(self, origin: str, choices: list[FunctionChoice]) -> None:
        self.origin = origin
        self.choices = choices
        width = max(len(c.logical_id) for c in choices)
        hwidth = max(len(c.handler) for c in choices)
        rows = [f"  {c.logical_id.ljust(width)}  {c.handler.ljust(hwidth)}  {c.runtime}".rstrip() for c in choices]
        super().__init__(f"{origin} holds {len(choices)} functions: choose one with --function LOGICAL_ID\n"
                         + "\n".join(rows))


@dataclass(frozen=True)
class TemplateFunction:
    """One function of the template, as far as it can be known locally."""

    template: Path
    logical_id: str
    name: str  # FunctionName when it resolves, else the logical id (as sam local names it)
    code_dir: Path
    handler: Optional[str] = None
    # Handler as written when only a deployment knows it (`!Ref HandlerName (a parameter with no Default: ...)`):
    # whether the run can go on without it is the runtime's to say (Python's cannot, a custom runtime's can).
    handler_unresolved: Optional[str] = None
    runtime: Optional[str] = None
    timeout_s: Optional[int] = None
    memory_mb: Optional[int] = None
    env: Mapping[str, str] = field(default_factory=dict)
    # What Lambda sets for the runtime from LoggingConfig (AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL).
    logging_env: Mapping[str, str] = field(default_factory=dict)
    layers: tuple[Path, ...] = ()
    # Variables the template declares that only CloudFormation can fill in: name -> what it was (`!GetAtt T.Arn`).
    unresolved_env: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # everything else left out, one line each
    # The template's other functions, by logical ID and FunctionName (names a caller may mean another one by), in the
    # template's order -> the logical ID, which `--function` takes to serve the function a caller named.
    siblings: Mapping[str, str] = field(default_factory=dict)
