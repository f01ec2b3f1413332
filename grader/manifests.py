"""Read manifest files, check them, substitute `${VAR}` placeholders and label every object the grader applies.

Errors are BadInput with file and line, so a learner sees where the problem is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grader._kube import managed_labels
from grader.verdicts import BadInput, EnvError

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Doc:
    file: str
    line: int
    obj: dict[str, Any]

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
    """Manifest files under directory (sorted), without a case folder's case.yaml."""
    return sorted(p for p in directory.rglob("*")
                  if p.is_file() and p.suffix in MANIFEST_SUFFIXES and p.name != "case.yaml")


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def read_docs(path: Path, namespace: str | None = None, label: str | None = None) -> list[Doc]:
    """Parse one file into documents; every document must be a Kubernetes object without a foreign namespace."""
    shown = label or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read manifest: {err}", file=shown) from err
    return parse_docs(text, shown, namespace)


def parse_docs(text: str, file: str, namespace: str | None = None) -> list[Doc]:
    try:
        nodes = list(yaml.compose_all(text))
        objs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise BadInput(f"not valid YAML: {getattr(err, 'problem', None) or err}", file=file,
                       line=mark.line + 1 if mark else None, rule="manifests are YAML documents separated by ---",
                       fix="fix the indentation or quoting at that line") from err
    docs = []
    for node, obj in zip(nodes, objs, strict=True):
        if obj is None:
            continue
        line = node.start_mark.line + 1 if node is not None else 1
        if not isinstance(obj, dict):
            raise BadInput("a document is not a mapping", file=file, line=line,
                           rule="each YAML document is one Kubernetes object")
        for key in ("apiVersion", "kind"):
            if not isinstance(obj.get(key), str) or not obj.get(key):
                raise BadInput(f"document has no '{key}'", file=file, line=line,
                               rule="each object needs apiVersion, kind and metadata.name")
        meta = obj.get("metadata")
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta.get("name"):
            raise BadInput(f"{obj['kind']} has no metadata.name", file=file, line=line,
                           rule="each object needs apiVersion, kind and metadata.name")
        ns = meta.get("namespace")
        if ns is not None and ns != namespace and not PLACEHOLDER.fullmatch(str(ns)):
            raise BadInput(f"{obj['kind']}/{meta['name']} sets metadata.namespace: {ns}", file=file,
                           line=_key_line(node, "metadata", "namespace") or line,
                           rule="manifests never set metadata.namespace: the grader applies them into its namespace",
                           fix="remove the metadata.namespace line")
        docs.append(Doc(file, line, obj))
    return docs


def _key_line(node: yaml.Node | None, *path: str) -> int | None:
    """1-based line of a nested key in a composed YAML document, if present."""
    line: int | None = None
    for key in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
        if found is None:
            return None
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
        raise BadInput(f"unknown placeholder ${{{var}}}", file=file or None,
                       rule=f"known placeholders: {', '.join(sorted(values))}")
    return PLACEHOLDER.sub(repl, text)


def load_rendered(files: list[tuple[Path, str]], values: dict[str, str], missing: dict[str, str],
                  namespace: str) -> list[Doc]:
    """Read files (path, label shown in errors), substitute placeholders, parse and check every document."""
    docs: list[Doc] = []
    for path, label in files:
        try:
            raw = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise BadInput(f"cannot read manifest: {err}", file=label) from err
        docs += parse_docs(substitute(raw, values, label, missing), label, namespace)
    return docs


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
