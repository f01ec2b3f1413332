"""The lab model: load `labs/<id>/` and validate all of it, reporting bad input with file, line, rule and fix."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grader._wait import READY_TIMEOUT_S
from grader.checkspec import CheckSpec, read_checks
from grader.facts import KNOWN_VARIABLES
from grader.labpolicy import LabPolicy, policy_from_yaml
from grader.manifests import Doc, manifest_files, placeholders, read_docs
from grader.verdicts import BadInput

LAB_KEYS = {"id", "title", "order", "expects", "variables", "timeouts", "description", "claims", "policy"}
TIMEOUT_KEYS = {"ready", "probe"}
ID_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "solution" | "alternative" | "wrong"
    path: Path
    why: str = ""
    fails: str = ""  # wrong cases: the one check it must fail
    hint: str = ""  # wrong cases: a substring that check's hint must contain
    blocked: tuple[str, ...] = ()  # wrong cases: the checks the failure leaves unobserved (BLOCKED)

    @property
    def label(self) -> str:
        return "solution" if self.kind == "solution" else f"{self.kind}/{self.name}"


@dataclass
class Lab:
    id: str
    title: str
    order: int
    path: Path
    expects: list[tuple[str, str]]
    variables: list[str]
    ready_timeout_s: float = READY_TIMEOUT_S
    probe_deadline_s: float = 15.0
    claims: list[str] = field(default_factory=list)  # cluster-wide things no manifest shows (grader.claims)
    policy: LabPolicy = field(default_factory=LabPolicy)
    checks: list[CheckSpec] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)

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


def labs_root() -> Path | None:
    """The lab catalogue: $SERVICELAB_LABS when set, else the one installed with the grader.

    Never the working directory: a submission folder holding its own labs/ must not replace the checks.
    """
    env = os.environ.get("SERVICELAB_LABS")
    candidates = [Path(env)] if env else [Path(__file__).resolve().parent.parent / "labs"]
    return next((c.resolve() for c in candidates if c.is_dir()), None)


def find_lab(name: str) -> Path:
    """A lab by id, from the catalogue; or by folder, when name is a path (holds a '/')."""
    root = labs_root()
    if ID_RE.match(name):
        if root is not None and (root / name / "lab.yaml").is_file():
            return root / name
    elif (Path(name) / "lab.yaml").is_file():
        return Path(name).resolve()
    known = sorted(p.name for p in root.iterdir() if (p / "lab.yaml").is_file()) if root else []
    raise BadInput(
        f"no lab '{name}' in the catalogue {root}",
        rule="LAB is a lab id from the catalogue, or a path to a folder holding lab.yaml",
        fix=f"known labs: {', '.join(known) or 'none found'} (SERVICELAB_LABS or --labs picks a catalogue)",
    )


def all_labs() -> list[Path]:
    root = labs_root()
    if root is None:
        return []
    return sorted((p for p in root.iterdir() if (p / "lab.yaml").is_file()), key=lambda p: (_order_of(p), p.name))


def _order_of(path: Path) -> int:
    try:
        data = yaml.safe_load((path / "lab.yaml").read_text(encoding="utf-8"))
        return int(data.get("order", 1000)) if isinstance(data, dict) else 1000
    except (OSError, ValueError, TypeError, yaml.YAMLError):
        return 1000


def load_lab(name: str | Path) -> Lab:
    path = find_lab(str(name))
    data, lines = _read_yaml_mapping(path / "lab.yaml")
    lab = _lab_from_yaml(path, data, lines)
    task = path / "task.md"
    if not task.is_file() or not task.read_text(encoding="utf-8").strip():
        raise BadInput("task.md is missing or empty", file=str(task), rule="a lab tells the learner what to build")
    lab.checks = read_checks(lab.checks_file)
    lab.cases = _read_cases(lab)
    _validate_manifests(lab)
    return lab


def _read_yaml_mapping(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    if not path.is_file():
        raise BadInput("file is missing", file=str(path), rule="see docs/ARCHITECTURE.md, 'Lab folder'")
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
        probe_deadline_s=float(timeouts.get("probe", 15)),
        claims=[c.strip() for c in claims],
        policy=policy_from_yaml(data.get("policy"), file, lines.get("policy")),
    )


def _read_cases(lab: Lab) -> list[Case]:
    solution = lab.path / "solution"
    if not solution.is_dir() or not manifest_files(solution):
        raise BadInput("solution/ has no manifest", file=str(solution), rule="every lab has a reference solution")
    cases = [Case("solution", "solution", solution)]
    check_ids = {c.id for c in lab.checks}
    for kind, folder in (("alternative", "alternatives"), ("wrong", "wrong")):
        root = lab.path / folder
        if not root.is_dir():
            continue
        for case_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            data, lines = _read_yaml_mapping(case_dir / "case.yaml")
            file = str(case_dir / "case.yaml")
            allowed = {"why"} if kind == "alternative" else {"why", "fails", "hint", "blocked"}
            extra = set(data) - allowed
            if extra:
                key = sorted(extra)[0]
                raise BadInput(
                    f"unknown key '{key}'",
                    file=file,
                    line=lines.get(key),
                    rule=f"{folder}/<case>/case.yaml keys: {', '.join(sorted(allowed))}",
                )
            if not manifest_files(case_dir):
                raise BadInput("case has no manifest", file=str(case_dir), rule="a case is a folder of manifests")
            if kind == "wrong":
                fails, hint = data.get("fails"), data.get("hint")
                if fails not in check_ids:
                    raise BadInput(
                        f"fails: {fails!r} names no check",
                        file=file,
                        line=lines.get("fails"),
                        rule="fails is the id of one check (function name without test_)",
                        fix=f"checks: {', '.join(sorted(check_ids))}",
                    )
                if not isinstance(hint, str) or not hint.strip():
                    raise BadInput(
                        "hint is missing",
                        file=file,
                        line=lines.get("hint"),
                        rule="hint is a substring the failing check's hint must contain",
                    )
                blocked = data.get("blocked", [])
                if not isinstance(blocked, list) or not set(blocked) <= check_ids - {fails}:
                    raise BadInput(
                        f"blocked: {blocked!r} is not a list of other checks' ids",
                        file=file,
                        line=lines.get("blocked"),
                        rule="blocked lists the checks this mistake leaves unobserved",
                        fix=f"checks: {', '.join(sorted(check_ids))}",
                    )
                cases.append(
                    Case(
                        case_dir.name,
                        kind,
                        case_dir,
                        str(data.get("why", "")),
                        str(fails),
                        hint,
                        tuple(sorted(blocked)),
                    )
                )
            else:
                if not isinstance(data.get("why"), str) or not data["why"].strip():
                    raise BadInput(
                        "why is missing",
                        file=file,
                        line=lines.get("why") or 1,
                        rule="an alternative says why it is also correct",
                    )
                cases.append(Case(case_dir.name, kind, case_dir, data["why"]))
    return cases


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
