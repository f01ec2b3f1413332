"""Read manifests written by someone else as plain data: strict YAML, bounded in size, never expanded.

Someone else's YAML is refused, with file, line, rule and fix, when it uses what Kubernetes objects never
need and a hostile file could abuse: anchors and aliases (an alias bomb expands to gigabytes), merge keys,
tags beyond the plain JSON types (`!!binary`, `!!python/...`), duplicate keys (last-wins hides a mistake),
text that is not UTF-8, files, texts or document counts over the caps, nesting deeper than any object
needs (code that walks a value recurses), and numbers the API cannot hold (an integer beyond 64 bits, one
of thousands of digits, infinity or NaN). Dates stay strings, as Kubernetes reads them. The event scan
runs before anything is built, so a refused file costs one linear pass.
"""

from __future__ import annotations

import codecs
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grader.base.errors import BadInput

MAX_FILE_BYTES = 256 * 1024  # also the most characters of a text parsed that was never a file (an answer cell)
MAX_DOCUMENTS = 50
MAX_DEPTH = 32  # mappings and lists inside one another; a Deployment's deepest field is about 12 levels down
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # the API's widest integer (int64)
MAX_NUMBER_CHARS = 40  # a number's text is read only when at most this long (int() of 5,000 digits raises)
_TOO_DEEP = f"mappings and lists nested deeper than {MAX_DEPTH} levels"
_DEPTH_RULE = f"a manifest nests at most {MAX_DEPTH} levels: no Kubernetes object needs more"
_DEPTH_FIX = "write the object the task asks for; remove the nested values"
_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"  # libyaml's own limit (1,000 levels), met before ours
NUMBER_RULE = "a number is a 64-bit integer or a finite decimal, as the Kubernetes API reads numbers"
NUMBER_FIX = "write the number the field needs, or quote it if it is text"
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where present
FIX_YAML = "write plain YAML: mappings, lists, strings, numbers, true/false"


@dataclass(frozen=True)
class Parsed:
    """One YAML document: the data, and the node it came from (for line numbers of nested keys)."""

    file: str
    line: int
    obj: Any
    node: yaml.Node


class _StrictLoader(_Base):  # type: ignore[misc]
    """libyaml's safe loader, with duplicate keys refused and timestamps kept as the strings they are."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(
                    "a merge key (<<) is not allowed",
                    key_node.start_mark.line + 1,
                    "merges copy other values by reference, which manifests do not use",
                )
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) or key is None:
                raise _Refused("a mapping key must be a plain scalar", key_node.start_mark.line + 1, FIX_YAML)
            if key in seen:
                raise _Refused(
                    f"duplicate key '{key}' (first at line {seen[key]})",
                    key_node.start_mark.line + 1,
                    "each key appears once in a mapping: YAML would silently keep only the last",
                )
            seen[key] = key_node.start_mark.line + 1
        return dict(super().construct_mapping(node, deep=deep))

    def construct_timestamp_as_text(self, node: yaml.ScalarNode) -> str:
        return str(node.value)

    def construct_bounded_int(self, node: yaml.ScalarNode) -> int:
        line = node.start_mark.line + 1
        if len(node.value) > MAX_NUMBER_CHARS:
            raise _Refused(f"the number {number_preview(node.value)} is out of range", line, NUMBER_RULE, NUMBER_FIX)
        value = int(super().construct_yaml_int(node))
        if not INT_MIN <= value <= INT_MAX:
            raise _Refused(f"the number {number_preview(node.value)} is out of range", line, NUMBER_RULE, NUMBER_FIX)
        return value

    def construct_finite_float(self, node: yaml.ScalarNode) -> float:
        value = float(super().construct_yaml_float(node))
        if not math.isfinite(value):
            line = node.start_mark.line + 1
            raise _Refused(f"the number {number_preview(node.value)} is not finite", line, NUMBER_RULE, NUMBER_FIX)
        return value


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_timestamp_as_text)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_bounded_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _StrictLoader.construct_finite_float)


def number_preview(text: str) -> str:
    """A number as written, shortened when long: '99999999999999999999...' (5,000 characters)."""
    return text if len(text) <= MAX_NUMBER_CHARS else f"{text[:20]}... ({len(text):,} characters)"


class _Refused(Exception):
    def __init__(self, message: str, line: int, rule: str, fix: str = FIX_YAML) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.rule = rule
        self.fix = fix


def decode(data: bytes, file: str, rule: str = "manifests are UTF-8 text") -> str:
    """UTF-8 text (a BOM is tolerated); anything else is refused with the line of the first bad byte."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise BadInput("the file is UTF-16, not UTF-8", file=file, line=1, rule=rule, fix="save the file as UTF-8")
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise BadInput(
            f"byte 0x{data[err.start]:02x} is not UTF-8",
            file=file,
            line=line,
            rule=rule,
            fix="save the file as UTF-8 (not Latin-1 or Windows-1252)",
        ) from err


