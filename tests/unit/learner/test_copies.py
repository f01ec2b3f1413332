"""Learner copies of the notebooks: no answer in them, a commented skeleton in its place, work never lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.base.errors import BadInput
from grader.catalogue.labs import load_lab
from grader.catalogue.locate import all_labs
from grader.grading.submission import judge_submission
from grader.intake.manifests import manifest_files, read_docs
from grader.learner.copies import BLANK, skeleton, write_copies


def _answer_cell(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return next("".join(c["source"]) for c in cells if "".join(c["source"]).startswith("%%"))


def test_copies_hold_no_answer_only_a_skeleton(tmp_path: Path) -> None:
    written = write_copies(tmp_path)
    assert len(written) == len(all_labs())  # one notebook per lab of the catalogue
    for path in written:
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text
        lab = load_lab(path.stem)
        answer = _answer_cell(path)
        body = [line for line in answer.splitlines()[1:] if line.strip()]
        assert all(line.startswith("#") for line in body)  # runs unanswered without applying anything
        for kind, name in lab.expects:
            assert f"# kind: {kind}" in answer
            assert f"#   name: {name}" in answer
        solution = (lab.solution.path / next(iter(sorted(p.name for p in lab.solution.path.iterdir())))).read_text()
        spec_lines = [line for line in solution.splitlines() if line.startswith("  ") and ":" in line][-1:]
        assert not any(line in answer for line in spec_lines)


def test_an_answered_copy_is_never_overwritten(tmp_path: Path) -> None:
    path = next(p for p in write_copies(tmp_path) if p.stem == "nodeport")
    notebook = json.loads(path.read_text())
    cell = next(c for c in notebook["cells"] if "".join(c["source"]).startswith("%%"))
    cell["source"] = "%%servicelab_answer nodeport\napiVersion: v1\nkind: Service\n"
    path.write_text(json.dumps(notebook))
    rewritten = write_copies(tmp_path)
    assert path not in rewritten
    assert _answer_cell(path).endswith("kind: Service\n")


# --- a skeleton per kind: it parses, and filled with the solution's values the lab's policy accepts it -----------
def _uncommented(skeleton: str) -> str:
    """What a learner gets with Ctrl+/ on the block: one `# ` off each line (`## ...` stays a comment)."""
    return "\n".join(line[2:] if line.startswith("# ") else line.removeprefix("#") for line in skeleton.splitlines())


def _filled(blank: Any, solution: Any) -> Any:
    """The skeleton with each `...` replaced by the solution's value at that place; a field the solution does not
    have is left out (a skeleton names more fields than one lab needs)."""
    if blank == BLANK:
        return solution
    if isinstance(blank, dict) and isinstance(solution, dict):
        return {k: _filled(v, solution[k]) for k, v in blank.items() if k in solution}
    if isinstance(blank, list) and isinstance(solution, list):
        return [_filled(b, s) for b, s in zip(blank, solution, strict=False)]
    return blank


@pytest.mark.parametrize("lab_id", sorted(p.name for p in all_labs()))
def test_each_skeleton_filled_with_the_solution_is_accepted(lab_id: str) -> None:
    lab = load_lab(lab_id)
    text = skeleton(lab)
    assert all(line.startswith("#") for line in text.splitlines())  # runs unanswered, applying nothing
    blanks = [d for d in yaml.safe_load_all(_uncommented(text)) if d]
    assert [(d["kind"], d["metadata"]["name"]) for d in blanks] == lab.expects
    solution = {(d.kind, d.name): d.obj for f in manifest_files(lab.solution.path) for d in read_docs(f)}
    filled = [_filled(b, solution[(b["kind"], b["metadata"]["name"])]) for b in blanks]
    judged = judge_submission(lab, text=yaml.safe_dump_all(filled, sort_keys=False))  # refused: BadInput
    assert {(d.kind, d.name) for d in judged} >= set(lab.expects)


def test_a_configmap_skeleton_has_data_not_spec_and_says_to_quote() -> None:
    text = skeleton(load_lab("pod-networking"))
    assert "# spec:" not in text
    assert "#   pods-share-node-subnet: ...\n" in text
    assert "quote yes, no" in text
    unquoted = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: observations}\ndata:\n  pods-share-node-subnet: no\n"
    with pytest.raises(BadInput):  # why the skeleton says so: an unquoted no is a boolean, which the policy refuses
        judge_submission(load_lab("pod-networking"), text=unquoted)
