"""The grading queue: one grading per student at a time, students served in turn, a bounded pool of workers."""

from __future__ import annotations

import pytest
from _service_fakes import HOLD_S, FakeGrading

from grader.classroom.service.fairqueue import FairQueue, Job, NotGradable, QueueFull


def _ns(student: str) -> str:
    return f"servicelab-student-{student}"


def _all_done(jobs: list[Job]) -> None:
    for job in jobs:
        assert job.done.wait(HOLD_S), f"job {job.lab} of {job.student} never finished"


def test_one_students_burst_never_starves_the_others() -> None:
    """ann sends 20 requests, then 5 others send 1 each: all 5 start before ann's 3rd (before her 2nd, in fact)."""
    grading = FakeGrading(held=True)
    queue = FairQueue(grading, workers=2, per_student=20)
    try:
        jobs = [queue.submit("ann", _ns("ann"), f"lab-{i}") for i in range(20)]
        others = ["bo", "cy", "di", "ed", "flo"]
        jobs += [queue.submit(s, _ns(s), "nodeport") for s in others]
        grading.release()
        _all_done(jobs)
    finally:
        queue.stop()
    order = [ns.removeprefix("servicelab-student-") for ns, _ in grading.started]
    assert len(order) == 25
    anns = [i for i, who in enumerate(order) if who == "ann"]
    assert max(order.index(s) for s in others) < anns[2]
    assert max(order.index(s) for s in others) < anns[1]
    assert [lab for ns, lab in grading.started if ns == _ns("ann")] == [f"lab-{i}" for i in range(20)]  # in order
    assert grading.most_per_namespace == 1  # never two of one student's at once
    assert grading.most_at_once <= 2  # never more than the workers


def test_the_pool_is_bounded_by_its_workers() -> None:
    grading = FakeGrading(held=True)
    queue = FairQueue(grading, workers=3, per_student=5)
    try:
        jobs = [queue.submit(f"s{i}", _ns(f"s{i}"), "nodeport") for i in range(10)]
        grading.release()
        _all_done(jobs)
    finally:
        queue.stop()
    assert len(grading.started) == 10
    assert grading.most_at_once <= 3


def test_a_repeated_request_joins_the_waiting_one_but_not_the_running_one() -> None:
    grading = FakeGrading(held=True)
    queue = FairQueue(grading, workers=1, per_student=5)
    try:
        first = queue.submit("ann", _ns("ann"), "nodeport")
        grading.wait_started(1)
        second = queue.submit("ann", _ns("ann"), "nodeport")  # the first is running: not joined
        third = queue.submit("ann", _ns("ann"), "nodeport")  # the second is waiting: joined
        assert third is second
        assert second is not first
        assert queue.waiting("ann") == 1
        grading.release()
        _all_done([first, second])
    finally:
        queue.stop()
    assert grading.started == [(_ns("ann"), "nodeport")] * 2
    assert second.report is not None


def test_too_many_waiting_is_refused_until_one_finishes() -> None:
    grading = FakeGrading(held=True)
    queue = FairQueue(grading, workers=1, per_student=2)
    try:
        running = queue.submit("ann", _ns("ann"), "lab-0")
        grading.wait_started(1)
        waiting = [queue.submit("ann", _ns("ann"), f"lab-{i}") for i in (1, 2)]
        assert queue.submit("ann", _ns("ann"), "lab-2") is waiting[1]  # joins: not a third
        with pytest.raises(QueueFull, match="at most 2"):
            queue.submit("ann", _ns("ann"), "lab-3")
        assert queue.submit("bo", _ns("bo"), "lab-1") is not None  # another student's bound is their own
        grading.release()
        _all_done([running, *waiting])
        later = queue.submit("ann", _ns("ann"), "lab-5")
        _all_done([later])
    finally:
        queue.stop()


def test_a_failing_grading_is_that_jobs_error_and_the_workers_go_on() -> None:
    def answer(namespace: str, lab: str) -> dict[str, object]:
        if lab == "missing":
            raise NotGradable(f"namespace {namespace} does not exist")
        if lab == "bug":
            raise RuntimeError("boom")
        return {"verdict": "PASS", "checks": []}

    queue = FairQueue(FakeGrading(answer), workers=1)
    try:
        jobs = [queue.submit("ann", _ns("ann"), lab) for lab in ("missing", "bug", "fine")]
        _all_done(jobs)
    finally:
        queue.stop()
    assert [(j.state, j.error) for j in jobs] == [
        ("error", "namespace servicelab-student-ann does not exist"),
        ("error", "the grader failed: RuntimeError: boom"),
        ("done", ""),
    ]
    assert jobs[2].report == {"verdict": "PASS", "checks": []}
    assert all(j.started is not None and j.finished is not None for j in jobs)


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FairQueue(FakeGrading(), workers=0)


def test_a_job_carries_the_students_values_and_joins_only_the_same() -> None:
    grading = FakeGrading(held=True)
    queue = FairQueue(grading, workers=1, per_student=5)
    try:
        running = queue.submit("ann", _ns("ann"), "lab-0")
        grading.wait_started(1)
        mine = queue.submit("ann", _ns("ann"), "nodeport", {"NODE_PORT": "30412"})
        assert queue.submit("ann", _ns("ann"), "nodeport", {"NODE_PORT": "30412"}) is mine
        changed = queue.submit("ann", _ns("ann"), "nodeport", {"NODE_PORT": "30500"})  # the file changed meanwhile
        assert changed is not mine
        grading.release()
        _all_done([running, mine, changed])
    finally:
        queue.stop()
    assert grading.given == [{}, {"NODE_PORT": "30412"}, {"NODE_PORT": "30500"}]
    assert mine.variables == {"NODE_PORT": "30412"}
