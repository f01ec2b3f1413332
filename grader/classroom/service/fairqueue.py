"""The grading queue: at most one grading per student at a time, students served in turn, N workers.

Policy (docs/CLASSROOM_SERVICE.md):
- A request for a lab the student already has *waiting* (not started) joins that job: both callers get the same
  job and result. It starts later than either request, so it grades what was there when they asked, or newer.
- A request for a lab whose grading is *running* waits behind it (the namespace may have changed since it started).
- Each student has at most `per_student` jobs waiting; one more is refused (QueueFull: 429, ask again later).
- A free worker takes the next job of the student who has waited longest since their last grading started
  (one who never had a grading first; among equals, the oldest request): a student with 20 requests gets one
  grading per turn, never two before everyone waiting has had one.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("servicelab.service.queue")

# (namespace, lab, the student's variables) -> servicelab.result/v1 report
GradeFn = Callable[[str, str, Mapping[str, str]], dict[str, Any]]
DEFAULT_WORKERS = 4
DEFAULT_PER_STUDENT = 5


class QueueFull(Exception):
    """The student already has the most jobs waiting that one may have."""


class NotGradable(Exception):
    """The grading function's answer for what is not the service's fault nor a result: shown to the student
    (e.g. the namespace does not exist yet)."""


@dataclass(eq=False)
class Job:
    id: str
    student: str
    namespace: str
    lab: str
    requested: float
    seq: int
    variables: Mapping[str, str] = field(default_factory=dict)  # the student's own values (their node port)
    state: str = "queued"  # queued, running, done, error
    started: float | None = None
    finished: float | None = None
    report: dict[str, Any] | None = None
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Hooks:
    """What the service does as a job moves on (the gradebook's writes); each gets the job."""

    queued: Callable[[Job], None] = lambda _: None
    started: Callable[[Job], None] = lambda _: None
    finished: Callable[[Job], None] = lambda _: None


class FairQueue:
    def __init__(
        self,
        grade: GradeFn,
        *,
        workers: int = DEFAULT_WORKERS,
        per_student: int = DEFAULT_PER_STUDENT,
        hooks: Hooks | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if workers < 1 or per_student < 1:
            raise ValueError(f"workers ({workers}) and per_student ({per_student}) must be at least 1")
        self._grade = grade
        self._per_student = per_student
        self._hooks = hooks or Hooks()
        self._clock = clock
        self._cond = threading.Condition()
        self._waiting: dict[str, deque[Job]] = {}
        self._running: set[str] = set()  # students with a grading running
        self._last_start: dict[str, int] = {}  # student -> the start counter when their last grading started
        self._starts = 0
        self._seq = 0
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"servicelab-grader-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    # --- callers ----------------------------------------------------------------------------------
    def submit(self, student: str, namespace: str, lab: str, variables: Mapping[str, str] | None = None) -> Job:
        """The job that will grade lab in namespace for student with their variables: a waiting one for the same
        lab (and values), or a new one."""
        own = dict(variables or {})
        with self._cond:
            waiting = self._waiting.setdefault(student, deque())
            same = next((j for j in waiting if (j.lab, j.namespace, j.variables) == (lab, namespace, own)), None)
            if same is not None:
                return same
            if len(waiting) >= self._per_student:
                raise QueueFull(
                    f"you have {len(waiting)} gradings waiting (at most {self._per_student}): wait for one to finish"
                )
            self._seq += 1
            job = Job(secrets.token_hex(8), student, namespace, lab, self._clock(), self._seq, own)
            self._hooks.queued(job)  # in the gradebook before anyone can start it
            waiting.append(job)
            self._cond.notify()
        return job

    def waiting(self, student: str) -> int:
        with self._cond:
            return len(self._waiting.get(student, ()))

    def stop(self, timeout_s: float = 30.0) -> None:
        """No new gradings start; running ones finish (up to timeout_s each thread)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout_s)

    # --- workers ----------------------------------------------------------------------------------
    def _next_job(self) -> Job | None:
        """The next job by the policy above, or None when stopping; waits while there is none."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                ready = [s for s, jobs in self._waiting.items() if jobs and s not in self._running]
                if ready:
                    student = min(ready, key=lambda s: (self._last_start.get(s, -1), self._waiting[s][0].seq))
                    job = self._waiting[student].popleft()
                    self._running.add(student)
                    self._starts += 1
                    self._last_start[student] = self._starts
                    job.state, job.started = "running", self._clock()
                    return job
                self._cond.wait()

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                self._hooks.started(job)
                self._run(job)
            finally:
                with self._cond:
                    self._running.discard(job.student)
                    if not self._waiting.get(job.student):
                        self._waiting.pop(job.student, None)
                    self._cond.notify_all()

    def _run(self, job: Job) -> None:
        try:
            job.report = self._grade(job.namespace, job.lab, job.variables)
            job.state = "done"
        except NotGradable as err:
            job.state, job.error = "error", str(err)
        except Exception as err:  # the grader's own failure: no score, said so, and the service goes on
            log.exception("grading %s of %s in %s failed", job.lab, job.student, job.namespace)
            job.state, job.error = "error", f"the grader failed: {type(err).__name__}: {err}"
        job.finished = self._clock()
        try:
            self._hooks.finished(job)
        except Exception:  # the gradebook could not be written: the caller still gets the result
            log.exception("recording job %s failed", job.id)
        job.done.set()
