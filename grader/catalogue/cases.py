"""A lab's cases: the reference solution, alternative correct answers and known-wrong answers (case.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.base.errors import BadInput
from grader.intake.manifests import manifest_files
from grader.intake.yamlread import read_mapping


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
    return cases


def _read_case(kind: str, case_dir: Path, check_ids: set[str]) -> Case:
    data, lines = read_mapping(case_dir / "case.yaml")

    def bad(key: str, message: str, rule: str, *, list_checks: bool = False) -> BadInput:
        fix = f"checks: {', '.join(sorted(check_ids))}" if list_checks else None
        return BadInput(message, file=str(case_dir / "case.yaml"), line=lines.get(key) or 1, rule=rule, fix=fix)

    allowed = {"why"} if kind == "alternative" else {"why", "fails", "hint", "blocked"}
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
    fails, hint, blocked = data.get("fails"), data.get("hint"), data.get("blocked", [])
    if fails not in check_ids:
        rule = "fails is the id of one check (function name without test_)"
        raise bad("fails", f"fails: {fails!r} names no check", rule, list_checks=True)
    if not isinstance(hint, str) or not hint.strip():
        raise bad("hint", "hint is missing", "hint is a substring the failing check's hint must contain")
    if not isinstance(blocked, list) or not set(blocked) <= check_ids - {fails}:
        rule = "blocked lists the checks this mistake leaves unobserved"
        raise bad("blocked", f"blocked: {blocked!r} is not a list of other checks' ids", rule, list_checks=True)
    return Case(case_dir.name, kind, case_dir, str(why or ""), str(fails), hint, tuple(sorted(blocked)))
