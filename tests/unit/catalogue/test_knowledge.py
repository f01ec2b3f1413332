"""The knowledge check that ends each lab: knowledge.yaml's questions, the cells the builder makes of them, the
learner's copy, and nbgrader's score for them when the cells run (nbclient, no cluster needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _builder import REPO

from grader.base.errors import BadInput
from grader.catalogue.knowledge import POINTS, QUESTIONS, answer_given, feedback, judge, read_knowledge
from grader.catalogue.labs import Lab, load_lab
from grader.catalogue.locate import all_labs
from grader.learner.copies import learner_copy

LABS = [load_lab(path) for path in all_labs()]
SOURCE = REPO / "notebooks" / "source"


def source_notebook(lab: Lab) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((SOURCE / f"{lab.order:02d}-{lab.id}" / f"{lab.id}.ipynb").read_text())
    return found


def cells_by_id(nb: dict[str, Any]) -> dict[str, dict[str, Any]]:
    # an ordinary cell (the learner's to edit: clear_other_lab's confirm) has no nbgrader id
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"] if "nbgrader" in c["metadata"]}


def test_every_lab_asks_three_questions_each_answered_by_one_of_its_choices() -> None:
    assert len(LABS) >= 13
    for lab in LABS:
        assert len(lab.knowledge) == QUESTIONS == 3, lab.id
        for q in lab.knowledge:
            assert q.answer in dict(q.choices), f"{lab.id} question {q.number}"
            assert len(q.choices) >= 3
            assert len(q.why) >= 40, f"{lab.id} question {q.number}: why says why"
            assert len({text for _, text in q.choices}) == len(q.choices), f"{lab.id} question {q.number}"


@pytest.mark.parametrize("lab", LABS, ids=lambda lab: lab.id)
def test_the_notebook_has_graded_cells_with_stable_ids_and_keeps_the_lab_s_points(lab: Lab) -> None:
    cells = cells_by_id(source_notebook(lab))
    assert cells["check"]["metadata"]["nbgrader"]["points"] == lab.total_points  # the lab's own points unchanged
    graded = {gid: c for gid, c in cells.items() if c["metadata"]["nbgrader"]["grade"]}
    assert set(graded) == {"check", "knowledge-1", "knowledge-2", "knowledge-3"}
    for q in lab.knowledge:
        meta = graded[q.grade_id]["metadata"]["nbgrader"]
        assert (meta["points"], meta["locked"], meta["solution"]) == (POINTS, True, False)
        assert graded[q.grade_id]["id"] == q.grade_id
        assert "".join(graded[q.grade_id]["source"]) == f'knowledge("{lab.id}", {q.number})'
        answer = cells[q.answer_cell_id]
        assert answer["metadata"]["nbgrader"]["solution"] is True
        assert answer_given("".join(answer["source"]), q) == q.answer  # the source holds the reference answer
        assert q.question in "".join(cells[f"{q.grade_id}-text"]["source"])
    ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in source_notebook(lab)["cells"]]
    assert ids[-11:-9] == ["knowledge-text", "knowledge-setup"]  # the last part of the notebook


def test_the_learner_s_copy_holds_empty_answers_not_the_reference() -> None:
    lab = LABS[0]
    copy = cells_by_id(learner_copy(source_notebook(lab), lab))
    for q in lab.knowledge:
        source = "".join(copy[q.answer_cell_id]["source"])
        assert f'{q.variable} = ""' in source
        assert "BEGIN SOLUTION" not in source
        assert answer_given(source, q) == ""
    assert "kind: Service" in "".join(copy["manifest"]["source"])  # the manifest cell still gets the skeleton


def test_judging_says_right_and_why_or_what_to_write() -> None:
    q = LABS[0].knowledge[0]
    wrong = next(letter for letter, _ in q.choices if letter != q.answer)
    right = judge(q, f" {q.answer.upper()} ")
    assert right.points == 1.0
    assert q.why in right.text
    assert judge(q, wrong).points == 0.0
    assert q.why not in judge(q, wrong).text  # the learner tries again before being told
    assert f"The answer is {q.answer}" in feedback(q, wrong).text  # the feedback after hand-in says it
    for nothing in (None, "", "z", 3):
        assert judge(q, nothing).points == 0.0
        assert 'answer_1 = "a"' in judge(q, nothing).text


def test_the_answer_cell_is_read_as_data() -> None:
    q = LABS[0].knowledge[0]
    assert answer_given('answer_1 = "a"\nanswer_1 = "c"\n', q) == "c"  # the last assignment, as Python would
    assert answer_given('answer_1 = "a" if True else "b"', q) is None  # an expression is not run
    assert answer_given("answer_1 = (", q) is None
    assert answer_given('answer_2 = "b"', q) is None


def test_a_bad_knowledge_file_is_refused_with_its_rule(tmp_path: Path) -> None:
    item = "{question: Which one, choices: {a: one, b: two, c: three}, answer: b, why: because}"
    (tmp_path / "knowledge.yaml").write_text(f"questions: [{item}, {item}, {item}]\n")
    assert [q.answer for q in read_knowledge(tmp_path)] == ["b", "b", "b"]
    (tmp_path / "knowledge.yaml").write_text(f"questions: [{item}, {item.replace('answer: b', 'answer: d')}, {item}]\n")
    with pytest.raises(BadInput, match="question 2: answer 'd' is not one of the choices a, b, c"):
        read_knowledge(tmp_path)
    (tmp_path / "knowledge.yaml").write_text(f"questions: [{item}]\n")
    with pytest.raises(BadInput, match="3 questions"):
        read_knowledge(tmp_path)
    (tmp_path / "knowledge.yaml").write_text(f"questions: [{item}, {item}, {item.replace('c: three', 'd: three')}]\n")
    with pytest.raises(BadInput, match="lettered a, b, c"):
        read_knowledge(tmp_path)


def knowledge_notebook(lab: Lab, answers: dict[int, str] | None) -> Any:
    """The knowledge cells of the lab's notebook alone: the reference answers, the given ones, or the learner's
    copy's empty ones (None)."""
    nbformat = pytest.importorskip("nbformat")
    nb = source_notebook(lab)
    if answers is None:
        nb = learner_copy(nb, lab)
    nb["cells"] = [c for c in nb["cells"] if c["metadata"]["nbgrader"]["grade_id"].startswith("knowledge-")]
    for q in lab.knowledge:
        if answers and q.number in answers:
            cells_by_id(nb)[q.answer_cell_id]["source"] = f'{q.variable} = "{answers[q.number]}"\n'
    return nbformat.reads(json.dumps(nb), as_version=4)


