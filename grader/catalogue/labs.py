"""The lab model: load `labs/<id>/` and validate all of it, reporting bad input with file, line, rule and fix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
from grader.cluster.facts import KNOWN_VARIABLES, LAB_VARIABLES, TEXT_VARIABLES, ClusterFacts
from grader.intake.labpolicy import LabPolicy, policy_from_yaml
from grader.intake.manifests import Doc, manifest_files, placeholders, read_docs
from grader.intake.yamlread import read_mapping

LAB_KEYS = {"id", "title", "order", "expects", "variables", "defaults", "timeouts", "description", "claims", "policy"}
NODE_PORTS = (30000, 32767)  # the API server's default service-node-port-range
# A host name as an Ingress rule's host and a Gateway listener's hostname take it: lower-case DNS labels, dotted, no
# wildcard (a learner's own host is one host), at most 253 characters
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
HOST_RE = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})+")
TIMEOUT_KEYS = {"ready", "probe"}


@dataclass
class Lab:
    id: str
    title: str
    order: int
    path: Path
    expects: list[tuple[str, str]]
    variables: list[str]
    # what the lab gives its variables, over the cluster's: lab.yaml's `defaults` (LAB_VARIABLES only), or a
    # classroom's per-student values (with_variables)
    values: dict[str, str] = field(default_factory=dict)
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
    defaults = _defaults(data.get("defaults"), variables, bad)
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
    policy = policy_from_yaml(data.get("policy"), file, lines.get("policy"))
    if "NODE_PORT" in defaults:
        low, high = policy.node_ports or (0, -1)
        if not low <= int(defaults["NODE_PORT"]) <= high:
            raise bad(
                "defaults",
                f"defaults.NODE_PORT {defaults['NODE_PORT']} is outside policy.node_ports",
                "the lab's own node port is one its learners may name",
                "widen policy.node_ports or change the default",
            )
    return Lab(
        id=path.name,
        title=data["title"].strip(),
        order=order,
        path=path,
        expects=[(e["kind"], e["name"]) for e in expects],
        variables=list(variables),
        values=defaults,
        ready_timeout_s=float(timeouts.get("ready", READY_TIMEOUT_S)),
        probe_deadline_s=float(timeouts.get("probe", PROBE_DEADLINE_S)),
        claims=[c.strip() for c in claims],
        policy=policy,
    )


def _defaults(data: Any, variables: list[str], bad: Any) -> dict[str, str]:
    """lab.yaml's `defaults`: the value of each declared LAB_VARIABLE (no cluster knows them), and nothing else."""
    rule = f"defaults maps each of {', '.join(LAB_VARIABLES)} the lab declares in 'variables' to its value"
    given = data if data is not None else {}
    if not isinstance(given, dict):
        raise bad("defaults", "defaults is not a mapping", rule, "defaults: {NODE_PORT: 30007}")
    for var in given:
        if var not in variables or var not in LAB_VARIABLES:
            raise bad("defaults", f"defaults names {var!r}", rule, f"remove {var!r} or declare it in 'variables'")
    for var in variables:
        if var in LAB_VARIABLES and var not in given:
            raise bad("variables", f"{var} has no default", rule, f"add defaults: {{{var}: ...}}")
    values = {str(var): str(value) for var, value in given.items()}
    for var, value in values.items():
        if why := variable_problem(var, value):
            raise bad("defaults", f"defaults.{var} {value!r} {why}", rule)
    return values


def variable_problem(var: str, value: str) -> str:
    """Why value cannot be var's ('' when it can)."""
    if var not in KNOWN_VARIABLES or var == "NAMESPACE":
        return f"is no variable a lab can be given ({', '.join(v for v in KNOWN_VARIABLES if v != 'NAMESPACE')})"
    if var == "NODE_PORT" and not (value.isdigit() and NODE_PORTS[0] <= int(value) <= NODE_PORTS[1]):
        return f"is not a node port ({NODE_PORTS[0]}-{NODE_PORTS[1]})"
    if var == "SHOP_HOST" and not (HOST_RE.fullmatch(value) and len(value) <= 253):
        return "is not a host name (lower-case DNS labels joined by dots, e.g. ada.shop.example)"
    if not value.strip():
        return "is empty"
    return ""


def with_variables(lab: Lab, variables: Mapping[str, str]) -> Lab:
    """The lab as one learner does it with their own values (a classroom's: each student's node port): those of
    its declared variables win over its defaults and the cluster's, and its policy accepts them (NODE_PORT given:
    that node port only). Values of variables the lab does not declare are ignored (a student's values serve every
    lab of the class); BadInput for a value no variable can have."""
    for var, value in variables.items():
        if why := variable_problem(var, value):
            raise BadInput(
                f"the value {value!r} of {var} {why}",
                rule="a learner's values are node ports, addresses and hosts the classroom assigns",
                fix="check the variables file the grading service reads (grader.classroom.assign)",
            )
    own = {var: value for var, value in variables.items() if var in lab.variables}
    if not own:
        return lab
    policy = lab.policy
    if "NODE_PORT" in own:
        port = int(own["NODE_PORT"])
        policy = replace(policy, node_ports=(port, port))
    return replace(lab, values={**lab.values, **own}, policy=policy)


def lab_values(lab: Lab) -> dict[str, str]:
    """What the lab gives its declared variables (its defaults, a learner's own): they win over the cluster's."""
    return {var: value for var, value in lab.values.items() if var in lab.variables}


def learner_text(lab: Lab, text: str) -> str:
    """A text of the lab as its learner reads it (task.md, a hint, notebook.yaml's words): each TEXT_VARIABLE it
    declares said with the lab's value (its default, or the learner's own); other placeholders stay as written."""
    for var in TEXT_VARIABLES:
        if var in lab.variables and var in lab.values:
            text = text.replace("${" + var + "}", lab.values[var])
    return text


def facts_for(lab: Lab, facts: ClusterFacts) -> ClusterFacts:
    """The cluster's facts as this lab is graded with: lab_values over the cluster's variables. A copy when they
    differ: the shared facts of an Environment stay as they are."""
    return facts.with_variables(lab_values(lab))


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
