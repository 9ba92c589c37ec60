"""A SAM template as a front door: one `AWS::Serverless::Function` becomes the values a `FunctionConfig` is built
from (lambda-spec §10.5). Nothing below the command line knows a template was used.

What a local run needs is read: `Handler`, `Runtime`, `CodeUri`, `Timeout`, `MemorySize`, `FunctionName`,
`Environment.Variables` and `Layers` (the local `ContentUri` of the template's own `AWS::Serverless::LayerVersion`
resources), with `Globals.Function` applied first by SAM's own rules (maps merge, lists add up, the function's
scalar wins). CloudFormation's short tags parse into their long form (`!Ref X` is `{"Ref": "X"}`), as SAM CLI
reads them, so a YAML and a JSON template are the same data. What can be known here is resolved: parameters'
defaults, the pseudo parameters a local environment has (its region, SAM local's placeholder account), `!Sub`,
`!Join`, `!If` and the other functions over those. What only CloudFormation knows (`!GetAtt`, a resource's
`!Ref`, `!ImportValue`, a layer's ARN) is left out and named once, so the user can give it with `--env-vars`.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import yaml

from lambdatui.config import (
    MAX_MEMORY_MB,
    MAX_TIMEOUT_S,
    MIN_MEMORY_MB,
    MIN_TIMEOUT_S,
    TOO_DEEP,
    ConfigError,
)

FUNCTION_TYPE = "AWS::Serverless::Function"
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")

# The pseudo parameters a local run can answer: the region lambdatui's environment says it is in (launch.REGION),
# and the placeholders SAM CLI's `sam local` gives for the rest, so both tools build the same values.
PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "local",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/local/51af3dc0-da77-11e4-872e-1234567db123",
}
NO_VALUE = "AWS::NoValue"


class _Omitted:
    """`!Ref AWS::NoValue`: the property is removed, as if it had not been written."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


OMITTED = _Omitted()

# ---------------------------------------------------------------------------------------------------- parsing

# CloudFormation's short tags and the long form each one stands for.
SHORT_TAGS = {
    "!Ref": "Ref", "!Condition": "Condition",
    **{f"!{name}": f"Fn::{name}" for name in (
        "Sub", "GetAtt", "If", "Join", "Select", "FindInMap", "ImportValue", "Base64", "Equals", "Not", "And", "Or",
        "GetAZs", "Split", "Transform", "Cidr", "Length", "ToJsonString")},
}


class TemplateLoader(yaml.SafeLoader):
    """PyYAML's safe loader that also knows CloudFormation's short tags (and nothing else beyond plain YAML)."""


