"""A SAM function's `Layers`, read as the template's reader reads its other properties: a `!Ref` to a layer resource
of the template with a local ContentUri (a folder or a .zip) is laid out at /opt; a layer in AWS (an ARN, or what
only CloudFormation can resolve) is named and left out, for `--layer` to give a local copy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from lambdatui.config_error import ConfigError
from lambdatui.layer_checks import layer_problem
from lambdatui.sam_template.intrinsics import OMITTED, Unresolved, as_mapping, describe, is_intrinsic
from lambdatui.sam_template.resources import with_asset_path

LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")


class LayerReading:
    """Part of the template's function reader (reader._FunctionReader): it runs on the reader's state."""

    props: dict[str, Any]
    template: Any  # SamTemplate

    if TYPE_CHECKING:  # the reader's own, which these methods use
        def _chosen(self, raw: Any, where: str) -> Any: ...
        def _note(self, text: str) -> None: ...
        def _fail(self, text: str) -> ConfigError: ...
        def resolve(self, raw: Any, where: str) -> Any: ...
        def _local_path(self, key: str, value: Any, what: str) -> Optional[Path]: ...

    def _layers(self) -> tuple[Path, ...]:
        raw = self.props.get("Layers")
        if raw is None:
            return ()
        try:
            raw = self._chosen(raw, "Layers")
        except Unresolved as exc:
            self._note(f"Layers is {exc}, which only CloudFormation can resolve: left out")
            return ()
        if raw is OMITTED:
            return ()
        if not isinstance(raw, list):
            self._note(f"Layers is {describe(raw)}, which only CloudFormation can resolve: left out")
            return ()
        layers = []
        for item in raw:
            try:
                item = self._chosen(item, "Layers")
            except Unresolved as exc:
                self._note(f"layer {exc} only CloudFormation can resolve: left out (give a local copy with --layer)")
                continue
            if item is OMITTED:
                continue
            path = self._layer(item)
            if path is not None:
                layers.append(path)
        return tuple(layers)

    def _layer(self, item: Any) -> Optional[Path]:
        # A `Ref` to a list or a map names nothing to look up: resolving it below says so.
        if is_intrinsic(item) and isinstance(item.get("Ref"), str) and item["Ref"] in self.template.resources:
            layer_id = item["Ref"]
            resource = as_mapping(self.template.resources[layer_id])
            if resource.get("Type") not in LAYER_TYPES:
                self._note(f"layer !Ref {layer_id} is a {resource.get('Type')}, not a layer: left out")
                return None
            props = with_asset_path(as_mapping(resource.get("Properties")), resource.get("Metadata"))
            key = "ContentUri" if "ContentUri" in props else "Content"
            try:
                content = self.resolve(props.get(key), f"layer {layer_id}'s {key}")
            except Unresolved as exc:
                self._note(f"layer {layer_id}'s {key} is {exc}, which only CloudFormation can resolve: left out")
                return None
            path = self._local_path(f"layer {layer_id}'s {key}", content, "folder or .zip") if content else None
            problem = layer_problem(path) if path is not None else None
            if problem:  # checked as --layer checks it (a fifo named .zip would hang its extraction)
                raise self._fail(f"layer {layer_id}'s {key} {content}: {problem}")
            if path is None:
                self._note(f"layer {layer_id} is not in a local folder ({key} {describe(content)}): left out "
                           "(give a local copy with --layer)")
            return path
        try:
            value = self.resolve(item, "Layers")
        except Unresolved as exc:
            self._note(f"layer {exc} only CloudFormation can resolve: left out (give a local copy with --layer)")
            return None
        if value is OMITTED:
            return None
        self._note(f"layer {value} is in AWS, not in this folder: left out (give a local copy with --layer)")
        return None
