"""Learner copies of the notebooks: no answer in them, a commented skeleton in its place, work never lost."""

from __future__ import annotations

import json
from pathlib import Path

from grader.catalogue.labs import load_lab
from grader.catalogue.locate import all_labs
from grader.learner.copies import write_copies


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