def _short_tag(long_name: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if long_name == "Fn::GetAtt":  # !GetAtt Resource.Attribute is the list [Resource, Attribute]
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {long_name: value}

    return construct


for _tag, _long in SHORT_TAGS.items():
    TemplateLoader.add_constructor(_tag, _short_tag(_long))


def parse_template_text(text: str, origin: str) -> Any:
    """The template's data, or one ConfigError line naming where the YAML went wrong."""
    try:
        return yaml.load(text, Loader=TemplateLoader)  # a SafeLoader: plain data and the tags above, nothing else
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        problem = " ".join(str(exc.problem or exc.context or "malformed").split())
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(f"{origin}: {TOO_DEEP}") from None


# ---------------------------------------------------------------------------------------------------- resolving


class Unresolved(Exception):
    """A value only CloudFormation can know; the message says what it was (`!GetAtt Table.Arn`)."""


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
        self.parameters = _mapping(template.get("Parameters"))
        self.mappings = _mapping(template.get("Mappings"))
        self.conditions = _mapping(template.get("Conditions"))
        self.resources = _mapping(template.get("Resources"))
        self._evaluating: set[str] = set()

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic evaluated (OMITTED for AWS::NoValue); Unresolved if one cannot be."""
        if is_intrinsic(value):
            ((key, arg),) = value.items()
            method = getattr(self, "_fn_" + key.removeprefix("Fn::").lower(), None)
            if method is None:
                raise Unresolved(describe(value))
            return method(arg, value)
        if isinstance(value, dict):
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not OMITTED}
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not OMITTED]
        return value

    def ref(self, name: Any, whole: Any) -> Any:
        if not isinstance(name, str):
            raise Unresolved(describe(whole))
        if name == NO_VALUE:
            return OMITTED
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            parameter = _mapping(self.parameters[name])
            if "Default" not in parameter:
                raise Unresolved(f"!Ref {name} (a parameter with no Default)")
            default = parameter["Default"]
            kind = str(parameter.get("Type", "String"))
            if (kind == "CommaDelimitedList" or kind.startswith("List<")) and isinstance(default, str):
                return [part.strip() for part in default.split(",")]
            return default
        if name in self.resources:
            raise Unresolved(f"!Ref {name} (a resource: its name or ARN exists once deployed)")
        raise Unresolved(f"!Ref {name} (no such parameter or resource)")

    def _fn_ref(self, arg: Any, whole: Any) -> Any:
        return self.ref(arg, whole)

    def _fn_sub(self, arg: Any, whole: Any) -> str:
        variables: Mapping[str, Any] = {}
        if isinstance(arg, list) and len(arg) == 2:
            arg, variables = arg[0], _mapping(arg[1])
        if not isinstance(arg, str):
            raise Unresolved(describe(whole))

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is written as ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                value = self.resolve(variables[name])
            elif "." in name and not name.startswith("AWS::"):
                raise Unresolved(f"!Sub ${{{name}}} (an attribute of a deployed resource)")
            else:
                value = self.ref(name, {"Ref": name})
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
        if not (isinstance(arg, list) and len(arg) == 2):
            raise Unresolved(describe(whole))
        index, items = self.resolve(arg[0]), self.resolve(arg[1])
        try:
            return items[int(index)]
        except (TypeError, ValueError, IndexError, KeyError):
            raise Unresolved(describe(whole)) from None

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
            raise Unresolved(f"!FindInMap [{name}, {top}, {second}] (no such entry)") from None

    def _fn_if(self, arg: Any, whole: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3):
            raise Unresolved(describe(whole))
        return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])

    def condition(self, name: Any) -> bool:
        if not isinstance(name, str) or name not in self.conditions:
            raise Unresolved(f"!Condition {name} (no such condition)")
        if name in self._evaluating:
            raise Unresolved(f"!Condition {name} (refers to itself)")
        self._evaluating.add(name)
        try:
            return self._truth(self.conditions[name])
        finally:
            self._evaluating.discard(name)

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


def _scalar_text(value: Any, whole: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return str(value)
    raise Unresolved(describe(whole))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's rule for Globals: maps merge (the function's key wins), lists add up (globals first), else the function's.

    An intrinsic is a value, not a map: the function's own wins whole.
    """
    if isinstance(global_value, dict) and isinstance(local_value, dict) \
            and not is_intrinsic(global_value) and not is_intrinsic(local_value):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return [*global_value, *local_value]
    return local_value


# ---------------------------------------------------------------------------------------------------- functions


@dataclass(frozen=True)
class FunctionChoice:
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
    runtime: Optional[str] = None
    timeout_s: Optional[int] = None
    memory_mb: Optional[int] = None
    env: Mapping[str, str] = field(default_factory=dict)
    layers: tuple[Path, ...] = ()
    # Variables the template declares that only CloudFormation can fill in: name -> what it was (`!GetAtt T.Arn`).
    unresolved_env: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # everything else left out, one line each


class SamTemplate:
    def __init__(self, path: Path, origin: Optional[str] = None) -> None:
        self.path = path
        self.origin = origin or str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{self.origin}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{self.origin}: not UTF-8 text") from None
        data = parse_template_text(text, self.origin)
        if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
            raise ConfigError(f"{self.origin}: not a SAM template (it has no Resources section)")
        self.data: dict[str, Any] = data
        self.resources: dict[str, Any] = data["Resources"]
        self.globals = _mapping(_mapping(data.get("Globals")).get("Function"))
        self.resolver = Resolver(data)
        self.function_ids = [rid for rid, res in self.resources.items()
                             if isinstance(res, dict) and res.get("Type") == FUNCTION_TYPE]
        if not self.function_ids:
            raise ConfigError(f"{self.origin}: no {FUNCTION_TYPE} in its Resources")

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The function's properties with Globals.Function applied first (unresolved)."""
        own = _mapping(self.resources[logical_id].get("Properties"))
        return merge_globals(self.globals, own)

    def choices(self) -> list[FunctionChoice]:
        out = []
        for logical_id in self.function_ids:
            props = self.properties(logical_id)
            out.append(FunctionChoice(logical_id, self._quiet(props.get("Handler")), self._quiet(props.get("Runtime"))))
        return out

    def _quiet(self, value: Any) -> str:
        try:
            resolved = self.resolver.resolve(value)
        except Unresolved:
            return describe(value)
        return "" if resolved is None or resolved is OMITTED else str(resolved)

    def choose(self, logical_id: Optional[str]) -> str:
        if logical_id is None:
            if len(self.function_ids) == 1:
                return self.function_ids[0]
            raise ChooseFunction(self.origin, self.choices())
        if logical_id not in self.function_ids:
            raise ConfigError(f"--function {logical_id}: no such function in {self.origin} "
                              f"(its functions: {', '.join(self.function_ids)})")
        return logical_id

    def function(self, logical_id: str) -> TemplateFunction:
        return _FunctionReader(self, logical_id).read()


class _FunctionReader:
    def __init__(self, template: SamTemplate, logical_id: str) -> None:
        self.template = template
        self.logical_id = logical_id
        self.props = template.properties(logical_id)
        self.notes: list[str] = []
        self.base = template.path.parent

    def _note(self, text: str) -> None:
        line = f"{self.template.origin}: {self.logical_id}: {text}"
        if line not in self.notes:
            self.notes.append(line)

    def _fail(self, text: str) -> ConfigError:
        return ConfigError(f"{self.template.origin}: {self.logical_id}: {text}")

    def value(self, key: str) -> Any:
        """A property resolved, or None (named once) when only CloudFormation could know it."""
        if key not in self.props:
            return None
        try:
            value = self.template.resolver.resolve(self.props[key])
        except Unresolved as exc:
            self._note(f"{key} is {exc}, which only CloudFormation can resolve: left out")
            return None
        return None if value is OMITTED else value

    def read(self) -> TemplateFunction:
        if str(self.value("PackageType") or "Zip") == "Image":
            raise self._fail("a container image function (PackageType: Image): lambdatui runs .zip functions; "
                             "point it at the handler in your image's source instead")
        if "InlineCode" in self.props:
            raise self._fail("InlineCode: put the code in a file and set CodeUri to its folder")
        name = self.value("FunctionName")
        env, unresolved = self._environment()
        return TemplateFunction(
            template=self.template.path,
            logical_id=self.logical_id,
            name=name if isinstance(name, str) and name else self.logical_id,
            code_dir=self._code_dir(),
            handler=self._text("Handler"),
            runtime=self._text("Runtime"),
            timeout_s=self._number("Timeout", MIN_TIMEOUT_S, MAX_TIMEOUT_S, "seconds"),
            memory_mb=self._number("MemorySize", MIN_MEMORY_MB, MAX_MEMORY_MB, "MB"),
            env=env,
            layers=self._layers(),
            unresolved_env=unresolved,
            notes=tuple(self.notes),
        )

    def _text(self, key: str) -> Optional[str]:
        value = self.value(key)
        if value is None:
            return None
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise self._fail(f"{key}: expected a string, got {describe(value)}")
        return str(value)

    def _number(self, key: str, low: int, high: int, unit: str) -> Optional[int]:
        value = self.value(key)
        if value is None:
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise self._fail(f"{key} {value!r}: not a number") from None
        if isinstance(value, bool) or not low <= number <= high:
            raise self._fail(f"{key} {value}: Lambda allows {low} to {high} {unit}")
        return number

    def _local_path(self, key: str, value: Any, what: str) -> Optional[Path]:
        """A local folder named by CodeUri/ContentUri, relative to the template; None (named) when it is in S3."""
        if isinstance(value, dict) or (isinstance(value, str) and value.startswith("s3://")):
            return None
        if not isinstance(value, str) or not value:
            raise self._fail(f"{key}: expected a path, got {describe(value)}")
        path = (self.base / value).expanduser()
        if not path.exists():
            raise self._fail(f"{key} {value}: no such {what} (relative to the template's folder)")
        return path.resolve()

    def _code_dir(self) -> Path:
        code_uri = self.value("CodeUri")
        if code_uri is None:
            return self.base.resolve()  # as sam local does: the template's own folder
        path = self._local_path("CodeUri", code_uri, "folder")
        if path is None:
            raise self._fail(f"CodeUri {describe(code_uri) if isinstance(code_uri, dict) else code_uri} is in S3: "
                             "run lambdatui on a template whose CodeUri is a local folder "
                             "(the one 'sam build' writes: .aws-sam/build/template.yaml)")
        if not path.is_dir():
            raise self._fail(f"CodeUri {code_uri}: expected a folder (unpack an archive first)")
        return path

    def _environment(self) -> tuple[dict[str, str], dict[str, str]]:
        """The variables that resolve, and (name -> what it was) for each one that cannot, resolved one by one so
        that one only CloudFormation knows is left out alone."""
        variables: Any = self.props.get("Environment")
        for key in ("Environment", "Variables"):
            if is_intrinsic(variables):
                try:
                    variables = self.template.resolver.resolve(variables)
                except Unresolved as exc:
                    self._note(f"{key} is {exc}, which only CloudFormation can resolve: left out")
                    return {}, {}
            if key == "Environment":
                variables = _mapping(variables).get("Variables")
        if variables is None or variables is OMITTED:
            return {}, {}
        if not isinstance(variables, dict):
            raise self._fail(f"Environment.Variables: expected a map, got {describe(variables)}")
        env: dict[str, str] = {}
        unresolved: dict[str, str] = {}
        for name, raw in variables.items():
            try:
                value = self.template.resolver.resolve(raw)
            except Unresolved as exc:
                unresolved[str(name)] = str(exc)
                continue
            if value is None or value is OMITTED:
                continue
            if not isinstance(value, (str, int, float, bool)):
                raise self._fail(f"Environment.Variables.{name}: expected a string, got {describe(value)}")
            env[str(name)] = str(value).lower() if isinstance(value, bool) else str(value)
        return env, unresolved

    def _layers(self) -> tuple[Path, ...]:
        raw = self.props.get("Layers")
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self._note(f"Layers is {describe(raw)}, which only CloudFormation can resolve: left out")
            return ()
        layers = []
        for item in raw:
            path = self._layer(item)
            if path is not None:
                layers.append(path)
        return tuple(layers)

    def _layer(self, item: Any) -> Optional[Path]:
        if is_intrinsic(item) and "Ref" in item and item["Ref"] in self.template.resources:
            layer_id = item["Ref"]
            resource = _mapping(self.template.resources[layer_id])
            if resource.get("Type") not in LAYER_TYPES:
                self._note(f"layer !Ref {layer_id} is a {resource.get('Type')}, not a layer: left out")
                return None
            props = _mapping(resource.get("Properties"))
            key = "ContentUri" if "ContentUri" in props else "Content"
            try:
                content = self.template.resolver.resolve(props.get(key))
            except Unresolved as exc:
                self._note(f"layer {layer_id}'s {key} is {exc}, which only CloudFormation can resolve: left out")
                return None
            path = self._local_path(f"layer {layer_id}'s {key}", content, "folder or .zip") if content else None
            if path is not None and path.is_file() and path.suffix.lower() != ".zip":
                raise self._fail(f"layer {layer_id}'s {key} {content}: expected a folder or a .zip archive")
            if path is None:
                self._note(f"layer {layer_id} is not in a local folder ({key} {describe(content)}): left out "
                           "(give a local copy with --layer)")
            return path
        try:
            value = self.template.resolver.resolve(item)
        except Unresolved as exc:
            self._note(f"layer {exc} only CloudFormation can resolve: left out (give a local copy with --layer)")
            return None
        if value is OMITTED:
            return None
        self._note(f"layer {value} is in AWS, not in this folder: left out (give a local copy with --layer)")
        return None


def read_function(path: Path, logical_id: Optional[str], origin: Optional[str] = None) -> TemplateFunction:
    """The chosen function of the template at `path` (ChooseFunction when there are several and none is named)."""
    template = SamTemplate(path, origin)
    return template.function(template.choose(logical_id))