@pytest.mark.parametrize("given", ["reference", "wrong", "empty"])
def test_run_in_a_kernel_nbgrader_gives_full_points_for_right_answers_and_none_for_wrong(
    given: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbclient = pytest.importorskip("nbclient")
    utils = pytest.importorskip("nbgrader.utils")
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the kernel imports this checkout's grader
    lab = next(lab for lab in LABS if lab.id == "loadbalancer")
    wrong = {q.number: next(letter for letter, _ in q.choices if letter != q.answer) for q in lab.knowledge}
    nb = knowledge_notebook(lab, {"reference": {}, "wrong": wrong, "empty": None}[given])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=False).execute()
    for q in lab.knowledge:
        cell = next(c for c in nb.cells if c.metadata.nbgrader["grade_id"] == q.grade_id)
        assert not [o for o in cell.outputs if o.get("name") == "stderr" or o.output_type == "error"]
        score, most = utils.determine_grade(cell)
        assert (score, most) == ((1.0 if given == "reference" else 0.0), 1.0), f"{given}: question {q.number}"
        said = "".join(o.get("text", "") for o in cell.outputs)
        assert ("right" in said) == (given == "reference"), said


def test_a_hostile_answer_cell_is_no_answer() -> None:
    q = LABS[0].knowledge[0]
    assert answer_given("answer_1 = " + "-" * 200_000 + "1", q) is None  # longer than any answer: not parsed
    assert answer_given("answer_1 = " + "(" * 5_000 + '"b"' + ")" * 5_000, q) is None
