"""`servicelab course autograde ASSIGNMENT`: nbgrader's autograde, with servicelab grading the answers.

In place of `nbgrader autograde` (after `nbgrader collect`): every submitted answer cell is read as YAML and
graded out of process, in parallel where claims allow (grader.classroom.batch); then nbgrader's own Autograde converter
runs per student with grader.classroom.nbplugin instead of Execute (no submitted code runs), so the submission records,
late penalties, locked-cell restore and the autograded notebooks stay nbgrader's. Last, the gradebook is
brought in line with the results: a score where there is one, auto_score None and "needs manual grade" with
the reason where there is not (also when nbgrader could not even read the notebook).

Results and reports: <course>/servicelab/<ASSIGNMENT>/grades.csv and <student>.json. A re-run processes only
students without a result, with a changed answer, or whose result was ENV-ERROR.
"""

from __future__ import annotations

import argparse
import io
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.base.errors import BadInput
from grader.base.text import printable
from grader.catalogue.knowledge import is_knowledge_cell
from grader.classroom.batch import DEFAULT_TIMEOUT_S, GraderSpec, cluster_facts
from grader.classroom.gradebatch import grade_into, summarize
from grader.classroom.handins import Prepared, Submission, lab_id, prepare
from grader.classroom.records import Record, load_records, write_reports
from grader.corpus.solutions import DEFAULT_JOBS

CONFIG = "nbgrader_config.py"


@dataclass
class Course:
    root: Path
    config: Any  # traitlets Config, with the root made absolute
    coursedir: Any  # nbgrader.coursedir.CourseDirectory

    def folder(self, step: str, student: str, assignment: str) -> Path:
        return Path(self.coursedir.format_path(getattr(self.coursedir, f"{step}_directory"), student, assignment))


def register(sub: argparse._SubParsersAction, cluster_args: Callable[[argparse.ArgumentParser], None]) -> None:  # type: ignore[type-arg]
    course = sub.add_parser("course", help="nbgrader course steps that grade with servicelab")
    steps = course.add_subparsers(dest="course_command", required=True, metavar="STEP")
    a = steps.add_parser(
        "autograde",
        help="use instead of 'nbgrader autograde': grades answers as YAML, runs nothing",
        description=__doc__,
    )
    a.add_argument("assignment", help="assignment id, e.g. 02-nodeport")
    a.add_argument("--course-dir", type=Path, default=Path("."), help=f"folder with {CONFIG} (default: .)")
    a.add_argument("--student", help="only this student")
    a.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help=f"gradings at once (default {DEFAULT_JOBS})")
    a.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per answer (default 600)")
    cluster_args(a)
    a.set_defaults(func=autograde)


def open_course(folder: Path) -> Course:
    from nbgrader.coursedir import CourseDirectory  # type: ignore[import-untyped]  # noqa: PLC0415 - [teach] extra
    from traitlets.config.loader import PyFileConfigLoader  # noqa: PLC0415

    config_file = folder / CONFIG
    if not config_file.is_file():
        raise BadInput(
            f"no {CONFIG} in {folder.resolve()}",
            file=str(config_file),
            rule="--course-dir is the nbgrader course folder",
            fix="cd into the course folder (see notebooks/README.md), or pass --course-dir",
        )
    config = PyFileConfigLoader(CONFIG, path=str(folder.resolve())).load_config()
    root = Path(str(config.CourseDirectory.get("root", "."))).expanduser()
    root = root if root.is_absolute() else (folder / root).resolve()
    config.CourseDirectory.root = str(root)
    return Course(root, config, CourseDirectory(config=config))


