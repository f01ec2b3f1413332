"""The order a learner reads a lab's notebook (notebooks/build_notebooks.py): objectives and prerequisites, short →
the cluster check → the concept → the picture → the task → what the grader will check → look around, answer, check;
task.md split by its paragraphs' bold leads, nothing of it lost or repeated; graded cells as they were."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from _builder import load_builder

from grader.base.errors import BadInput
from grader.catalogue.labs import learner_text, load_lab

REPO = Path(__file__).resolve().parents[3]
LAB_IDS = sorted(p.name for p in (REPO / "labs").iterdir() if (p / "lab.yaml").is_file())
FIRST_CELL_MAX_WORDS = 90


@pytest.fixture(scope="module")
def builder() -> ModuleType:
    return load_builder()


def _ids(nb: object) -> list[str]:
    return [c["id"] for c in nb.cells]  # type: ignore[attr-defined]


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_the_cells_come_in_the_learners_order(builder: ModuleType, lab_id: str) -> None:
    lab = load_lab(lab_id)
    ids = _ids(builder.build(lab))
    reading = [i for i in ids if i in {"objectives", "setup", "concept", "diagram", "task-text", "grader-text"}]
    want = ["objectives", "setup", "concept", *(["diagram"] if lab.notebook.diagram else []), "task-text"]
    assert reading == [*want, "grader-text"]
    assert ids.index("grader-text") < ids.index("explore") < ids.index("manifest") < ids.index("check")
    end = ["progress-text", "progress", "knowledge-text", "knowledge-setup"]  # the knowledge check closes the lab
    assert ids[ids.index("progress-text") : ids.index("knowledge-setup") + 1] == end
    assert ids.index("check") < ids.index("progress-text")


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_the_first_cell_is_short_and_names_the_prerequisites(builder: ModuleType, lab_id: str) -> None:
    lab = load_lab(lab_id)
    first, setup = builder.build(lab).cells[:2]
    assert len(first.source.split()) <= FIRST_CELL_MAX_WORDS
    assert first.source.startswith("# ")
    assert "**Before you start:**" in first.source
    assert "`servicelab up`" in first.source
    for other in lab.notebook.prerequisites:
        assert f"lab {load_lab(other).order:02d} " in first.source
    assert setup.source.endswith("\n\ncluster_ready()")
    assert setup.metadata.nbgrader["locked"]


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_every_paragraph_of_task_md_is_shown_once(builder: ModuleType, lab_id: str) -> None:
    lab = load_lab(lab_id)
    task = learner_text(lab, (lab.path / "task.md").read_text(encoding="utf-8"))  # as the learner reads it
    title, parts = builder.task_sections(task)
    assert title == task.splitlines()[0]
    shown = [p for role in (builder.TASK, builder.CONCEPT, builder.GRADER) for p in _paragraphs(parts[role])]
    assert sorted(shown) == sorted(_paragraphs(task)[1:])  # every paragraph but the title, each once
    assert parts[builder.TASK], "task.md says what to build or answer"
    cells = {c["id"]: c.source for c in builder.build(lab).cells}
    assert parts[builder.TASK] in cells["task-text"]
    assert parts[builder.CONCEPT] in cells["concept"]
    assert parts[builder.GRADER] in cells["grader-text"]
    for check in lab.checks:
        assert check.title in cells["grader-text"]


def test_sections_follow_the_leads(builder: ModuleType) -> None:
    task = (
        "# T\n\nThe starter runs web.\n\n**Build** a Service.\n\nMore about building.\n\n"
        "**What the grader observes**\n\n- it answers\n\n**The AKS angle.** An Azure LB.\n\nAnd more.\n\n"
        "**Try it yourself.** kubectl run.\n\n**Hints you may meet.** Labels."
    )
    title, parts = builder.task_sections(task)
    assert title == "# T"
    assert parts[builder.TASK] == "The starter runs web.\n\n**Build** a Service.\n\nMore about building.\n\n" + (
        "**Try it yourself.** kubectl run."
    )
    assert parts[builder.GRADER] == "**What the grader observes**\n\n- it answers\n\n**Hints you may meet.** Labels."
    assert parts[builder.CONCEPT] == "**The AKS angle.** An Azure LB.\n\nAnd more."


@pytest.mark.parametrize("lab_id", LAB_IDS)
def test_graded_cells_keep_their_ids_and_points(builder: ModuleType, lab_id: str) -> None:
    lab = load_lab(lab_id)
    cells = {c["id"]: c for c in builder.build(lab).cells}
    assert cells["manifest"].metadata.nbgrader == {
        "grade": False,
        "grade_id": "manifest",
        "locked": False,
        "schema_version": 3,
        "solution": True,
        "task": False,
    }
    assert cells["check"].metadata.nbgrader["grade_id"] == "check"
    assert cells["check"].metadata.nbgrader["points"] == lab.total_points


@pytest.mark.parametrize("lab_id", [i for i in LAB_IDS if load_lab(i).notebook.clear_first])
def test_the_clear_cell_deletes_nothing_until_the_learner_confirms(builder: ModuleType, lab_id: str) -> None:
    lab = load_lab(lab_id)
    cells = {c["id"]: c for c in builder.build(lab).cells}
    other = lab.notebook.clear_first.lab  # type: ignore[union-attr]
    assert cells["clear"].source.startswith(f'clear_other_lab("{other}", confirm=False)')
    assert "nbgrader" not in cells["clear"].metadata  # an ordinary cell: the learner edits it to confirm
    assert "kubectl" not in cells["clear"].source
    assert "deletes nothing" in cells["clear-text"].source


def test_try_it_steps_come_after_the_check_each_as_explain_code_notice(builder: ModuleType) -> None:
    lab = load_lab("clusterip")
    assert lab.notebook.try_it, "clusterip's notebook.yaml has a try_it step"
    nb = builder.build(lab)
    ids = _ids(nb)
    assert ids[ids.index("check") + 1 : ids.index("flow-text")] == ["try-1-text", "try-1", "try-1-notice"]
    cells = {c["id"]: c for c in nb.cells}
    assert cells["try-1-text"].source.startswith(f"## Try it: {lab.notebook.try_it[0].title}\n\n")
    assert cells["try-1"].source == 'replace_a_pod("clusterip")'
    assert cells["try-1"].metadata.nbgrader["locked"]
    assert not cells["try-1"].metadata.nbgrader["grade"]
    assert cells["try-1-notice"].source.startswith("**What to notice.** ")
    assert "replace_a_pod" in cells["setup"].source.split("\n")[0]


def test_try_it_code_calling_no_notebook_function_is_bad_input(builder: ModuleType, tmp_path: Path) -> None:
    copy = tmp_path / "clusterip"
    shutil.copytree(REPO / "labs" / "clusterip", copy)
    text = (copy / "notebook.yaml").read_text()
    (copy / "notebook.yaml").write_text(text.replace('replace_a_pod("clusterip")', 'delete_everything("clusterip")'))
    with pytest.raises(BadInput) as info:
        builder.build(load_lab(str(copy)))
    assert "delete_everything(), which is not a function of grader.learner.notebook" in info.value.message
    assert info.value.file == str(copy / "notebook.yaml")
