"""Known fields and their types, for the objects learners may write: checked before any cluster contact.

The field tables are data (grader/data/): core types generated from the official `kubernetes` client
(tools/schema/generate.py), HTTPRoute kept by hand. A null value is an absent field, as the API reads it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import yaml

from grader.base.errors import BadInput

# (apiVersion, kind) -> root type in the field tables
ROOT_TYPES = {
    ("v1", "Service"): "V1Service",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Pod"): "V1Pod",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("networking.k8s.io/v1", "Ingress"): "V1Ingress",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "HTTPRoute",
    ("gateway.networking.k8s.io/v1", "Gateway"): "Gateway",
}
_GENERIC = re.compile(r"^(List|Dict)\[(?:str, )?(.+)\]$")


@cache
def _types() -> dict[str, dict[str, str]]:
    data = resources.files("grader") / "data"
    types: dict[str, dict[str, str]] = {}
    for name in ("fields.json", "gatewayapi.json"):
        types.update(json.loads((data / name).read_text(encoding="utf-8"))["types"])
    return types


def check_fields(obj: dict[str, Any], node: yaml.Node, file: str, root: str) -> None:
    """BadInput at the first unknown field or wrongly typed value, with its line."""
    _check(obj, node, root, root.removeprefix("V1"), file)


def _check(value: Any, node: yaml.Node | None, type_name: str, path: str, file: str) -> None:
    if value is None or type_name in ("object", "datetime"):
        return
    line = node.start_mark.line + 1 if node is not None else None
    generic = _GENERIC.match(type_name)
    if generic:
        _check_container(value, node, generic.group(1), generic.group(2), path=path, file=file)
        return
    scalar = {"str": str, "bytes": str, "int": int, "float": int | float, "bool": bool}.get(type_name)
    if scalar is not None:
        if not isinstance(value, scalar) or (type_name in ("int", "float") and isinstance(value, bool)):
            want = {
                "str": "a string",
                "bytes": "a string",
                "int": "a whole number",
                "float": "a number",
                "bool": "true or false",
            }[type_name]
            raise _wrong(path, want, value, file, line)
        return
    fields = _types().get(type_name)
    if fields is None:
        return  # a type the tables do not describe: the API server judges it
    if not isinstance(value, dict):
        raise _wrong(path, "a mapping", value, file, line)
    for key, (item, item_node) in _pairs(value, node).items():
        if key not in fields:
            key_line = _key_line(node, key) or line
            close = [f for f in fields if f.lower() == str(key).lower()]
            hint = f"did you mean '{close[0]}'?" if close else f"fields here: {', '.join(sorted(fields))}"
            raise BadInput(
                f"unknown field '{path}.{key}'",
                file=file,
                line=key_line,
                rule="every field must exist in the object's API schema",
                fix=hint,
            )
        _check(item, item_node, fields[key], f"{path}.{key}", file)


def _check_container(value: Any, node: yaml.Node | None, container: str, inner: str, *, path: str, file: str) -> None:
    line = node.start_mark.line + 1 if node is not None else None
    if container == "List":
        if not isinstance(value, list):
            raise _wrong(path, "a list", value, file, line)
        items = node.value if isinstance(node, yaml.SequenceNode) else [None] * len(value)
        for i, (item, item_node) in enumerate(zip(value, items, strict=True)):
            _check(item, item_node, inner, f"{path}[{i}]", file)
        return
    if not isinstance(value, dict):
        raise _wrong(path, "a mapping of names to values", value, file, line)
    for key, (item, item_node) in _pairs(value, node).items():
        _check(item, item_node, inner, f"{path}.{key}", file)


def _pairs(value: dict[Any, Any], node: yaml.Node | None) -> dict[Any, tuple[Any, yaml.Node | None]]:
    nodes = {k.value: v for k, v in node.value} if isinstance(node, yaml.MappingNode) else {}
    return {key: (item, nodes.get(str(key))) for key, item in value.items()}


def _key_line(node: yaml.Node | None, key: Any) -> int | None:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if k.value == str(key):
                return int(k.start_mark.line) + 1
    return None


# What to write instead, by the type the field wants: `port: "80"` is text where a number belongs, so its fix is
# to drop the quotes; a label value 1.0 is a number where text belongs, so its fix is to add them.
_TYPE_FIX = {
    "a whole number": "write the number without quotes, e.g. port: 80 (in quotes YAML reads it as text)",
    "a number": "write the number without quotes, e.g. 0.5 (in quotes YAML reads it as text)",
    "a string": 'put text that YAML would read as a number or true/false in quotes, e.g. version: "1.0"',
    "true or false": "write true or false without quotes",
    "a list": "start each item of the list on its own line with '- '",
}
_SHAPE_FIX = "write it as key: value pairs, one per line; labels and annotations are such pairs"


def _wrong(path: str, want: str, value: Any, file: str, line: int | None) -> BadInput:
    shown = "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else repr(value)
    return BadInput(
        f"'{path}' must be {want}, not {shown}",
        file=file,
        line=line,
        rule="every field has the type the API schema gives it",
        fix=_TYPE_FIX.get(want, _SHAPE_FIX),
    )
