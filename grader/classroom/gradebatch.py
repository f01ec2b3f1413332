"""`servicelab grade-batch DIR`: grade a class's hand-ins (folders of manifests, or notebooks) on one cluster.

Writes OUT/grades.csv (one row per student and lab) and OUT/<student>.json (records with the full
servicelab.result/v1 reports). A re-run grades only what has no result, changed, or was ENV-ERROR.
Exit 0 when every submission has a result (a score, or its own error), 3 when some could not be graded
because of the environment, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from grader.base.errors import EXIT_ENV, BadInput
from grader.base.text import printable
from grader.catalogue.labs import load_lab
from grader.classroom.batch import DEFAULT_TIMEOUT_S, GradeJob, GraderSpec, cluster_facts, grade_prepared
from grader.classroom.handins import Prepared, discover, prepare
from grader.classroom.records import Outcome, Record, load_records, write_reports, write_student
from grader.cluster.facts import ClusterFacts
from grader.corpus.solutions import DEFAULT_JOBS
from grader.parallel.workers import WorkerSpec


def register(sub: argparse._SubParsersAction, cluster_args: Callable[[argparse.ArgumentParser], None]) -> None:  # type: ignore[type-arg]
    b = sub.add_parser(
        "grade-batch", help="grade a class: DIR/<student>/<lab>/ (or DIR/<student>/ with --lab)", description=__doc__
    )
    b.add_argument("dir", type=Path, help="the class folder: one folder per student")
    b.add_argument("--lab", help="every student folder is a submission for this lab")
    b.add_argument("--out", type=Path, help="where grades.csv and the JSON reports go (default: DIR-grades)")
    b.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help=f"gradings at once (default {DEFAULT_JOBS})")
    b.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per submission (default 600)")
    cluster_args(b)
    b.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise BadInput(f"--jobs {args.jobs}", rule="--jobs is at least 1")
    if args.lab is not None:
        load_lab(args.lab)  # an unknown lab is the instructor's BadInput, not every student's error
    root: Path = args.dir
    out: Path = args.out or root.resolve().parent / f"{root.resolve().name}-grades"
    prepared = [prepare(s) for s in discover(root, args.lab)]
    spec = GraderSpec(args.context, args.kubeconfig, args.probe_image)
    facts = cluster_facts(spec) if args.jobs > 1 else None  # claims decide what may run at once
    records = grade_into(out, prepared, spec, jobs=args.jobs, timeout_s=args.timeout, facts=facts)
    csv_path = write_reports(out, records)
    print(f"wrote {csv_path} and {len({r.student for r in records})} student report(s) in {out}")
    return summarize(records)


def grade_into(
    out: Path,
    prepared: list[Prepared],
    spec: WorkerSpec[GradeJob, Record],
    *,
    jobs: int,
    timeout_s: float,
    facts: ClusterFacts | None = None,
) -> list[Record]:
    """Grade (or reuse) every submission; each student's JSON is saved as soon as one of theirs is done."""
    previous = load_records(out)
    keys = {p.submission.key for p in prepared}
    current = {k: r for k, r in previous.items() if k in keys}

    def done(record: Record) -> None:
        current[record.key] = record
        print_record(record)
        write_student(out, record.student, [r for r in current.values() if r.student == record.student])

    return grade_prepared(prepared, previous, spec, jobs=jobs, timeout_s=timeout_s, facts=facts, on_record=done)


def print_record(record: Record) -> None:
    score = f"{record.score}/{record.max_score}" if record.score is not None else "no score"
    reason = printable(" ".join(record.reason.split()))
    print(
        f"{record.outcome.value:9} {_who(record)}: {score}" + (f"  {reason[:160]}" if reason else ""),
        flush=True,
    )


def _who(record: Record) -> str:
    return printable(f"{record.student}/{record.lab}")  # folder names, as the class handed them in


def summarize(records: Sequence[Record]) -> int:
    counts = {o: sum(r.outcome is o for r in records) for o in Outcome}
    print(
        f"{len(records)} submission(s): {counts[Outcome.GRADED]} graded, {counts[Outcome.NO_ANSWER]} no answer, "
        f"{counts[Outcome.ERROR]} not graded: error in the submission, "
        f"{counts[Outcome.ENV_ERROR]} not graded: environment"
    )
    env = [r for r in records if r.outcome is Outcome.ENV_ERROR]
    if not env:
        return 0
    print(
        f"{len(env)} submissions not graded: environment (run the same command again after fixing it; "
        "only these are graded again):"
    )
    for record in env:
        print(f"  {_who(record)}: {printable(' '.join(record.reason.split()))[:300]}")
    return EXIT_ENV