def autograde(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise BadInput(f"--jobs {args.jobs}", rule="--jobs is at least 1")
    course = open_course(args.course_dir)
    assignment: str = args.assignment
    notebooks = source_notebooks(course, assignment)
    _must_be_in_gradebook(course, assignment)
    students = submitted_students(course, assignment, args.student)
    results = course.root / "servicelab" / assignment
    previous = load_records(results)
    prepared = [
        prepare(Submission(s, lab_id(nb), course.folder("submitted", s, assignment), f"{s}/{assignment}"))
        for s in students
        for nb in notebooks
    ]
    todo = [s for s in students if _needs_work(course, assignment, s, prepared, previous)]
    for student in sorted(set(students) - set(todo)):
        print(f"up to date: {printable(student)} (same answers, graded before)")
    spec = GraderSpec(args.context, args.kubeconfig, args.probe_image)
    facts = cluster_facts(spec) if args.jobs > 1 and todo else None  # claims decide what may run at once
    fresh = grade_into(
        results,
        [p for p in prepared if p.submission.student in todo],
        spec,
        jobs=args.jobs,
        timeout_s=args.timeout,
        facts=facts,
    )
    notebook_of = {(s, lab_id(nb)): nb for s in students for nb in notebooks}
    for student in todo:
        try:
            run_nbgrader(course, assignment, student, results, args.context)
        except Exception as err:  # nbgrader reads the student's notebook: its trouble is not the class's
            print(printable(f"nbgrader could not autograde {student}: {type(err).__name__}: {err}"))
        for record in (r for r in fresh if r.student == student):
            _record_in_gradebook(course, assignment, notebook_of[record.key], record)
    current = {**previous, **{r.key: r for r in fresh}}  # the whole class, also with --student
    csv_path = write_reports(results, list(current.values()))
    print(f"gradebook {course.coursedir.db_url}; servicelab reports: {csv_path}")
    unscored = sum(r.score is None for r in current.values())
    if unscored:
        print(
            f"{unscored} submission(s) without a score need a manual grade (formgrader) before 'nbgrader export', "
            "which counts an empty score as 0"
        )
    return summarize(list(current.values()))


def source_notebooks(course: Course, assignment: str) -> list[str]:
    source = course.folder("source", ".", assignment)
    found = sorted(p.stem for p in source.glob("*.ipynb"))
    if not found:
        raise BadInput(
            f"no notebook in {source}",
            rule="the assignment's source notebooks are in source/ASSIGNMENT/",
            fix="check the assignment id (e.g. 02-nodeport)",
        )
    return found


def _must_be_in_gradebook(course: Course, assignment: str) -> None:
    from nbgrader.api import Gradebook, MissingEntry  # type: ignore[import-untyped]  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbgrader's SQLAlchemy warnings
        with Gradebook(course.coursedir.db_url, course.coursedir.course_id) as gb:
            try:
                gb.find_assignment(assignment)
            except MissingEntry:
                raise BadInput(
                    f"assignment {assignment} is not in the gradebook {course.coursedir.db_url}",
                    rule="autograde grades assignments nbgrader generated",
                    fix=f"run 'nbgrader generate_assignment {assignment}' in {course.root}",
                ) from None


def submitted_students(course: Course, assignment: str, only: str | None) -> list[str]:
    base = course.folder("submitted", "*", assignment).parent.parent
    students = sorted(p.name for p in base.glob("*") if (p / assignment).is_dir()) if base.is_dir() else []
    if only is not None:
        students = [s for s in students if s == only]
    if not students:
        who = f" from {only}" if only else ""
        raise BadInput(
            f"no submission of {assignment}{who} in {base}",
            rule="autograde grades collected submissions",
            fix=f"run 'nbgrader collect {assignment}' in {course.root} first",
        )
    return students


def _needs_work(
    course: Course, assignment: str, student: str, prepared: list[Prepared], previous: dict[tuple[str, str], Record]
) -> bool:
    own = [p for p in prepared if p.submission.student == student]
    for item in own:
        known = previous.get(item.submission.key)
        if known is None or known.digest != item.digest or not known.final:
            return True
    graded_by_nbgrader = course.folder("autograded", student, assignment).is_dir()
    return not graded_by_nbgrader and not any(p.error for p in own)  # nbgrader cannot autograde an unreadable one


def run_nbgrader(course: Course, assignment: str, student: str, results: Path, context: str | None = None) -> None:
    """nbgrader's Autograde converter for one student, forced, with servicelab in place of Execute."""
    from nbgrader.converters import Autograde, NbGraderException  # type: ignore[import-untyped]  # noqa: PLC0415

    from grader.classroom.nbplugin import force_plugin  # noqa: PLC0415 - imports nbgrader

    force_plugin(course.config, results)
    course.config.GradeAnswers.context = context or ""  # an answer missing from results is graded there
    course.coursedir.assignment_id, course.coursedir.student_id = assignment, student
    app = Autograde(coursedir=course.coursedir, config=course.config)
    app.force, app.create_student = True, True
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    propagate, app.log.propagate = app.log.propagate, False  # its tracebacks go to a file, not the terminal
    app.log.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbgrader 0.9's own SQLAlchemy autoflush warnings: noise to instructors
            app.start()
    except NbGraderException:
        results.mkdir(parents=True, exist_ok=True)
        log_file = results / f"nbgrader-{student}.log"
        log_file.write_text(sink.getvalue(), encoding="utf-8")
        errors = [line for line in sink.getvalue().splitlines() if line.startswith("ERROR")]
        print(
            printable(
                f"nbgrader could not autograde {student}: {errors[0][6:] if errors else 'no error logged'} "
                f"(log: {log_file})"
            )
        )
    finally:
        app.log.removeHandler(handler)
        app.log.propagate = propagate


def _record_in_gradebook(course: Course, assignment: str, notebook: str, record: Record) -> None:
    """The gradebook says what the record says, whatever nbgrader's run managed (e.g. an unreadable notebook)."""
    record_in_gradebook(course.coursedir.db_url, course.coursedir.course_id, assignment, notebook, record)


def record_in_gradebook(db_url: str, course_id: str, assignment: str, notebook: str, record: Record) -> None:
    """The lab's grade cells of the student's submitted notebook say what the record says: the lab's fraction of
    each cell's points, or no score (needs a manual grade, the reason as comment). The knowledge check's cells are
    left as they are. The submission must be in the gradebook already."""
    from nbgrader.api import Gradebook, MissingEntry  # noqa: PLC0415

    from grader.classroom.nbplugin import withhold  # noqa: PLC0415

    try:
        with Gradebook(db_url, course_id) as gb:
            cells = [c for c in gb.find_notebook(notebook, assignment).grade_cells if not is_knowledge_cell(c.name)]
            if record.score is None:
                reason = f"not graded ({record.outcome.value}): {printable(record.reason, lines=True)}"
                withhold(
                    db_url,
                    assignment=assignment,
                    notebook=notebook,
                    student=record.student,
                    grade_ids=[c.name for c in cells],
                    reason=reason,
                )
                return
            for cell in cells:
                grade = gb.find_grade(cell.name, notebook, assignment, record.student)
                grade.auto_score = round((record.fraction or 0.0) * float(cell.max_score), 2)
                grade.needs_manual_grade = grade.manual_score is not None
            gb.db.commit()
    except MissingEntry as err:
        print(printable(f"gradebook has no {notebook} of {record.student} ({err}): its result is only in the reports"))
