"""nbgrader preprocessors that grade a servicelab notebook without executing it.

`GradeAnswers` replaces nbgrader's `Execute` in `Autograde.autograde_preprocessors` (AUTOGRADE_PREPROCESSORS,
which notebooks/nbgrader_config.py and force_plugin set): it reads the answer cell as YAML
(intake.answers), grades it out of process in a fresh namespace (classroom.batch), and writes the result into
the graded check cell as its output: the HTML report (checks, hints, reachability matrix, which
`generate_feedback` shows) and the points as the cell's value (nbgrader's partial credit). With
`results_dir` set (`servicelab course autograde` does), a result graded there for the same answer is used.

A submission that is its own error or ENV-ERROR gets an error output (nbgrader would read 0 from it), then
`WithholdUngraded`, after `SaveAutoGrades`, takes the score back out of the gradebook: auto_score None,
needs manual grading, the reason as the answer cell's comment. Never 0 for what the grader could not judge.

The knowledge check's graded cells (grade_id knowledge-N) are not the lab's: each is judged from its answer cell,
read as data (`answer_N = "b"`), whatever became of the lab's objects.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader.api import Gradebook  # type: ignore[import-untyped]
from nbgrader.preprocessors import NbGraderPreprocessor  # type: ignore[import-untyped]
from traitlets import Bool, Float, Unicode

from grader.base.errors import ServicelabError
from grader.base.text import html as html_text
from grader.base.text import printable
from grader.catalogue.knowledge import Verdict, answer_given, feedback, is_knowledge_cell
from grader.catalogue.labs import load_lab
from grader.classroom.batch import DEFAULT_TIMEOUT_S, GraderSpec, grade_prepared
from grader.classroom.handins import Submission, lab_id, prepare
from grader.classroom.records import Outcome, Record, load_records, write_student
from grader.intake.answers import ANSWER_CELL_ID

AUTOGRADE_PREPROCESSORS = [
    "grader.classroom.nbplugin.GradeAnswers",  # instead of nbgrader.preprocessors.Execute: nothing is run
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
    "grader.classroom.nbplugin.WithholdUngraded",
]
KEY = "servicelab"  # resources[KEY]: what GradeAnswers tells WithholdUngraded


class GradeAnswers(NbGraderPreprocessor):  # type: ignore[misc]  # nbgrader ships no type hints
    results_dir = Unicode("", help="folder of servicelab.batch/v1 records to reuse and to add to").tag(config=True)
    timeout = Float(DEFAULT_TIMEOUT_S, help="seconds to grade one answer").tag(config=True)
    reuse_env_errors = Bool(False, help="use an ENV-ERROR record of results_dir as it is").tag(config=True)
    context = Unicode("", help="kubeconfig context of the lab cluster (default: the current one)").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        info = resources["nbgrader"]
        record = self.record_for(nb, info["student"], info["assignment"], info["notebook"])
        every = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
        questions = [c for c in every if is_knowledge_cell(c.metadata.nbgrader.get("grade_id", ""))]
        graded = [c for c in every if not any(c is q for q in questions)]
        grade_knowledge(nb, lab_id(info["notebook"]), questions)
        for cell in graded:
            cell.outputs = outputs_for(record, float(cell.metadata.nbgrader.get("points", 0)))
            cell.execution_count = 1
        if record.score is None:
            resources[KEY] = {
                "reason": f"not graded ({record.outcome.value}): {printable(record.reason, lines=True)}",
                "grade_ids": [c.metadata.nbgrader["grade_id"] for c in graded],
            }
        self.log.info(
            "servicelab: %s %s/%s: %s",
            record.outcome.value,
            printable(record.student),
            printable(record.lab),
            f"{record.score}/{record.max_score}" if record.score is not None else printable(record.reason[:200]),
        )
        return nb, resources

    def record_for(self, nb: NotebookNode, student: str, assignment: str, notebook: str) -> Record:
        sub = Submission(student, lab_id(notebook), Path("."), f"{student}/{assignment}")
        prepared = prepare(sub, notebook=nb)
        out = Path(self.results_dir) if self.results_dir else None
        previous = load_records(out) if out else {}
        known = previous.get(prepared.submission.key)
        if known is not None and known.digest == prepared.digest and (known.final or self.reuse_env_errors):
            return known  # graded moments ago by `servicelab course autograde`, in parallel
        records = grade_prepared([prepared], previous, GraderSpec(self.context or None), timeout_s=self.timeout)
        if out is not None:
            current = {**{k: r for k, r in previous.items() if k[0] == student}, records[0].key: records[0]}
            write_student(out, student, list(current.values()))
        return records[0]


def grade_knowledge(nb: NotebookNode, lab: str, cells: list[NotebookNode]) -> None:
    """The knowledge check's graded cells: each answer read from its answer cell as data (never run), judged,
    and written as the cell's output: what the feedback page shows, and the points nbgrader reads."""
    if not cells:
        return
    try:
        questions = {q.grade_id: q for q in load_lab(lab).knowledge}
    except ServicelabError:
        questions = {}
    sources = {c.metadata.get("nbgrader", {}).get("grade_id", ""): _text(c.source) for c in nb.cells}
    for cell in cells:
        question = questions.get(cell.metadata.nbgrader.get("grade_id", ""))
        if question is None:  # not a question of this lab (any more): no points, said so
            verdict = Verdict(0.0, "This question is not part of the lab's knowledge check.")
        else:
            verdict = feedback(question, answer_given(sources.get(question.answer_cell_id, ""), question))
        cell.outputs = [
            _node({"output_type": "stream", "name": "stdout", "text": verdict.text + "\n"}),
            _node(
                {
                    "output_type": "execute_result",
                    "execution_count": 1,
                    "metadata": {},
                    "data": {"text/plain": repr(verdict.points)},
                }
            ),
        ]
        cell.execution_count = 1


