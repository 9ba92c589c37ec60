"""The intrinsic functions a template's values may hold, evaluated with what is known before a deployment:
parameters' defaults, the pseudo parameters a local environment has, and the functions over those. What only
CloudFormation knows (`!GetAtt`, a resource's `!Ref`, `!ImportValue`) raises `Unresolved`, naming it; what
CloudFormation itself would refuse (a `!Ref` to nothing, an unknown or circular condition) raises `Invalid`."""

from __future__ import annotations

import base64
import re
from typing import Any, Mapping

from lambdatui.core.common import REGION

# The pseudo parameters a local run can answer: the region lambdatui's environment says it is in (core.common.REGION),
# and the placeholders SAM CLI's `sam local` gives for the rest, so both tools build the same values.
PSEUDO_PARAMETERS = {
    "AWS::Region": REGION,
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "local",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/local/51af3dc0-da77-11e4-872e-1234567db123",
}
NO_VALUE = "AWS::NoValue"
# Pseudo parameters only a deployment gives a value: the SNS topics the stack is created with (`--notification-arns`).
DEPLOY_TIME_PSEUDO_PARAMETERS = {"AWS::NotificationARNs": "the stack's notification topics, given when it is deployed"}
# A parameter of this type holds the *name* of an SSM parameter; CloudFormation passes on the value stored under it.
SSM_PARAMETER_TYPE = "AWS::SSM::Parameter::Value<"
# Marks a parameter whose Default is a value given with --parameter-overrides: taken as the value itself, whatever the
# parameter's type (a local run has no SSM to read an SSM parameter's name from).
OVERRIDDEN = "lambdatui:overridden"
# A dynamic reference (`{{resolve:ssm:/db/url}}`, `{{resolve:secretsmanager:...}}`) in a string is replaced by
# CloudFormation with what the service holds; passed on as written it would be a wrong value, not a missing one.
# The SAM transform adds resources of its own, which a SAM template may name: a function's role (`MyFnRole`), URL
# (`MyFnUrl`), `MyFn.Alias`/`MyFn.Version` (AutoPublishAlias), an API's `MyApi.Stage`, the implicit APIs of Api and
# HttpApi events. Their logical IDs start with the SAM resource's own, or with these.
SAM_IMPLICIT_APIS = ("ServerlessRestApi", "ServerlessHttpApi")
DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:[a-z-]+:[^}]*\}\}")
_DIGITS = re.compile(r"[0-9]+")  # !Select's index: ASCII digits (str.isdigit takes "²", which int() refuses)


