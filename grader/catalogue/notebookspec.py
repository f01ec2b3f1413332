"""What a lab's notebook shows beyond task.md: `notebook.yaml` (objectives, time, what stands in for Azure on
kind, ...) and `diagram.mmd` (the Service type drawn in mermaid), both beside task.md and both optional. Where the
kind stand-in behaves differently from AKS, `diagram.mmd` draws what AKS builds and `diagram-kind.mmd` what kind
does, and notebook.yaml's `graded_the_same` says why the behaviour the grader checks is the same on both.

Each diagram's pictures (diagram.svg and diagram.png) are committed beside it: grader.catalogue.renderings.

notebooks/build_notebooks.py reads them through the Lab (load_lab validates them with the rest of the folder); a
lab without them gets a notebook without those parts. Grading does not use them.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from grader.base.errors import BadInput
from grader.catalogue.locate import ID_RE
from grader.intake.yamlread import read_mapping

NOTEBOOK_FILE = "notebook.yaml"
DIAGRAM_FILE = "diagram.mmd"
KIND_DIAGRAM_FILE = "diagram-kind.mmd"  # what kind does, beside diagram.mmd (what AKS builds)
DIAGRAM_FILES = (DIAGRAM_FILE, KIND_DIAGRAM_FILE)
NOTEBOOK_KEYS = {
    "minutes",
    "objectives",
    "prerequisites",
    "on_kind",
    "clear_first",
    "observe_network",
    "graded_the_same",
    "try_it",
}
CLEAR_KEYS = {"why", "lab"}
TRY_IT_KEYS = ("title", "explain", "code", "notice")


@dataclass(frozen=True)
class ClearFirst:
    """Another lab whose objects would compete with this one's on a shared controller: the notebook says why,
    then offers a cell that lists them and deletes them only when the learner confirms
    (grader.learner.notebook.clear_other_lab: that lab's answer kinds, in that lab's namespace)."""

    why: str  # the notebook goes on with ": the next cell lists ..."
    lab: str  # the other lab's id


@dataclass(frozen=True)
class TryIt:
    """A hands-on step the notebook shows after the check: what to try and why, a code cell the learner runs (a
    call of a grader.learner.notebook function that observes the lab cluster), then what to notice in its output."""

    title: str
    explain: str
    code: str
    notice: str
    calls: tuple[str, ...]  # the functions the code calls by name: the notebook's setup cell imports them


@dataclass(frozen=True)
class NotebookSpec:
    minutes: int | None = None  # the time estimate shown first
    objectives: tuple[str, ...] = ()  # "You will ..."
    prerequisites: tuple[str, ...] = ()  # ids of the labs this one builds on
    on_kind: str = ""  # what stands in for the Azure piece on the kind lab cluster
    clear_first: ClearFirst | None = None
    observe_network: bool = False  # a lab without a Service: the notebook observes the pod network instead
    diagram: str = ""  # mermaid source of diagram.mmd, without its final newline
    kind_diagram: str = ""  # diagram-kind.mmd: what kind does where it differs from what AKS builds (diagram.mmd)
    graded_the_same: str = ""  # with kind_diagram: why the behaviour the grader checks is the same on both
    try_it: tuple[TryIt, ...] = ()  # hands-on steps after the check


class _Bad(Protocol):
    def __call__(self, key: str, message: str, rule: str, fix: str | None = None) -> BadInput: ...


def read_notebook_spec(lab_path: Path) -> NotebookSpec:
    """notebook.yaml and the diagrams of the lab folder; each may be absent (then that part is left out)."""
    spec = _read_yaml(lab_path / NOTEBOOK_FILE) if (lab_path / NOTEBOOK_FILE).exists() else NotebookSpec()
    diagram, kind_diagram = (_read_diagram(lab_path / name) for name in DIAGRAM_FILES)
    if kind_diagram and not diagram:
        raise BadInput(
            f"{KIND_DIAGRAM_FILE} without {DIAGRAM_FILE}",
            file=str(lab_path / KIND_DIAGRAM_FILE),
            rule=f"{KIND_DIAGRAM_FILE} (what kind does) is drawn beside {DIAGRAM_FILE} (what AKS builds)",
            fix=f"draw {DIAGRAM_FILE} too, or rename this file to {DIAGRAM_FILE}",
        )
    if bool(kind_diagram) != bool(spec.graded_the_same):
        why = "with" if kind_diagram else "without"
        raise BadInput(
            f"graded_the_same {'missing' if kind_diagram else 'given'} {why} {KIND_DIAGRAM_FILE}",
            file=str(lab_path / NOTEBOOK_FILE),
            rule=f"graded_the_same says why the graded behaviour is the same on AKS and kind; it goes with "
            f"{KIND_DIAGRAM_FILE}, the picture of what kind does",
            fix=f"write both {KIND_DIAGRAM_FILE} and graded_the_same, or neither",
        )
    return replace(spec, diagram=diagram, kind_diagram=kind_diagram)


def _read_diagram(path: Path) -> str:
    """A diagram's mermaid source without its final newline; "" when the file is not there."""
    if not path.exists():
        return ""
    diagram = path.read_text(encoding="utf-8").removesuffix("\n")
    rule = f"{path.name} is the mermaid source of the lab's picture, e.g. 'flowchart LR' and its edges"
    if not diagram.strip():
        raise BadInput(f"{path.name} is empty", file=str(path), line=1, rule=rule, fix="draw it or delete the file")
    if "```" in diagram:
        line = diagram[: diagram.index("```")].count("\n") + 1
        raise BadInput(
            f"{path.name} holds ``` (it would end a Markdown code block)", file=str(path), line=line, rule=rule
        )
    return diagram


