"""The template's functions: which there are, the one chosen, and what a local run needs of it, with
Globals.Function applied first by SAM's own rules."""

from __future__ import annotations

import platform
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Optional

from lambdatui.config_error import ConfigError
from lambdatui.lambda_limits import (
    FUNCTION_NAME,
    MAX_MEMORY_MB,
    MAX_TIMEOUT_S,
    MAX_TMP_MB,
    MIN_MEMORY_MB,
    MIN_TIMEOUT_S,
    MIN_TMP_MB,
)
from lambdatui.sam_template import logging_config
from lambdatui.sam_template.functions import ChooseFunction, FunctionChoice, TemplateFunction
from lambdatui.sam_template.intrinsics import (
    OMITTED,
    Invalid,
    Resolver,
    Unresolved,
    as_mapping,
    describe,
    is_intrinsic,
)
from lambdatui.sam_template.layer_refs import LayerReading
from lambdatui.sam_template.parameters import with_overrides
from lambdatui.sam_template.resources import (
    FUNCTION_TYPES,
    SERVERLESS_FUNCTION,
    architecture_note,
    code_key,
    expand_for_each,
    globals_for,
    merge_globals,
    nested_stacks,
    with_asset_path,
)
from lambdatui.sam_template.yaml_tags import parse_template_text

# Properties that change how the function is served, which lambdatui takes from its options instead: said, not
# silently dropped, whether or not the option is given (the template is read first: "give X" told those who gave it).
NOT_APPLIED = {
    "ReservedConcurrentExecutions": "lambdatui's --concurrency N sets it",
    "ProvisionedConcurrencyConfig": "lambdatui's --provisioned N sets it",
    "SnapStart": "lambdatui's --snapstart turns it on",
    "FunctionUrlConfig": "lambdatui's --url-port PORT serves a function URL (serve and the debugger)",
    "EphemeralStorage": "lambdatui's /tmp is not limited in size (Lambda's holds 512 MB unless this sets more)",
    "EventInvokeConfig": "lambdatui's --maximum-retry-attempts N and --maximum-event-age SECONDS set it",
}
ZERO_RESERVED = ("is 0, not applied from the template: Lambda throttles every invoke of this function (429 "
                 "TooManyRequestsException), where lambdatui runs it, in one environment at least")


