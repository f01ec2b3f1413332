"""The lab model: load `labs/<id>/` and validate all of it, reporting bad input with file, line, rule and fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.base.errors import BadInput
from grader.base.wait import PROBE_DEADLINE_S, READY_TIMEOUT_S
from grader.catalogue.cases import Case, read_cases
from grader.catalogue.checkspec import CheckSpec, read_checks
from grader.catalogue.hintspec import CheckHint, read_hints
from grader.catalogue.knowledge import Question, read_knowledge
from grader.catalogue.locate import ID_RE, find_lab
from grader.catalogue.notebookspec import NotebookSpec, read_notebook_spec
from grader.cluster.facts import KNOWN_VARIABLES
from grader.intake.labpolicy import LabPolicy, policy_from_yaml
from grader.intake.manifests import Doc, manifest_files, placeholders, read_docs
from grader.intake.yamlread import read_mapping

LAB_KEYS = {"id", "title", "order", "expects", "variables", "timeouts", "description", "claims", "policy"}
TIMEOUT_KEYS = {"ready", "probe"}


@dataclass
class Lab:
    id: str
    title: str
    order: int
    path: Path
    expects: list[tuple[str, str]]
    variables: list[str]
    ready_timeout_s: float = READY_TIMEOUT_S
    probe_deadline_s: float = PROBE_DEADLINE_S
    claims: list[str] = field(default_factory=list)  # cluster-wide things no manifest shows (grader.parallel.claims)
    policy: LabPolicy = field(default_factory=LabPolicy)
    checks: list[CheckSpec] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    notebook: NotebookSpec = field(default_factory=NotebookSpec)  # notebook.yaml, diagram.mmd: never graded
    hints: dict[str, CheckHint] = field(default_factory=dict)  # hints.yaml: check id -> concept, observe command
    knowledge: tuple[Question, ...] = ()  # knowledge.yaml: the questions that end the lab's notebook

    @property
    def checks_file(self) -> Path:
        return self.path / "checks.py"

    @property
    def starter_files(self) -> list[Path]:
        starter = self.path / "starter"
        return manifest_files(starter) if starter.is_dir() else []

    @property
    def solution(self) -> Case:
        return next(c for c in self.cases if c.kind == "solution")

    @property
    def default_namespace(self) -> str:
        return f"lab-{self.id}"

    @property
    def total_points(self) -> int:
        return sum(c.points for c in self.checks)


def load_lab(name: str | Path) -> Lab:
    path = find_lab(str(name))
    data, lines = read_mapping(path / "lab.yaml")
    lab = _lab_from_yaml(path, data, lines)
    task = path / "task.md"
    if not task.is_file() or not task.read_text(encoding="utf-8").strip():
        raise BadInput("task.md is missing or empty", file=str(task), rule="a lab tells the learner what to build")
    lab.checks = read_checks(lab.checks_file)
    lab.cases = read_cases(lab.path, {c.id for c in lab.checks})
    _validate_manifests(lab)
    lab.notebook = read_notebook_spec(lab.path)
    lab.hints = read_hints(lab.path, [c.id for c in lab.checks])
    lab.knowledge = read_knowledge(lab.path)
    return lab


def _lab_from_yaml(path: Path, data: dict[str, Any], lines: dict[str, int]) -> Lab:
    file = str(path / "lab.yaml")

    def bad(key: str, msg: str, rule: str, fix: str | None = None) -> BadInput:
        return BadInput(msg, file=file, line=lines.get(key), rule=rule, fix=fix)

    unknown = set(data) - LAB_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise bad(key, f"unknown key '{key}'", f"lab.yaml keys: {', '.join(sorted(LAB_KEYS))}")
    if data.get("id") != path.name or not ID_RE.match(path.name):
        raise bad(
            "id",
            f"id is {data.get('id')!r}, folder is '{path.name}'",
            "id equals the folder name: lowercase letters, digits, '-'",
            f"set 'id: {path.name}'",
        )
    if not isinstance(data.get("title"), str) or not data["title"].strip():
        raise bad("title", "title is missing", "title is a non-empty string")
    order = data.get("order", 1000)
    if not isinstance(order, int) or isinstance(order, bool):
        raise bad("order", f"order {order!r} is not an integer", "order is an integer (labs sort by it)")
    expects = data.get("expects", [])
    if not isinstance(expects, list) or not all(
        isinstance(e, dict) and isinstance(e.get("kind"), str) and isinstance(e.get("name"), str) for e in expects
    ):
        raise bad("expects", "expects must be a list of {kind, name}", "expects: [{kind: Service, name: web}]")
    variables = data.get("variables", [])
    if not isinstance(variables, list) or any(v not in KNOWN_VARIABLES for v in variables):
        raise bad(
            "variables",
            f"variables {variables!r} not all known",
            f"variables is a list of: {', '.join(KNOWN_VARIABLES)}",
        )
    timeouts = data.get("timeouts", {}) or {}
    if (
        not isinstance(timeouts, dict)
        or set(timeouts) - TIMEOUT_KEYS
        or not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in timeouts.values())
    ):
        raise bad("timeouts", "timeouts must map ready/probe to positive seconds", "timeouts: {ready: 120, probe: 15}")
    claims = data.get("claims", [])
    if not isinstance(claims, list) or not all(isinstance(c, str) and c.strip() for c in claims):
        raise bad(
            "claims",
            f"claims {claims!r} is not a list of non-empty strings",
            'claims lists what a case holds cluster-wide beyond its manifests, e.g. ["port:host:8080"]',
        )
    return Lab(
        id=path.name,
        title=data["title"].strip(),
        order=order,
        path=path,
        expects=[(e["kind"], e["name"]) for e in expects],
        variables=list(variables),
        ready_timeout_s=float(timeouts.get("ready", READY_TIMEOUT_S)),
        probe_deadline_s=float(timeouts.get("probe", PROBE_DEADLINE_S)),
        claims=[c.strip() for c in claims],
        policy=policy_from_yaml(data.get("policy"), file, lines.get("policy")),
    )


def _validate_manifests(lab: Lab) -> None:
    declared = set(lab.variables) | {"NAMESPACE"}
    files = lab.starter_files + [f for case in lab.cases for f in manifest_files(case.path)]
    for file in files:
        used = placeholders(file.read_text(encoding="utf-8"))
        undeclared = used - declared
        if undeclared:
            var = sorted(undeclared)[0]
            raise BadInput(
                f"uses ${{{var}}} which lab.yaml does not declare",
                file=str(file),
                rule=f"placeholders: {', '.join(KNOWN_VARIABLES)}, declared in lab.yaml 'variables'",
                fix=f"add {var} to 'variables' in lab.yaml" if var in KNOWN_VARIABLES else None,
            )
        read_docs(file)
    solution_docs: list[Doc] = [d for f in manifest_files(lab.solution.path) for d in read_docs(f)]
    refs = {(d.kind, d.name) for d in solution_docs}
    for kind, name in lab.expects:
        if (kind, name) not in refs:
            raise BadInput(
                f"solution/ has no {kind}/{name}",
                file=str(lab.path / "lab.yaml"),
                rule="every object in 'expects' is in the reference solution",
            )