def _read_yaml(path: Path) -> NotebookSpec:
    data, lines = read_mapping(path)

    def bad(key: str, message: str, rule: str, fix: str | None = None) -> BadInput:
        return BadInput(message, file=str(path), line=lines.get(key), rule=rule, fix=fix)

    if unknown := sorted(set(data) - NOTEBOOK_KEYS):
        raise bad(unknown[0], f"unknown key '{unknown[0]}'", f"notebook.yaml keys: {', '.join(sorted(NOTEBOOK_KEYS))}")
    minutes = data.get("minutes")
    if minutes is not None and (not isinstance(minutes, int) or isinstance(minutes, bool) or minutes <= 0):
        raise bad("minutes", f"minutes {minutes!r} is not a positive integer", "minutes: the time estimate, e.g. 20")
    objectives = data.get("objectives", [])
    if not isinstance(objectives, list) or not all(isinstance(o, str) and o.strip() for o in objectives):
        raise bad(
            "objectives",
            "objectives must be a list of non-empty strings",
            "objectives: what the learner will do, each completing 'You will ...'",
            "objectives: [give pods one stable address, see what reaches it]",
        )
    prerequisites = data.get("prerequisites", [])
    if not isinstance(prerequisites, list) or not all(isinstance(p, str) and ID_RE.match(p) for p in prerequisites):
        raise bad(
            "prerequisites",
            "prerequisites must be a list of lab ids",
            "prerequisites: the labs this one builds on, by id",
            "prerequisites: [clusterip]",
        )
    on_kind = data.get("on_kind", "")
    if not isinstance(on_kind, str) or ("on_kind" in data and not on_kind.strip()):
        raise bad("on_kind", "on_kind must be non-empty text", "on_kind: what stands in for the Azure piece on kind")
    observe = data.get("observe_network", False)
    if not isinstance(observe, bool):
        raise bad("observe_network", f"observe_network {observe!r} is not true or false", "observe_network: true")
    same = data.get("graded_the_same", "")
    if not isinstance(same, str) or ("graded_the_same" in data and not same.strip()):
        raise bad(
            "graded_the_same",
            "graded_the_same must be non-empty text",
            "graded_the_same: why the behaviour the grader checks is the same on AKS and on kind",
        )
    return NotebookSpec(
        minutes,
        tuple(o.strip() for o in objectives),
        tuple(prerequisites),
        on_kind.strip(),
        _clear_first(data.get("clear_first"), bad),
        observe,
        graded_the_same=same.strip(),
        try_it=_try_it(data.get("try_it"), bad),
    )


def _clear_first(data: object, bad: _Bad) -> ClearFirst | None:
    if data is None:
        return None
    rule = "clear_first: {why: TEXT, lab: the id of the lab whose objects compete with this one's}"
    if not isinstance(data, dict) or set(data) != CLEAR_KEYS or not all(isinstance(v, str) for v in data.values()):
        raise bad("clear_first", "clear_first must map why and lab to text", rule)
    if not ID_RE.match(data["lab"]):
        raise bad("clear_first", f"lab {data['lab']!r} is not a lab id", rule, "e.g. lab: ingress")
    if not data["why"].strip():
        raise bad("clear_first", "why is empty", rule, "why: what would compete, and where")
    return ClearFirst(data["why"].strip(), data["lab"])


def _try_it(data: object, bad: _Bad) -> tuple[TryIt, ...]:
    if data is None:
        return ()
    rule = "try_it: a list of steps, each {title: TEXT, explain: TEXT, code: a Python call, notice: TEXT}"
    example = 'try_it: [{title: A pod is replaced, explain: ..., code: replace_a_pod("clusterip"), notice: ...}]'
    if not isinstance(data, list) or not data:
        raise bad("try_it", "try_it must be a non-empty list of steps", rule, example)
    steps = []
    for number, step in enumerate(data, start=1):
        if not isinstance(step, dict) or set(step) != set(TRY_IT_KEYS):
            keys = sorted(step) if isinstance(step, dict) else type(step).__name__
            raise bad("try_it", f"step {number} has {keys}, not the keys {', '.join(TRY_IT_KEYS)}", rule, example)
        empty = [key for key in TRY_IT_KEYS if not isinstance(step[key], str) or not step[key].strip()]
        if empty:
            raise bad("try_it", f"step {number}: {empty[0]} must be non-empty text", rule)
        code = step["code"].strip()
        try:
            tree = ast.parse(code)
        except SyntaxError as err:
            raise bad("try_it", f"step {number}: code is not Python ({err.msg}, its line {err.lineno})", rule) from None
        called = (n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name))
        calls = tuple(dict.fromkeys(name for name in called if not hasattr(builtins, name)))
        if not calls:
            raise bad(
                "try_it",
                f"step {number}: code calls no notebook function",
                rule,
                'code: replace_a_pod("clusterip"), a function of grader.learner.notebook',
            )
        steps.append(TryIt(step["title"].strip(), step["explain"].strip(), code, step["notice"].strip(), calls))
    return tuple(steps)
