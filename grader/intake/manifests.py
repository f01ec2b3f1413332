"""Manifests as data: read them strictly, check each is one namespaced Kubernetes object, fill `${VAR}`
placeholders in the parsed values (never in the text, so a value cannot become YAML), and label every
object the grader applies.

Errors are BadInput with file and line, so a learner sees where the problem is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from grader.base.errors import BadInput, EnvError
from grader.intake.yamlread import parse, read_file
from grader.kube.client import managed_labels

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STARTER = "starter"
LEARNER = "learner"
GRADER_PREFIXES = ("servicelab.dev/", "app.kubernetes.io/managed-by")  # label and annotation keys that are the grader's


@dataclass(frozen=True)
class Doc:
    file: str
    line: int
    obj: dict[str, Any]
    node: yaml.Node | None = None
    origin: str = LEARNER  # STARTER: the lab's own objects; LEARNER: what was handed in

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name", ""))

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


def manifest_files(directory: Path) -> list[Path]:
    """Manifest files under directory (sorted), without a case folder's case.yaml (the lab's own folders)."""
    return sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES and p.name != "case.yaml"
    )


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def read_docs(path: Path, namespace: str | None = None, label: str | None = None, origin: str = LEARNER) -> list[Doc]:
    """Parse one file into documents; every document must be a Kubernetes object without a foreign namespace."""
    shown = label or str(path)
    return parse_docs(read_file(path, shown), shown, namespace, origin)


def parse_docs(text: str, file: str, namespace: str | None = None, origin: str = LEARNER) -> list[Doc]:
    docs = []
    named = "each object needs apiVersion, kind and metadata.name"
    for parsed in parse(text, file):
        obj, line, node = parsed.obj, parsed.line, parsed.node
        if not isinstance(obj, dict):
            rule, fix = (
                "each YAML document is one Kubernetes object",
                "start each object with apiVersion:, kind: and metadata:",
            )
            raise BadInput("a document is not a mapping", file=file, line=line, rule=rule, fix=fix)
        for key in ("apiVersion", "kind"):
            if not isinstance(obj.get(key), str) or not obj.get(key):
                raise BadInput(f"document has no '{key}'", file=file, line=line, rule=named)
        meta = obj.get("metadata")
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta.get("name"):
            raise BadInput(f"{obj['kind']} has no metadata.name", file=file, line=line, rule=named)
        ns = meta.get("namespace")
        if ns is not None and ns != namespace and not PLACEHOLDER.fullmatch(str(ns)):
            raise BadInput(
                f"{obj['kind']}/{meta['name']} sets metadata.namespace: {ns}",
                file=file,
                line=key_line(node, "metadata", "namespace") or line,
                rule="manifests never set metadata.namespace: the grader applies them into its namespace",
                fix="remove the metadata.namespace line",
            )
        docs.append(Doc(file, line, obj, node, origin))
    return docs


def key_line(node: yaml.Node | None, *path: str | int) -> int | None:
    """1-based line of a nested key (a number: a list item) in a composed YAML document; the nearest one found."""
    line: int | None = None
    for key in path:
        if isinstance(key, int):
            if not isinstance(node, yaml.SequenceNode) or not 0 <= key < len(node.value):
                return line
            node = node.value[key]
            line = node.start_mark.line + 1
            continue
        if not isinstance(node, yaml.MappingNode):
            return line
        found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
        if found is None:
            return line
        line = found[0].start_mark.line + 1
        node = found[1]
    return line


def substitute(text: str, values: dict[str, str], file: str = "", missing: dict[str, str] | None = None) -> str:
    def repl(m: re.Match[str]) -> str:
        var = m.group(1)
        if var in values:
            return values[var]
        if missing and var in missing:
            raise EnvError(f"{file}: ${{{var}}} has no value on this cluster: {missing[var]}")
        raise BadInput(
            f"unknown placeholder ${{{var}}}",
            file=file or None,
            rule=f"known placeholders: {', '.join(sorted(values))}",
        )

    return PLACEHOLDER.sub(repl, text)


def fill(doc: Doc, values: dict[str, str], missing: dict[str, str]) -> Doc:
    """The document with every placeholder in its strings replaced by its value on this cluster."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return substitute(value, values, doc.file, missing)
        if isinstance(value, dict):
            return {walk(k): walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return replace(doc, obj=walk(doc.obj))


def read_all(files: list[tuple[Path, str]], namespace: str | None = None, origin: str = LEARNER) -> list[Doc]:
    """Read files (path, label shown in errors) strictly; placeholders stay as written."""
    return [d for path, label in files for d in read_docs(path, namespace, label, origin)]


def load_rendered(
    files: list[tuple[Path, str]], values: dict[str, str], missing: dict[str, str], namespace: str
) -> list[Doc]:
    """Read files and fill their placeholders."""
    return [fill(d, values, missing) for d in read_all(files, namespace)]


def render(docs: list[Doc], run_id: str) -> str:
    """A JSON List for kubectl apply: namespace stripped (applied with -n), grader labels added.

    JSON, not YAML: PyYAML writes strings such as the run id `12e345` unquoted, and kubectl's YAML 1.2
    parser then reads them as numbers.
    """
    out = []
    for doc in docs:
        obj = {**doc.obj, "metadata": dict(doc.obj["metadata"])}
        obj["metadata"].pop("namespace", None)
        obj["metadata"]["labels"] = {**(obj["metadata"].get("labels") or {}), **managed_labels(run_id)}
        out.append(obj)
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": out})


def refusal(doc: Doc, message: str, rule: str, fix: str | None = None, at: tuple[str | int, ...] = ()) -> BadInput:
    """A policy's no to this document: its file, the line of the field `at` (else the document's), rule, fix."""
    line = key_line(doc.node, *at) if at else None
    return BadInput(f"{doc.ref}: {message}", file=doc.file, line=line or doc.line, rule=rule, fix=fix)