class _Omitted:
    """`!Ref AWS::NoValue`: the property is removed, as if it had not been written."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


OMITTED = _Omitted()


class Unresolved(Exception):
    """A value only CloudFormation can know; the message says what it was (`!GetAtt Table.Arn`)."""


class Invalid(Exception):
    """A mistake CloudFormation refuses the whole template for (a typo in a name): no deploy could resolve it."""


def is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    (key,) = value
    return key in ("Ref", "Condition") or (isinstance(key, str) and key.startswith("Fn::"))


def describe(value: Any) -> str:
    """An intrinsic as the user wrote it, short: `!GetAtt Table.Arn`, `!Ref Bucket`, `!ImportValue ...`."""
    if is_intrinsic(value):
        ((key, arg),) = value.items()
        tag = "!" + key.removeprefix("Fn::")
        if key == "Fn::GetAtt" and isinstance(arg, list):
            return f"{tag} {'.'.join(map(str, arg))}"
        if isinstance(arg, (str, int, float)):
            return f"{tag} {arg}"
        return f"{tag} ..."
    return repr(value)


class Resolver:
    """Evaluates the intrinsic functions a template's values may hold, with what is known before a deployment."""

    def __init__(self, template: Mapping[str, Any]) -> None:
        self.parameters = as_mapping(template.get("Parameters"))
        self.mappings = as_mapping(template.get("Mappings"))
        self.conditions = as_mapping(template.get("Conditions"))
        self.resources = as_mapping(template.get("Resources"))
        serverless = [rid for rid, res in self.resources.items()
                      if str(as_mapping(res).get("Type", "")).startswith("AWS::Serverless::")]
        # Longest first: the SAM resource a generated name belongs to is the longest logical ID it starts with.
        self._sam_prefixes = tuple(sorted(serverless, key=len, reverse=True)) + (SAM_IMPLICIT_APIS if serverless else ())
        self._evaluating: list[str] = []  # the conditions being evaluated, outermost first

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic evaluated (OMITTED for AWS::NoValue); Unresolved if one cannot be."""
        if is_intrinsic(value):
            ((key, arg),) = value.items()
            method = getattr(self, "_fn_" + key.removeprefix("Fn::").lower(), None)
            if method is None:
                raise Unresolved(describe(value))
            return _no_dynamic_reference(method(arg, value))
        if isinstance(value, dict):
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not OMITTED}
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not OMITTED]
        return _no_dynamic_reference(value)

    def ref(self, name: Any, whole: Any) -> Any:
        if not isinstance(name, str):
            raise Unresolved(describe(whole))
        if name == NO_VALUE:
            return OMITTED
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            parameter = as_mapping(self.parameters[name])
            if "Default" not in parameter:
                raise Unresolved(f"!Ref {name} (a parameter with no Default: --parameter-overrides {name}=VALUE)")
            default = parameter["Default"]
            kind = str(parameter.get("Type", "String"))
            if kind.startswith(SSM_PARAMETER_TYPE) and not parameter.get(OVERRIDDEN):
                raise Unresolved(f"!Ref {name} (the value CloudFormation reads from SSM parameter {default})")
            if (kind == "CommaDelimitedList" or kind.startswith("List<")) and isinstance(default, str):
                return [part.strip() for part in default.split(",")]
            return default
        if name in self.resources:
            raise Unresolved(f"!Ref {name} (a resource: its name or ARN exists once deployed)")
        if name in DEPLOY_TIME_PSEUDO_PARAMETERS:
            raise Unresolved(f"!Ref {name} ({DEPLOY_TIME_PSEUDO_PARAMETERS[name]})")
        self._sam_generated(name, f"!Ref {name}")
        raise Invalid(f"!Ref {name}: no such parameter or resource")

    def _sam_generated(self, name: str, shown: str) -> None:
        """Unresolved when `name` is a resource the SAM transform generates (its owner named): it exists once deployed,
        as the template's own resources do; CloudFormation only sees the transformed template."""
        owner = next((p for p in self._sam_prefixes if name.startswith(p)), None)
        if owner is not None:
            events = "the functions' Api or HttpApi events" if owner in SAM_IMPLICIT_APIS else owner
            raise Unresolved(f"{shown} (a resource SAM generates for {events}: it exists once deployed)")

    def _fn_ref(self, arg: Any, whole: Any) -> Any:
        return self.ref(arg, whole)

    def _fn_getatt(self, arg: Any, whole: Any) -> Any:
        resource = arg[0] if isinstance(arg, list) and arg else None
        if isinstance(resource, str) and resource not in self.resources:
            self._sam_generated(resource, describe(whole))
            raise Invalid(f"{describe(whole)}: no such resource")
        raise Unresolved(describe(whole))

    def choose(self, value: Any) -> Any:
        """`!If` and `!Select` evaluated down to the value they choose, which is left as written (a layer's
        `!Ref Layer`, to look up as a resource); OMITTED for AWS::NoValue. Anything else is returned as is."""
        while is_intrinsic(value):
            ((key, arg),) = value.items()
            if key == "Ref" and arg == NO_VALUE:
                return OMITTED
            if key == "Fn::If":
                value = self._if_branch(arg, value)
            elif key == "Fn::Select":
                value = self._selected(arg, value)
            else:
                return value
        return value

    def _if_branch(self, arg: Any, whole: Any) -> Any:
        """The branch `!If [Condition, then, else]` takes, as written."""
        if not (isinstance(arg, list) and len(arg) == 3):
            raise Unresolved(describe(whole))
        return arg[1] if self.condition(arg[0]) else arg[2]

    def _selected(self, arg: Any, whole: Any) -> Any:
        """The item `!Select [index, list]` picks, as written: from the list as written, or from the one an
        intrinsic gives (`!Split`, a list parameter's `!Ref`). Only the item picked is evaluated after: one only
        CloudFormation knows elsewhere in the list does not stop a local run."""
        if not (isinstance(arg, list) and len(arg) == 2):
            raise Unresolved(describe(whole))
        index = self.resolve(arg[0])
        written = isinstance(arg[1], list)
        items = arg[1] if written else self.resolve(arg[1])
        if isinstance(index, bool) or not isinstance(index, (int, str)) or not _DIGITS.fullmatch(str(index)):
            # CloudFormation takes an index from 0 up (a number, or a string of digits), never one from the end.
            raise Invalid(f"{describe(whole)}: the index must be a whole number from 0 up, not {index!r}")
        if not isinstance(items, list):
            raise Unresolved(describe(whole))
        if int(index) >= len(items):
            if written:  # CloudFormation refuses the template: the list is the same wherever it is deployed
                raise Invalid(f"{describe(whole)}: no item {index} in a list of {len(items)}")
            raise Unresolved(f"{describe(whole)} (no item {index} in the list it gives here, of {len(items)})")
        return items[int(index)]

    def _fn_sub(self, arg: Any, whole: Any) -> str:
        variables: Mapping[str, Any] = {}
        if isinstance(arg, list) and len(arg) == 2:
            arg, variables = arg[0], as_mapping(arg[1])
        if not isinstance(arg, str):
            raise Unresolved(describe(whole))

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is written as ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                value = self.resolve(variables[name])
            elif "." in name and not name.startswith("AWS::"):
                if name.split(".", 1)[0] not in self.resources:
                    self._sam_generated(name.split(".", 1)[0], f"!Sub ${{{name}}}")
                    raise Invalid(f"!Sub ${{{name}}}: no such resource")
                raise Unresolved(f"!Sub ${{{name}}} (an attribute of a deployed resource)")
            else:
                try:
                    value = self.ref(name, {"Ref": name})
                except Invalid:
                    raise Invalid(f"!Sub ${{{name}}}: no such parameter or resource") from None
            return _scalar_text(value, whole)

        return re.sub(r"\$\{([^}]*)\}", substitute, arg)

    def _fn_join(self, arg: Any, whole: Any) -> str:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise Unresolved(describe(whole))
        delimiter, items = self.resolve(arg[0]), self.resolve(arg[1])
        if not isinstance(items, list):
            raise Unresolved(describe(whole))
        return str(delimiter).join(_scalar_text(item, whole) for item in items)

    def _fn_select(self, arg: Any, whole: Any) -> Any:
        return self.resolve(self._selected(arg, whole))

    def _fn_split(self, arg: Any, whole: Any) -> list[str]:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise Unresolved(describe(whole))
        return _scalar_text(self.resolve(arg[1]), whole).split(str(self.resolve(arg[0])))

    def _fn_base64(self, arg: Any, whole: Any) -> str:
        return base64.b64encode(_scalar_text(self.resolve(arg), whole).encode()).decode()

    def _fn_findinmap(self, arg: Any, whole: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) >= 3):
            raise Unresolved(describe(whole))
        name, top, second = (self.resolve(part) for part in arg[:3])
        try:
            return self.resolve(self.mappings[name][top][second])
        except (KeyError, TypeError):
            if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:  # AWS::LanguageExtensions
                return self.resolve(arg[3]["DefaultValue"])
            if all(isinstance(part, str) for part in arg[:3]):
                # Named as written: CloudFormation refuses the template wherever it is deployed.
                raise Invalid(f"!FindInMap [{name}, {top}, {second}]: no such entry in the template's Mappings") \
                    from None
            # Named through a parameter or a pseudo parameter (a RegionMap without this run's region): another
            # deployment's values may have the entry.
            raise Unresolved(f"!FindInMap [{name}, {top}, {second}] (no such entry for the values used here)") \
                from None

    def _fn_if(self, arg: Any, whole: Any) -> Any:
        return self.resolve(self._if_branch(arg, whole))

    def condition(self, name: Any) -> bool:
        if not isinstance(name, str) or name not in self.conditions:
            raise Invalid(f"condition {name}: no such condition")
        if name in self._evaluating:
            circle = " -> ".join([*self._evaluating[self._evaluating.index(name):], name])
            raise Invalid(f"condition {name} depends on itself ({circle})")
        self._evaluating.append(name)
        try:
            return self._truth(self.conditions[name])
        finally:
            self._evaluating.pop()

    def _truth(self, value: Any) -> bool:
        if is_intrinsic(value):
            ((key, arg),) = value.items()
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
                left, right = (self.resolve(side) for side in arg)
                return _scalar_text(left, value) == _scalar_text(right, value)
            if key == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
                return not self._truth(arg[0])
            if key == "Fn::And" and isinstance(arg, list):
                return all(self._truth(item) for item in arg)
            if key == "Fn::Or" and isinstance(arg, list):
                return any(self._truth(item) for item in arg)
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return resolved
        if isinstance(resolved, str) and resolved.lower() in ("true", "false"):
            return resolved.lower() == "true"
        raise Unresolved(describe(value))


def _no_dynamic_reference(value: Any) -> Any:
    if isinstance(value, str):
        found = DYNAMIC_REFERENCE.search(value)
        if found:
            raise Unresolved(f"{found.group(0)} (a dynamic reference, read by CloudFormation when deployed)")
    return value


def _scalar_text(value: Any, whole: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value)
    raise Unresolved(describe(whole))


def as_mapping(value: Any) -> dict[str, Any]:
    """The map a template section or property holds; an empty one when it holds anything else (or is absent)."""
    return value if isinstance(value, dict) else {}

