"""CloudFormation's short tags read as their long form (`!Ref X` is `{"Ref": "X"}`), as SAM CLI reads them, so a
YAML and a JSON template are the same data."""

from __future__ import annotations

from typing import Any, Callable

import yaml

from lambdatui.config_error import TOO_DEEP, ConfigError

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
