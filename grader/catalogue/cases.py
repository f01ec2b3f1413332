"""A lab's cases: the reference solution, alternative correct answers and known-wrong answers (case.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.base.errors import BadInput
from grader.base.outcomes import DIAGNOSIS_ID
from grader.intake.manifests import manifest_files
from grader.intake.yamlread import read_mapping

WRONG_KEYS = {"why", "fails", "diagnosis", "hint", "blocked", "same_diagnosis_as"}


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "solution" | "alternative" | "wrong"
    path: Path
    why: str = ""
    fails: str = ""  # wrong cases: the one check it must fail
    hint: str = ""  # wrong cases, optional: a substring that check's hint must contain
    blocked: tuple[str, ...] = ()  # wrong cases: the checks the failure leaves unobserved (BLOCKED)
    diagnosis: str = ""  # wrong cases: the id of the mistake that check must name
    same_diagnosis_as: tuple[str, ...] = ()  # wrong cases of this lab the grader tells apart from it by nothing

    @property
    def label(self) -> str:
        return "solution" if self.kind == "solution" else f"{self.kind}/{self.name}"


def read_cases(lab_path: Path, check_ids: set[str]) -> list[Case]:
    """The lab's reference solution, then its alternatives/ and wrong/ cases, each with its case.yaml checked."""
    solution = lab_path / "solution"
    if not solution.is_dir() or not manifest_files(solution):
        raise BadInput("solution/ has no manifest", file=str(solution), rule="every lab has a reference solution")
    cases = [Case("solution", "solution", solution)]
    for kind, folder in (("alternative", "alternatives"), ("wrong", "wrong")):
        root = lab_path / folder
        if root.is_dir():
            cases += [_read_case(kind, d, check_ids) for d in sorted(p for p in root.iterdir() if p.is_dir())]
    if clash := diagnosis_clashes(cases):
        first, other = clash[0]
        raise BadInput(
            f"wrong cases {first.name} and {other.name} both declare that {first.fails} fails with {first.diagnosis}",
            file=str(first.path / "case.yaml"),
            rule="a diagnosis id tells a wrong case apart: two cases that could pass with each other's diagnosis "
            "say so on purpose",
            fix=f"give one a diagnosis of its own, or declare same_diagnosis_as: [{other.name}] here "
            f"and same_diagnosis_as: [{first.name}] in {other.name}",
        )
    return cases


def diagnosis_clashes(cases: list[Case]) -> list[tuple[Case, Case]]:
    """Pairs of wrong cases (of different names) that could pass with each other's declared diagnosis (the same
    failing check and id) without either declaring the other in same_diagnosis_as."""
    wrong = [c for c in cases if c.kind == "wrong"]
    return [
        (a, b)
        for i, a in enumerate(wrong)
        for b in wrong[i + 1 :]
        if a.name != b.name
        and (a.fails, a.diagnosis) == (b.fails, b.diagnosis)
        and not (b.name in a.same_diagnosis_as and a.name in b.same_diagnosis_as)
    ]


def _read_case(kind: str, case_dir: Path, check_ids: set[str]) -> Case:
    data, lines = read_mapping(case_dir / "case.yaml")

    def bad(key: str, message: str, rule: str, *, list_checks: bool = False, fix: str | None = None) -> BadInput:
        fix = f"checks: {', '.join(sorted(check_ids))}" if list_checks else fix
        return BadInput(message, file=str(case_dir / "case.yaml"), line=lines.get(key) or 1, rule=rule, fix=fix)

    allowed = {"why"} if kind == "alternative" else WRONG_KEYS
    if extra := sorted(set(data) - allowed):
        folder = case_dir.parent.name
        raise bad(
            extra[0], f"unknown key '{extra[0]}'", f"{folder}/<case>/case.yaml keys: {', '.join(sorted(allowed))}"
        )
    if not manifest_files(case_dir):
        raise BadInput("case has no manifest", file=str(case_dir), rule="a case is a folder of manifests")
    why = data.get("why")
    if kind == "alternative":
        if not isinstance(why, str) or not why.strip():
            raise bad("why", "why is missing", "an alternative says why it is also correct")
        return Case(case_dir.name, kind, case_dir, why)
    fails, hint, blocked = data.get("fails"), data.get("hint", ""), data.get("blocked", [])
    diagnosis, alike = data.get("diagnosis"), data.get("same_diagnosis_as", [])
    if fails not in check_ids:
        rule = "fails is the id of one check (function name without test_)"
        raise bad("fails", f"fails: {fails!r} names no check", rule, list_checks=True)
    if not isinstance(diagnosis, str) or not DIAGNOSIS_ID.match(diagnosis):
        raise bad(
            "diagnosis",
            f"diagnosis: {diagnosis!r} is not a diagnosis id",
            "diagnosis is the id of the mistake the failing check must name ('<lab or area>/<mistake>')",
            fix="the ids are the diagnosis= of lab.fail, lab.expect and the must_* calls in checks.py",
        )
    if not isinstance(hint, str) or (hint and len(hint.strip()) < len(diagnosis)):
        raise bad(
            "hint",
            f"hint {hint!r} is shorter than the diagnosis {diagnosis} it tests",
            "a hint (optional) is a substring of the failing check's hint that says more than its diagnosis id",
            fix="leave hint out, or quote more of the message",
        )
    if not isinstance(blocked, list) or not set(blocked) <= check_ids - {fails}:
        rule = "blocked lists the checks this mistake leaves unobserved"
        raise bad("blocked", f"blocked: {blocked!r} is not a list of other checks' ids", rule, list_checks=True)
    if not isinstance(alike, list) or not all(isinstance(n, str) and n != case_dir.name for n in alike):
        rule = "same_diagnosis_as lists other wrong cases of this lab whose mistake the grader names alike"
        raise bad("same_diagnosis_as", f"same_diagnosis_as: {alike!r} is not a list of other cases' names", rule)
    if unknown := sorted(set(alike) - {d.name for d in case_dir.parent.iterdir() if d.is_dir()}):
        rule = "same_diagnosis_as names wrong cases of this lab"
        raise bad("same_diagnosis_as", f"same_diagnosis_as: no wrong case {unknown[0]!r}", rule)
    return Case(
        case_dir.name,
        kind,
        case_dir,
        str(why or ""),
        str(fails),
        hint.strip(),
        tuple(sorted(blocked)),
        diagnosis,
        tuple(sorted(alike)),
    )
