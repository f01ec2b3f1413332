"""What `hint()` says before the grader's own words: `hints.yaml` beside checks.py gives each check the idea behind
it (hint step 1) and a command that lets the learner see it for themselves (step 2). Steps 3 and 4 come from the
graded run (what the check observed; its diagnosis and fix), grader.learner.progress puts them together.

The file is optional for a lab (a lab without it gets the two steps from the run only); when present it covers
every check of checks.py and names no other. `${NAMESPACE}` in a command is the learner's lab namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.base.errors import BadInput
from grader.intake.yamlread import read_mapping

HINTS_FILE = "hints.yaml"
HINT_KEYS = {"concept", "observe"}
NAMESPACE_PLACEHOLDER = "${NAMESPACE}"
_RULE = (
    "hints.yaml maps each check id (the test_* name without test_) to {concept: the idea behind the check, "
    "observe: commands that show it, one a line}"
)


@dataclass(frozen=True)
class CheckHint:
    concept: str  # the idea the check tests, in a sentence or three
    observe: str  # one command per line; ${NAMESPACE} is filled in when shown

    def command(self, namespace: str) -> str:
        return self.observe.replace(NAMESPACE_PLACEHOLDER, namespace)


def read_hints(lab_path: Path, check_ids: list[str]) -> dict[str, CheckHint]:
    """hints.yaml of the lab folder ({} when there is none), checked against the lab's check ids."""
    path = lab_path / HINTS_FILE
    if not path.exists():
        return {}
    data, lines = read_mapping(path)
    file = str(path)
    if unknown := sorted(set(data) - set(check_ids)):
        raise BadInput(
            f"'{unknown[0]}' is not a check of checks.py",
            file=file,
            line=lines.get(str(unknown[0])),
            rule=_RULE,
            fix=f"the checks are: {', '.join(check_ids)}",
        )
    if missing := [c for c in check_ids if c not in data]:
        raise BadInput(f"check '{missing[0]}' has no hints", file=file, rule=_RULE, fix=f"add '{missing[0]}:'")
    hints = {}
    for check_id in check_ids:
        entry, line = data[check_id], lines.get(check_id)
        if not isinstance(entry, dict) or set(entry) != HINT_KEYS:
            raise BadInput(f"{check_id}: wants exactly concept and observe", file=file, line=line, rule=_RULE)
        if not all(isinstance(v, str) and v.strip() for v in entry.values()):
            raise BadInput(f"{check_id}: concept and observe must be non-empty text", file=file, line=line, rule=_RULE)
        hints[check_id] = CheckHint(" ".join(entry["concept"].split()), entry["observe"].strip())
    return hints
