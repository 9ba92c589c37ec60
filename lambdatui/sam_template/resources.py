"""Which resources of a template are functions a local run can take, how Globals apply to them, and where their code
is when a tool wrote the template (the CDK's `cdk synth`): SAM CLI's rules, so that a template `sam local invoke`
runs runs here too."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from lambdatui.sam_template.intrinsics import Invalid, Unresolved, describe, is_intrinsic

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
# CloudFormation's own function resource: what `cdk synth` and hand-written CloudFormation declare. `sam local` runs
# it too (SAM's Globals do not apply to it: they are the SAM transform's).
LAMBDA_FUNCTION = "AWS::Lambda::Function"
FUNCTION_TYPES = (SERVERLESS_FUNCTION, LAMBDA_FUNCTION)
# Nested stacks hold functions of their own, in another template.
NESTED_STACK_TYPES = {"AWS::Serverless::Application": "Location", "AWS::CloudFormation::Stack": "TemplateURL"}

ASSET_PATH = "aws:asset:path"
ASSET_PROPERTY = "aws:asset:property"
IMAGE_ASSET_PROPERTY = "Code.ImageUri"
# What `sam build` marks a resource whose property it already pointed at the built folder: the asset path left in
# its Metadata is then the unbuilt source, which must not replace the build.
SAM_NORMALIZED = "SamNormalized"


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


def globals_for(function_globals: Mapping[str, Any], ignore: Any) -> dict[str, Any]:
    """Globals.Function as SAM's GlobalsPlugin (which `sam local` runs too) applies it to a resource with the
    `IgnoreGlobals` attribute: `"*"` none of it, a list all but the properties it names. ValueError, saying what SAM
    refuses, for another value or a property the Globals do not set."""
    if not ignore:  # SAM's test is falsiness: an empty list or string ignores nothing
        return dict(function_globals)
    if ignore == "*":
        return {}
    if not isinstance(ignore, list):
        raise ValueError(f"IgnoreGlobals {describe(ignore)}: expected \"*\" or a list of Globals.Function's "
                         "properties")
    kept = dict(function_globals)
    for key in ignore:
        if not isinstance(key, str) or key not in kept:
            raise ValueError(f"IgnoreGlobals names {describe(key)}, which Globals.Function does not set")
        del kept[key]
    return kept


def code_key(resource_type: Any) -> str:
    """The property naming the function's code: SAM's `CodeUri`, CloudFormation's `Code`."""
    return "Code" if resource_type == LAMBDA_FUNCTION else "CodeUri"


def with_asset_path(properties: Mapping[str, Any], metadata: Any) -> dict[str, Any]:
    """The properties with the local asset the CDK names in the resource's Metadata put in place of the property it
    names (`aws:asset:property: Code` -> `Code: cdk.out/asset.1234`), as SAM CLI's ResourceMetadataNormalizer does:
    the property itself then points at an S3 upload that exists only once deployed."""
    out = dict(properties)
    if not isinstance(metadata, dict) or metadata.get(SAM_NORMALIZED):
        return out
    path, prop = metadata.get(ASSET_PATH), metadata.get(ASSET_PROPERTY)
    if not (isinstance(path, str) and path and isinstance(prop, str) and prop) or prop == IMAGE_ASSET_PROPERTY:
        return out  # an image asset is built by Docker: the image refusal names it
    keys = prop.split(".")
    target = out
    for key in keys[:-1]:
        inner = target.get(key)
        target[key] = dict(inner) if isinstance(inner, dict) else {}
        target = target[key]
    target[keys[-1]] = path
    return out


def nested_stacks(resources: Mapping[str, Any]) -> list[str]:
    """`SubApp (Location ./child.yaml)` for each nested stack, to say where the functions are instead."""
    out = []
    for logical_id, resource in resources.items():
        kind = resource.get("Type") if isinstance(resource, dict) else None
        if not isinstance(kind, str) or kind not in NESTED_STACK_TYPES:  # a list or a map cannot be looked up
            continue
        key = NESTED_STACK_TYPES[kind]
        properties = resource.get("Properties")
        location = properties.get(key) if isinstance(properties, dict) else None
        out.append(f"{logical_id} ({key} {location})" if isinstance(location, str) else logical_id)
    return out


FOR_EACH = "Fn::ForEach::"


def expand_for_each(resources: Mapping[str, Any], collection: Callable[[Any], Any]) -> dict[str, Any]:
    """Resources with every `Fn::ForEach::Loop: [Identifier, Collection, {OutputKey: Fragment}]` (the
    AWS::LanguageExtensions transform, which `sam local` expands too) replaced by one copy of its fragment per item,
    `${Identifier}` and `&{Identifier}` (the item without its non-alphanumeric characters) put in keys and strings.
    `collection` resolves the list (a `!Ref` to a CommaDelimitedList parameter, say); a loop it cannot resolve is
    left out, and so found by no one."""
    out: dict[str, Any] = {}
    for key, value in resources.items():
        if not (isinstance(key, str) and key.startswith(FOR_EACH)):
            out[key] = value
            continue
        if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
                and isinstance(value[2], dict)):
            continue
        identifier, items, fragment = value
        try:
            items = collection(items)
        except (Unresolved, Invalid):  # only a deployment (or nothing) can expand it
            continue
        if not isinstance(items, list):
            continue
        for item in items:
            text = str(item).lower() if isinstance(item, bool) else str(item)
            replaced = _put(fragment, identifier, text)
            out.update(expand_for_each(replaced, collection))  # a loop's fragment may hold loops of its own
    return out


def _put(value: Any, identifier: str, item: str) -> Any:
    if isinstance(value, str):
        plain = "".join(ch for ch in item if ch.isalnum())
        return value.replace("${" + identifier + "}", item).replace("&{" + identifier + "}", plain)
    if isinstance(value, dict):
        return {_put(k, identifier, item): _put(v, identifier, item) for k, v in value.items()}
    if isinstance(value, list):
        return [_put(v, identifier, item) for v in value]
    return value


# Lambda's names for the machines it runs functions on, by what `platform.machine()` says of this one.
LAMBDA_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def architecture_note(value: Any, machine: str) -> Optional[str]:
    """What to say when the template's `Architectures` is not this machine's: Python code runs alike, but a
    dependency built for the template's (`sam build` for arm64, a layer of arm64 wheels) fails to load here with an
    ImportError that does not say why."""
    wanted = value[0] if isinstance(value, list) and len(value) == 1 else value
    here = LAMBDA_ARCHITECTURES.get(machine.lower())
    if not isinstance(wanted, str) or here is None or wanted == here:
        return None
    return (f"Architectures {wanted}: the function runs on this machine's {here}; compiled dependencies built for "
            f"{wanted} do not load here")
