"""CloudFormation's short tags read as their long form (`!Ref X` is `{"Ref": "X"}`), as SAM CLI reads them, so a
YAML and a JSON template are the same data."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator, Optional

import yaml

from lambdatui.config_error import ConfigError

# A template nested deeper than PyYAML's recursive parser can follow (a few hundred levels; about 130 of tags).
TOO_DEEP_YAML = "nested too deeply for the YAML parser (Python's recursion limit)"

# What a template may expand to once its YAML aliases are followed, in characters (each node counts one, each
# scalar its length too). CloudFormation takes templates of at most 1 MB, so a real one is far below this; an
# alias bomb ("billion laughs") is far above it, and would take minutes and gigabytes to evaluate.
MAX_EXPANDED_SIZE = 4_000_000

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


def _timestamp_as_written(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """An unquoted date (`2024-01-01`) stays the text it is: CloudFormation passes it on as that string, and SAM
    local's str() of PyYAML's date gives the same."""
    return loader.construct_scalar(node)  # type: ignore[arg-type]


TemplateLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_written)


def _children(node: yaml.Node) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
    """Each child node with a label for paths (a key's text, an index) and the node whose line to quote."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            label = key.value if isinstance(key, yaml.ScalarNode) else "?"
            yield label, key, key
            yield label, value, key
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield f"[{index}]", item, item


def _check_aliases(root: yaml.Node, origin: str, text_size: int) -> None:
    """Refuse a node graph that aliases make cyclic or huge, before anything expands it.

    Iterative (no recursion limit), and each node is measured once however many aliases name it, so a normal
    template costs one walk over its nodes.
    """
    limit = max(MAX_EXPANDED_SIZE, 2 * text_size)  # a large template without aliases is never "expanded"
    sizes: dict[int, int] = {}
    on_path = {id(root)}
    stack: list[tuple[yaml.Node, str, Iterator[tuple[str, yaml.Node, yaml.Node]]]] = [(root, "", _children(root))]

    def path_to(label: str) -> str:
        parts = [entry[1] for entry in stack[1:]] + [label]
        return ".".join(parts).replace(".[", "[")

    while stack:
        node, _, children = stack[-1]
        for label, child, quoted in children:
            if id(child) in on_path:
                mark = quoted.start_mark
                raise ConfigError(f"{origin}:{mark.line + 1}:{mark.column + 1}: {path_to(label)}: a YAML alias to a "
                                  f"node that contains it (anchored on line {child.start_mark.line + 1}): the "
                                  "template would be infinite")
            if isinstance(child, yaml.ScalarNode) or id(child) in sizes:
                continue
            on_path.add(id(child))
            stack.append((child, label, _children(child)))
            break
        else:
            size = 1 + sum(len(c.value) + 1 if isinstance(c, yaml.ScalarNode) else sizes[id(c)]
                           for _, c, _ in _children(node))
            if size > limit:
                where = path_to("")[:-1] if len(stack) > 1 else "the template"
                raise ConfigError(f"{origin}: {where}: its YAML aliases expand to over {limit:,} characters "
                                  "(CloudFormation takes a template of at most 1 MB): refused")
            sizes[id(node)] = size
            on_path.discard(id(node))
            stack.pop()


def _load_yaml(text: str, origin: str) -> Any:
    loader = TemplateLoader(text)  # a SafeLoader: plain data and the tags above, nothing else
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_aliases(node, origin, len(text))
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _json_error(text: str) -> Optional[json.JSONDecodeError]:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return exc
    except RecursionError:
        return None
    return None


def parse_template_text(text: str, origin: str) -> Any:
    """The template's data, or one ConfigError line naming where the YAML (or, for a .json file, the JSON) went
    wrong. JSON is YAML, so one parser reads both, as SAM CLI's falls back to it."""
    try:
        return _load_yaml(text, origin)
    except yaml.YAMLError as exc:
        json_error = _json_error(text) if origin.lower().endswith(".json") else None
        if json_error is not None:  # a broken template.json: say what JSON says, where it says it
            raise ConfigError(f"{origin}:{json_error.lineno}:{json_error.colno}: not valid JSON: "
                              f"{json_error.msg}") from None
        if isinstance(exc, yaml.MarkedYAMLError):
            mark = exc.problem_mark or exc.context_mark
            where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
            problem = " ".join(str(exc.problem or exc.context or "malformed").split())
            raise ConfigError(f"{where}: not valid YAML: {problem}") from None
        raise ConfigError(f"{origin}: not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(f"{origin}: {TOO_DEEP_YAML}") from None