def read_file(path: Path, shown: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of one regular file, refused unread when it is larger than max_bytes."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise BadInput(
                f"the file is {size:,} bytes; the limit is {max_bytes:,}",
                file=shown,
                rule="a manifest file is at most 256 KiB",
                fix="split it, or remove what the lab does not need",
            )
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as err:
        raise BadInput(f"cannot read the file: {err.strerror or err}", file=shown) from err
    return decode(data, shown)


def parse(text: str, file: str) -> list[Parsed]:
    """Every non-empty YAML document in text, built only after the whole stream passed the event scan."""
    if len(text) > MAX_FILE_BYTES:  # a text that was never a file passes here too: an answer cell, a batch job's
        raise BadInput(
            f"the text is {len(text):,} characters; the limit is {MAX_FILE_BYTES:,}",
            file=file,
            rule="a manifest is at most 256 KiB",
            fix="split it, or remove what the lab does not need",
        )
    try:
        _scan(text)
        loader = _StrictLoader(text)
        try:
            docs: list[Parsed] = []
            while loader.check_node():
                node = loader.get_node()
                obj = loader.construct_document(node)
                if obj is not None:
                    docs.append(Parsed(file, node.start_mark.line + 1, obj, node))
            return docs
        finally:
            loader.dispose()
    except _Refused as err:
        raise BadInput(err.message, file=file, line=err.line, rule=err.rule, fix=err.fix) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        line = mark.line + 1 if mark else _reader_line(text, err)
        if problem == _LIBYAML_TOO_DEEP:  # libyaml's scanner runs ahead of the scan's events: the same rule
            raise BadInput(_TOO_DEEP, file=file, line=line, rule=_DEPTH_RULE, fix=_DEPTH_FIX) from None
        raise BadInput(
            f"not valid YAML: {problem}",
            file=file,
            line=line,
            rule="manifests are YAML documents separated by ---",
            fix="fix the indentation or quoting at that line",
        ) from None
    except (ValueError, TypeError, OverflowError) as err:  # a scalar the safe constructor cannot build
        raise BadInput(
            f"a value cannot be read: {err}", file=file, rule="plain YAML scalars only", fix=FIX_YAML
        ) from None


def _reader_line(text: str, err: yaml.YAMLError) -> int | None:
    """The line of a character the reader refused (a NUL, a control character): it gives an offset, no mark."""
    position = getattr(err, "position", None)
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else None


def _scan(text: str) -> None:
    documents = 0
    depth = 0
    for event in yaml.parse(text, Loader=_Base):
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(_TOO_DEEP, line, _DEPTH_RULE, _DEPTH_FIX)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(
                "anchors (&name) and aliases (*name) are not allowed",
                line,
                "write each value out: Kubernetes objects never need YAML references",
            )
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in _PLAIN_TAGS:
            raise _Refused(
                f"the tag {tag} is not allowed",
                line,
                "only plain types: strings, numbers, booleans, null, mappings and lists",
            )
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > MAX_DOCUMENTS:
                raise _Refused(
                    f"more than {MAX_DOCUMENTS} documents",
                    line,
                    f"a manifest file holds at most {MAX_DOCUMENTS} objects",
                )


def read_mapping(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """A trusted YAML file of ours (lab.yaml, case.yaml) that must be a mapping; the line of each top-level key."""
    if not path.is_file():
        raise BadInput("file is missing", file=str(path), rule="see docs/WRITING_CHECKS.md, 'The lab folder'")
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise BadInput(
            f"not valid YAML: {getattr(err, 'problem', None) or err}",
            file=str(path),
            line=mark.line + 1 if mark else None,
        ) from err
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise BadInput("must be a YAML mapping", file=str(path), line=1)
    lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
    return data, lines