def _text(source: str | list[str]) -> str:
    return source if isinstance(source, str) else "".join(source)


class WithholdUngraded(NbGraderPreprocessor):  # type: ignore[misc]
    """After SaveAutoGrades: no auto score for a submission that could not be graded; the reason as comment."""

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        info = resources.get(KEY)
        if info:
            meta = resources["nbgrader"]
            withhold(
                meta["db_url"],
                assignment=meta["assignment"],
                notebook=meta["notebook"],
                student=meta["student"],
                grade_ids=info["grade_ids"],
                reason=info["reason"],
            )
        return nb, resources


def withhold(db_url: str, *, assignment: str, notebook: str, student: str, grade_ids: list[str], reason: str) -> None:
    with Gradebook(db_url) as gb:
        for grade_id in grade_ids:
            grade = gb.find_grade(grade_id, notebook, assignment, student)
            grade.auto_score = None
            grade.needs_manual_grade = True
        comment_ids = {c.name for c in gb.find_notebook(notebook, assignment).solution_cells}
        for cell_id in sorted(comment_ids & {ANSWER_CELL_ID}) or sorted(comment_ids)[:1]:
            gb.find_comment(cell_id, notebook, assignment, student).auto_comment = reason
        gb.db.commit()


def outputs_for(record: Record, points: float) -> list[NotebookNode]:
    """The check cell's outputs: report and value (a score), or the reason as an error (no score)."""
    if record.score is not None:
        earned = round((record.fraction or 0.0) * points, 2)
        text = f"{record.outcome.value}: {record.score}/{record.max_score} points"
        html = record.html or f"<p>{escape(text)}. {html_text(record.reason)}</p>"
        return [
            _display(html, text),
            _node(
                {
                    "output_type": "execute_result",
                    "execution_count": 1,
                    "metadata": {},
                    "data": {"text/plain": repr(earned)},
                }
            ),
        ]
    head = "ENV-ERROR: not graded" if record.outcome is Outcome.ENV_ERROR else "Not graded: error in the submission"
    reason = html_text(record.reason)
    html = f"<div class='servicelab'><p><b>{escape(head)}</b></p><pre>{reason}</pre>{record.html}</div>"
    return [
        _display(html, f"{head}\n{printable(record.reason, lines=True)}"),
        _node(
            {
                "output_type": "error",
                "ename": "NotGraded",
                "evalue": f"{head} (the reason is above)",
                "traceback": [f"NotGraded: {head} (the reason is above)"],
            }
        ),
    ]


def _display(html: str, text: str) -> NotebookNode:
    return _node({"output_type": "display_data", "metadata": {}, "data": {"text/html": html, "text/plain": text}})


def _node(data: dict[str, Any]) -> NotebookNode:
    node: NotebookNode = from_dict(data)  # type: ignore[no-untyped-call]  # attribute access, as nbgrader reads
    return node


def force_plugin(config: Any, results_dir: Path | None = None) -> None:
    """Make an nbgrader config grade with servicelab (never Execute), whatever nbgrader_config.py says."""
    config.Autograde.autograde_preprocessors = list(AUTOGRADE_PREPROCESSORS)
    if results_dir is not None:
        config.GradeAnswers.results_dir = str(results_dir)
        config.GradeAnswers.reuse_env_errors = True  # just graded: grading again now would not fix the cluster
