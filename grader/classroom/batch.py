"""Grade many submissions out of process: worker processes (grader.parallel.workers), each with one Environment.

Submissions whose cluster-wide claims collide (the same nodePort, static IP or HTTP host; grader.parallel.claims) run
one after another on one worker; the rest run in parallel. What needs no cluster is decided here: a
submission that is its own error (not YAML, not a notebook), no answer (0 points), or a result of an earlier
run with the same digest. Every grading applies into a fresh namespace that grade() deletes before the
worker returns the record.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from grader.base import interrupt
from grader.base.errors import BadInput, EnvError
from grader.catalogue.labs import lab_values, load_lab
from grader.classroom.handins import Prepared
from grader.classroom.records import Outcome, Record
from grader.cluster.facts import ClusterFacts, discover
from grader.grading.deploy import ClaimTaken, delete_namespace
from grader.grading.environment import EnvironmentSpec, EnvironmentWorker
from grader.grading.results import LabResult, Status
from grader.grading.session import grade
from grader.intake.manifests import fill, load_rendered, parse_docs
from grader.kube.client import Kube, KubeError, KubeUnreachable
from grader.parallel.chains import build_chains
from grader.parallel.claims import claims_of, placeholder_values
from grader.parallel.workers import WorkerSpec, run_chains
from grader.reports import json as json_report
from grader.reports.html import to_html

DEFAULT_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class GradeJob:
    student: str
    lab: str
    digest: str
    files: tuple[tuple[str, str], ...]
    source: str
    timeout_s: float


@dataclass(frozen=True)
class GraderSpec(EnvironmentSpec):
    @contextlib.contextmanager
    def open(self) -> Iterator[_Grader]:
        with self.environment() as env:
            yield _Grader(env)


class _Grader(EnvironmentWorker):
    def run(self, job: GradeJob) -> Record:
        start = time.monotonic()
        record = self._grade_once(job)
        record.seconds = round(time.monotonic() - start, 1)
        return record

    def _grade_once(self, job: GradeJob) -> Record:
        lab = load_lab(job.lab)
        ns = f"{lab.id}-{_slug(job.student)}"[:50].rstrip("-") + f"-{secrets.token_hex(3)}"
        base = Record(job.student, lab.id, Outcome.ERROR, job.digest, source=job.source)
        with tempfile.TemporaryDirectory(prefix="servicelab-batch-") as tmp:
            files = []
            for i, (label, text) in enumerate(job.files):
                path = Path(tmp) / f"{i:03d}.yaml"
                path.write_text(text, encoding="utf-8")
                files.append((path, label))
            try:
                with interrupt.alarm(job.timeout_s) as overtime:
                    try:
                        result: LabResult | None = grade(lab, self.env, namespace=ns, case_files=files)
                    except KeyboardInterrupt:  # pytest turns the alarm into an interrupt of its own
                        if not overtime[0]:
                            raise
                        result = None
            except ClaimTaken as err:  # held by something that takes no Lease (a learner's workspace): not theirs
                base.outcome, base.reason = Outcome.ENV_ERROR, err.render()
                return base
            except BadInput as err:
                base.reason = err.render()
                return base
            except EnvError as err:
                base.outcome, base.reason = Outcome.ENV_ERROR, err.diagnosis
                return base
            except Exception as err:  # a grader bug is not the student's: no score, graded again next run
                base.outcome, base.reason = Outcome.ENV_ERROR, f"the grader failed: {type(err).__name__}: {err}"
                return base
            finally:
                delete_namespace(self.env.kube, ns)  # again: the alarm may have cut grade()'s own cleanup short
        if overtime[0] or result is None:
            base.reason = f"grading took longer than {job.timeout_s:.0f}s: stopped"
            return base
        return _record_of(result, base)


def _record_of(result: LabResult, base: Record) -> Record:
    base.html = to_html(result)
    base.report = json_report.to_dict(result)
    if result.fraction is None:
        base.outcome, base.reason = Outcome.ENV_ERROR, result.diagnosis
        return base
    base.outcome, base.score, base.max_score = Outcome.GRADED, result.score, result.max_score
    reasons = [f"{c.id}: {c.message}" for c in result.checks if c.status is Status.FAIL]
    if result.graded_without:  # the gradebook says it too: n/a is never full marks
        reasons.append(f"graded without: {', '.join(result.graded_without)}")
    base.reason = "; ".join(reasons)
    return base


def settle(prepared: Prepared, previous: Record | None) -> Record | None:
    """The record of a submission that needs no grading now, else None."""
    sub = prepared.submission
    if prepared.error:
        return Record(sub.student, sub.lab, Outcome.ERROR, prepared.digest, reason=prepared.error, source=sub.shown)
    if prepared.empty:
        points = prepared.lab.total_points if prepared.lab else 0
        return Record(
            sub.student,
            sub.lab,
            Outcome.NO_ANSWER,
            prepared.digest,
            score=0,
            max_score=points,
            reason="no answer: nothing but comments where the manifest goes",
            source=sub.shown,
        )
    if previous is not None and previous.digest == prepared.digest and previous.final:
        return previous
    return None


def job_of(prepared: Prepared, timeout_s: float) -> GradeJob:
    sub = prepared.submission
    return GradeJob(sub.student, sub.lab, prepared.digest, prepared.files, sub.shown, timeout_s)


def job_claims(job: GradeJob, facts: ClusterFacts | None) -> frozenset[str]:
    """What grading job holds cluster-wide: its manifests with the lab's starter, plus the lab's `claims`."""
    lab = load_lab(job.lab)
    values = {**placeholder_values(facts, f"claims-{_slug(job.student)}"), **lab_values(lab)}
    try:
        docs = load_rendered([(f, str(f)) for f in lab.starter_files], values, {}, values["NAMESPACE"])
        for label, text in job.files:
            docs += [fill(d, values, {}) for d in parse_docs(text, label, values["NAMESPACE"])]
    except Exception:  # refused (or unreadable) before anything is applied: it holds nothing, and
        docs = []  # the worker's grading makes that submission's row; an error here must not end the batch
    return claims_of(docs) | frozenset(lab.claims)


def grade_prepared(
    prepared: list[Prepared],
    previous: dict[tuple[str, str], Record],
    spec: WorkerSpec[GradeJob, Record],
    *,
    jobs: int = 1,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    facts: ClusterFacts | None = None,
    on_record: Callable[[Record], None] = lambda _: None,
) -> list[Record]:
    """A record for every prepared submission: settled ones at once, the rest graded in worker processes."""
    records: list[Record] = []
    todo: list[GradeJob] = []
    for item in prepared:
        settled = settle(item, previous.get(item.submission.key))
        if settled is None:
            todo.append(job_of(item, timeout_s))
        else:
            records.append(settled)
            on_record(settled)
    if todo:
        claims = {id(job): job_claims(job, facts) for job in todo}
        chains = build_chains(todo, lambda job: claims[id(job)])
        records += run_chains(chains, spec, jobs, crashed=_crashed, on_result=on_record)
    return records


def cluster_facts(spec: GraderSpec) -> ClusterFacts | None:
    """The cluster's placeholder values, so claims compare real addresses; None: claims use the placeholders."""
    try:
        return discover(Kube(context=spec.context, kubeconfig=spec.kubeconfig))
    except (EnvError, KubeUnreachable, KubeError):
        return None  # each grading then reports the environment problem itself


def _crashed(job: GradeJob, why: str) -> Record:
    return Record(job.student, job.lab, Outcome.ENV_ERROR, job.digest, reason=f"not graded: {why}", source=job.source)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "student"