class SamTemplate:
    def __init__(self, path: Path, origin: Optional[str] = None, overrides: Mapping[str, str] = {}) -> None:
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
        data = with_overrides(data, overrides, self.origin)
        self.resources: dict[str, Any] = expand_for_each(data["Resources"], Resolver(data).resolve)
        self._check_types()
        function_globals = as_mapping(data.get("Globals")).get("Function")
        self.globals = as_mapping(function_globals)
        # SAM reads a resource's IgnoreGlobals only when there are Globals for it to leave off.
        self._has_globals = isinstance(function_globals, dict)
        self.resolver = Resolver({**data, "Resources": self.resources})
        self._check_conditions()
        self.function_ids = [rid for rid, res in self.resources.items()
                             if isinstance(res, dict) and res.get("Type") in FUNCTION_TYPES]
        if not self.function_ids:
            nested = nested_stacks(self.resources)
            where = f"; its functions are in nested stacks, run lambdatui on one's template: {', '.join(nested)}" \
                if nested else ""
            raise ConfigError(f"{self.origin}: no {' or '.join(FUNCTION_TYPES)} in its Resources{where}")

    def _check_types(self) -> None:
        """CloudFormation takes a resource's Type as written: a list or an intrinsic (`!Ref FunctionType`) is
        refused, so no function hides behind one."""
        for logical_id, resource in self.resources.items():
            kind = resource.get("Type") if isinstance(resource, dict) else None
            if kind is not None and not isinstance(kind, str):
                raise ConfigError(f"{self.origin}: {logical_id}: Type {describe(kind)}: expected a resource type "
                                  f"name such as {SERVERLESS_FUNCTION} (CloudFormation refuses such a template)")

    def _check_conditions(self) -> None:
        """CloudFormation refuses a template with a circular or broken condition even where no resource uses it."""
        for name in self.resolver.conditions:
            try:
                self.resolver.condition(name)
            except Unresolved:
                pass  # it depends on what only a deployment knows (a parameter without a Default)
            except Invalid as exc:
                raise ConfigError(f"{self.origin}: Conditions: {exc} (CloudFormation refuses such a template)") \
                    from None

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The function's properties with Globals.Function applied first (unresolved) but for what its
        `IgnoreGlobals` leaves off, and the local asset folder a `cdk synth` template's Metadata names in place of its
        S3 upload."""
        resource = self.resources[logical_id]
        own = with_asset_path(as_mapping(resource.get("Properties")), resource.get("Metadata"))
        if resource.get("Type") != SERVERLESS_FUNCTION or not self._has_globals:
            return own  # Globals are the SAM transform's: CloudFormation's own AWS::Lambda::Function takes none
        try:
            applied = globals_for(self.globals, resource.get("IgnoreGlobals"))
        except ValueError as exc:
            raise ConfigError(f"{self.origin}: {logical_id}: {exc} (SAM refuses such a template)") from None
        return merge_globals(applied, own)

    def choices(self) -> list[FunctionChoice]:
        out = []
        for logical_id in self.function_ids:
            props = self.properties(logical_id)
            out.append(FunctionChoice(logical_id, self._quiet(props.get("Handler")), self._quiet(props.get("Runtime"))))
        return out

    def _quiet(self, value: Any) -> str:
        try:
            resolved = self.resolver.resolve(value)
        except (Unresolved, Invalid):  # a mistake is said when the function is chosen, naming it
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


class _FunctionReader(LayerReading):
    def __init__(self, template: SamTemplate, logical_id: str) -> None:
        self.template = template
        self.logical_id = logical_id
        self.props = template.properties(logical_id)
        self.code_key = code_key(template.resources[logical_id].get("Type"))
        self.notes: list[str] = []
        self.base = template.path.parent

    def _note(self, text: str) -> None:
        line = f"{self.template.origin}: {self.logical_id}: {text}"
        if line not in self.notes:
            self.notes.append(line)

    def _fail(self, text: str) -> ConfigError:
        return ConfigError(f"{self.template.origin}: {self.logical_id}: {text}")

    def resolve(self, raw: Any, where: str) -> Any:
        """`raw` evaluated; Unresolved when only CloudFormation can know it, a ConfigError naming `where` when
        CloudFormation would refuse the template."""
        try:
            return self.template.resolver.resolve(raw)
        except Invalid as exc:
            raise self._fail(f"{where}: {exc} (CloudFormation refuses such a template)") from None

    def value(self, key: str, quiet: bool = False) -> Any:
        """A property resolved, or None (named once) when only CloudFormation could know it (`quiet`: Unresolved
        raised, for the caller to say what it does instead)."""
        if key not in self.props:
            return None
        try:
            value = self.resolve(self.props[key], key)
        except Unresolved as exc:
            if quiet:
                raise
            self._note(f"{key} is {exc}, which only CloudFormation can resolve: left out")
            return None
        return None if value is OMITTED else value

    def read(self) -> TemplateFunction:
        code = as_mapping(self.props.get("Code"))  # AWS::Lambda::Function's: ZipFile, ImageUri or S3Bucket/S3Key
        if str(self.value("PackageType") or "Zip") == "Image" or "ImageUri" in code:
            raise self._fail("a container image function (PackageType: Image): lambdatui runs .zip functions; "
                             "point it at the handler in your image's source instead")
        if "InlineCode" in self.props or "ZipFile" in code:
            inline = "InlineCode" if "InlineCode" in self.props else "Code.ZipFile"
            raise self._fail(f"{inline}: put the code in a file and set {self.code_key} to its folder")
        name = self._function_name()
        self._check_ephemeral_storage()
        for key, instead in NOT_APPLIED.items():
            if self._serving_set(key):
                zero = key == "ReservedConcurrentExecutions" and self._chosen_zero(key)  # no --concurrency takes 0
                self._note(f"{key} {ZERO_RESERVED}" if zero else f"{key} is not applied from the template: {instead}")
        mismatch = architecture_note(self.value("Architectures"), platform.machine())
        if mismatch:
            self._note(mismatch)
        env, unresolved = self._environment()
        try:
            handler, handler_unresolved = self._text("Handler", quiet=True), None
        except Unresolved as exc:  # not "left out" here: the runtime's choice says what that means for the run
            handler, handler_unresolved = None, str(exc)
        return TemplateFunction(
            template=self.template.path,
            logical_id=self.logical_id,
            name=name or self.logical_id,
            code_dir=self._code_dir(),
            handler=handler,
            handler_unresolved=handler_unresolved,
            runtime=self._text("Runtime"),
            timeout_s=self._number("Timeout", MIN_TIMEOUT_S, MAX_TIMEOUT_S, "seconds"),
            memory_mb=self._number("MemorySize", MIN_MEMORY_MB, MAX_MEMORY_MB, "MB"),
            env=env,
            logging_env=self._logging(name or self.logical_id),
            layers=self._layers(),
            unresolved_env=unresolved,
            notes=tuple(self.notes),
        )

    def _chosen_zero(self, key: str) -> bool:
        try:
            return str(self._chosen(self.props[key], key)) == "0"
        except Unresolved:
            return False

    def _serving_set(self, key: str) -> bool:
        """Whether the deployment the parameters' values describe sets `key`: `!If` may remove it (AWS::NoValue), and
        `SnapStart: {ApplyOn: None}` is SnapStart off ("give --snapstart" would turn on what it turns off)."""
        if key not in self.props:
            return False
        try:
            chosen = self._chosen(self.props[key], key)
            if isinstance(chosen, dict) and not is_intrinsic(chosen):
                inner = ((name, self._chosen(value, f"{key}.{name}")) for name, value in chosen.items())
                chosen = {name: value for name, value in inner if value is not OMITTED}
        except Unresolved:  # which branch only a deployment knows: it may set it
            return True
        return chosen is not OMITTED and chosen != {"ApplyOn": "None"}

    def _function_name(self) -> Optional[str]:
        """FunctionName as Lambda takes it, or None for none (the logical id names the function, as sam local names it).
        A name Lambda refuses fails here: run under it, the function's ARN and the printed invoke URL could not be used."""
        name = self._text("FunctionName")
        if name and not FUNCTION_NAME.fullmatch(name):
            raise self._fail(f"FunctionName {name!r}: Lambda allows 1 to 64 letters, digits, hyphens and underscores "
                             "(CloudFormation refuses such a template)")
        return name or None

    def _text(self, key: str, quiet: bool = False) -> Optional[str]:
        value = self.value(key, quiet)
        if value is None:
            return None
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise self._fail(f"{key}: expected a string, got {describe(value)}")
        return str(value)

    def _number(self, key: str, low: int, high: int, unit: str) -> Optional[int]:
        value = self.value(key)
        return None if value is None else self._whole(key, value, low, high, unit)

    def _whole(self, key: str, value: Any, low: int, high: int, unit: str) -> int:
        if isinstance(value, (float, bool)):  # CloudFormation's Integer properties take no fraction (nor rounds one)
            raise self._fail(f"{key} {value}: expected a whole number of {unit}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise self._fail(f"{key} {value!r}: expected a whole number of {unit}") from None
        if not low <= number <= high:
            raise self._fail(f"{key} {value}: Lambda allows {low} to {high} {unit}")
        return number

    def _check_ephemeral_storage(self) -> None:
        """Not applied (NOT_APPLIED: /tmp is not limited here), but a size Lambda refuses is refused, as
        CloudFormation refuses it at deploy time."""
        storage = self.value("EphemeralStorage")
        if storage is None:
            return
        if not isinstance(storage, dict) or storage.get("Size") is None:
            raise self._fail(f"EphemeralStorage: expected a mapping with Size ({MIN_TMP_MB} to {MAX_TMP_MB} MB), got "
                             f"{describe(storage)}")
        self._whole("EphemeralStorage Size", storage["Size"], MIN_TMP_MB, MAX_TMP_MB, "MB")

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
        key = self.code_key
        raw = self.props.get(key)  # a Bucket/Key map is S3 whatever its values resolve to: not resolved
        try:
            code_uri = raw if isinstance(raw, dict) and not is_intrinsic(raw) else self.value(key, quiet=True)
        except Unresolved as exc:  # "left out" would hide where the code is then looked for
            self._note(f"{key} is {exc}, which only CloudFormation can resolve: the template's folder is run "
                       f"instead, as sam local runs it")
            code_uri = None
        if code_uri is None:
            return self.base.resolve()  # as sam local does: the template's own folder
        path = self._local_path(key, code_uri, "folder")
        if path is None:
            shown = code_uri if isinstance(code_uri, str) else \
                describe(code_uri) if is_intrinsic(code_uri) else f"({'/'.join(map(str, code_uri))})"
            raise self._fail(f"{key} {shown} is in S3: run lambdatui on a template whose {key} is a local folder "
                             "(the one 'sam build' writes: .aws-sam/build/template.yaml; or cdk synth's, whose "
                             "Metadata names the asset's folder)")
        if not path.is_dir():
            raise self._fail(f"{key} {code_uri}: expected a folder (unpack an archive first)")
        return path

    def _environment(self) -> tuple[dict[str, str], dict[str, str]]:
        """The variables that resolve, and (name -> what it was) for each one that cannot, resolved one by one so
        that one only CloudFormation knows is left out alone."""
        variables: Any = self.props.get("Environment")
        for key in ("Environment", "Variables"):
            if is_intrinsic(variables):
                try:
                    variables = self.resolve(variables, key)
                except Unresolved as exc:
                    self._note(f"{key} is {exc}, which only CloudFormation can resolve: left out")
                    return {}, {}
            if key == "Environment":
                if variables is None or variables is OMITTED:
                    return {}, {}
                if not isinstance(variables, dict):  # a list or a string (an indentation slip) loses every variable
                    raise self._fail(f"Environment: expected a map holding Variables, got {describe(variables)}")
                variables = variables.get("Variables")
        if variables is None or variables is OMITTED:
            return {}, {}
        if not isinstance(variables, dict):
            raise self._fail(f"Environment.Variables: expected a map, got {describe(variables)}")
        env: dict[str, str] = {}
        unresolved: dict[str, str] = {}
        for name, raw in variables.items():
            try:
                value = self.resolve(raw, f"Environment.Variables.{name}")
            except Unresolved as exc:
                unresolved[str(name)] = str(exc)
                continue
            if value is None or value is OMITTED:
                continue
            if not isinstance(value, (str, int, float, bool)):
                raise self._fail(f"Environment.Variables.{name}: expected a string, got {describe(value)}")
            env[str(name)] = str(value).lower() if isinstance(value, bool) else str(value)
        return env, unresolved

    def _logging(self, name: str) -> dict[str, str]:
        try:
            env, notes = logging_config.read(self.props.get("LoggingConfig"), self.resolve, name)
        except ValueError as exc:
            raise self._fail(f"LoggingConfig: {exc} (CloudFormation refuses such a template)") from None
        for note in notes:
            self._note(note)
        return env

    def _chosen(self, raw: Any, where: str) -> Any:
        """`!If`/`!Select` evaluated down to what they choose (a layer's `!Ref L` stays one to look up)."""
        try:
            return self.template.resolver.choose(raw)
        except Invalid as exc:
            raise self._fail(f"{where}: {exc} (CloudFormation refuses such a template)") from None


def read_function(path: Path, logical_id: Optional[str], origin: Optional[str] = None,
                  overrides: Mapping[str, str] = {}) -> TemplateFunction:
    """The chosen function of the template at `path` (ChooseFunction when there are several and none is named),
    its Parameters' values `overrides` over their Default."""
    template = SamTemplate(path, origin, overrides)
    chosen = template.choose(logical_id)
    siblings: dict[str, str] = {}  # in the template's order, each function's logical ID before its name
    for other in template.function_ids:
        if other != chosen:
            try:  # a name an intrinsic builds (`!Sub users-${Stage}`) is the one a caller uses
                name = template.resolver.resolve(template.properties(other).get("FunctionName"))
            except (Unresolved, Invalid):
                name = None  # only CloudFormation knows it, or it refuses it: that function's to say when chosen
            siblings[other] = other
            if isinstance(name, str) and name:
                siblings.setdefault(name, other)
    return replace(template.function(chosen), siblings=siblings)

