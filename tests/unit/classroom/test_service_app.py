"""The grading service's HTTP API, end to end with fakes for TokenReview and the grading function."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from _service_fakes import HOLD_S, FakeGrading, FakeReviewer, Response, call, report

from grader.classroom.service.app import GradingService
from grader.classroom.service.auth import Authenticator, instructor_token
from grader.classroom.service.gradebook import Gradebook
from grader.classroom.service.server import make

LABS = {"nodeport", "clusterip"}
TOKENS = {
    "t-ann": "system:serviceaccount:servicelab-student-ann:default",
    "t-bo": "system:serviceaccount:servicelab-student-bo:default",
    "t-admin": "system:serviceaccount:kube-system:default",
}
TEACHER = "teacher-secret"


VARIABLES = {"ann": {"NODE_PORT": "30412"}, "bo": {"NODE_PORT": "31050"}}  # grader.classroom.assignment's


def _service(path: Path | str, grading: FakeGrading, **kwargs: int) -> GradingService:
    return GradingService(
        Gradebook(path),
        Authenticator(FakeReviewer(dict(TOKENS)), instructor_token(TEACHER)),
        grading,
        known_lab=LABS.__contains__,
        assignment_of={"nodeport": "02-nodeport", "clusterip": "01-clusterip"}.__getitem__,
        wait_s=HOLD_S,
        variables_of=lambda student: VARIABLES.get(student, {}),
        **kwargs,
    )


@pytest.fixture
def grading() -> FakeGrading:
    return FakeGrading(lambda ns, lab: report(lab, ns, {"exists": "pass", "reach": "fail"}, message="<b>hint</b>"))


@pytest.fixture
def service(tmp_path: Path, grading: FakeGrading) -> Iterator[GradingService]:
    app = _service(tmp_path / "gradebook.sqlite", grading)
    yield app
    grading.release()
    app.close()


def _graded(app: GradingService, token: str, lab: str = "nodeport") -> Response:
    answer = call(app, "POST", "/grade", token=token, body={"lab": lab}, query="wait=true")
    assert answer.status == 200, answer.text
    return answer


def test_a_student_grades_her_own_namespace_and_waits_for_the_result(
    service: GradingService, grading: FakeGrading
) -> None:
    result = _graded(service, "t-ann").json()
    assert grading.started == [("servicelab-student-ann", "nodeport")]
    assert (result["student"], result["lab"], result["state"], result["verdict"]) == ("ann", "nodeport", "done", "FAIL")
    assert (result["score"], result["max_score"]) == (1, 2)
    assert result["checks"] == {"exists": "PASS", "reach": "FAIL"}
    assert result["report"]["checks"][1]["message"] == "<b>hint</b>"
    assert result["finished"].endswith("Z")


def test_without_waiting_the_job_is_accepted_and_read_later(service: GradingService, grading: FakeGrading) -> None:
    grading.held = True
    accepted = call(service, "POST", "/grade", token="t-ann", body={"lab": "nodeport"})
    assert accepted.status == 202
    job = accepted.json()["job"]
    assert accepted.json()["href"] == f"/results/{job}"
    assert call(service, "GET", f"/results/{job}", token="t-ann").json()["state"] in ("queued", "running")
    grading.release()
    done = call(service, "POST", "/grade", token="t-ann", body={"lab": "clusterip", "wait": True})
    assert done.status == 200
    mine = call(service, "GET", "/results", token="t-ann").json()
    assert mine["student"] == "ann"
    assert {r["lab"] for r in mine["results"]} == {"nodeport", "clusterip"}
    read = call(service, "GET", f"/results/{job}", token="t-ann").json()
    assert (read["job"], read["state"]) == (job, "done")


def test_no_token_is_401_and_an_unknown_token_too(service: GradingService) -> None:
    bare = call(service, "POST", "/grade", body={"lab": "nodeport"})
    assert bare.status == 401
    assert bare.headers["WWW-Authenticate"].startswith("Bearer")
    assert call(service, "GET", "/results", token="t-forged").status == 401


def test_another_students_namespace_is_403_logged_and_kept(
    service: GradingService, grading: FakeGrading, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "servicelab.service.audit"):
        for body in (
            {"lab": "nodeport", "namespace": "servicelab-student-bo"},
            {"lab": "nodeport", "student": "bo"},
            {"lab": "nodeport", "namespace": "kube-system"},
        ):
            refused = call(service, "POST", "/grade", token="t-ann", body=body)
            assert refused.status == 403, body
            assert "not you" in refused.json()["error"] or "not yours" in refused.json()["error"]
    assert grading.started == []  # nothing was graded
    assert len(caplog.records) == 3
    assert all("who=student ann" in r.getMessage() for r in caplog.records)
    kept = service.book.refusals()
    assert [(who, what) for _, who, what, _ in kept] == [
        ("student ann (system:serviceaccount:servicelab-student-ann:default)", "grade nodeport")
    ] * 3
    assert "servicelab-student-bo is not yours" in kept[0][3]


def test_another_students_results_are_403_and_logged(service: GradingService, caplog: pytest.LogCaptureFixture) -> None:
    bos = _graded(service, "t-bo").json()["job"]
    with caplog.at_level(logging.WARNING, "servicelab.service.audit"):
        assert call(service, "GET", f"/results/{bos}", token="t-ann").status == 403
        assert call(service, "GET", "/results", token="t-ann", query="student=bo").status == 403
    assert call(service, "GET", f"/results/{bos}", token="t-bo").status == 200
    assert call(service, "GET", "/results", token="t-ann").json()["results"] == []  # hers: none
    messages = [r.getMessage() for r in caplog.records]
    assert f"what=read result {bos}" in messages[0]
    assert "student bo's" in messages[0]
    assert "what=read results" in messages[1]
    assert len(service.book.refusals()) == 2


def test_a_service_account_that_is_no_students_is_403(service: GradingService) -> None:
    assert call(service, "POST", "/grade", token="t-admin", body={"lab": "nodeport"}).status == 403


def test_bad_requests_are_400_404_405_with_the_reason(service: GradingService) -> None:
    assert call(service, "POST", "/grade", token="t-ann", body={"lab": "nope"}).json()["error"] == "unknown lab 'nope'"
    assert call(service, "POST", "/grade", token="t-ann", body={}).status == 400
    assert call(service, "POST", "/grade", token="t-ann", body=["nodeport"]).status == 400
    assert call(service, "GET", "/results/nothing-like-it", token="t-ann").status == 404
    assert call(service, "GET", "/grade", token="t-ann").status == 405
    assert call(service, "GET", "/elsewhere", token="t-ann").status == 404
    assert call(service, "GET", "/healthz").status == 200


def test_a_burst_beyond_the_bound_is_429(tmp_path: Path) -> None:
    grading = FakeGrading(held=True)
    app = _service(tmp_path / "g.sqlite", grading, workers=1, per_student=1)
    try:
        call(app, "POST", "/grade", token="t-ann", body={"lab": "nodeport"})
        grading.wait_started(1)
        assert call(app, "POST", "/grade", token="t-ann", body={"lab": "clusterip"}).status == 202
        full = call(app, "POST", "/grade", token="t-ann", body={"lab": "nodeport"})
        assert full.status == 429
        assert full.headers["Retry-After"] == "30"
        assert call(app, "POST", "/grade", token="t-bo", body={"lab": "nodeport"}).status == 202  # bo's own bound
    finally:
        grading.release()
        app.close()


def test_the_instructor_pages_are_the_instructors_only(service: GradingService) -> None:
    _graded(service, "t-ann")
    for path in ("/class", "/export.csv", "/export/nbgrader"):
        assert call(service, "GET", path, token="t-ann").status == 403, path
        assert call(service, "GET", path).status == 401, path
        assert call(service, "GET", path, token=TEACHER).status == 200, path


def test_the_class_page_shows_each_check_and_the_latest_reports_hints_escaped(service: GradingService) -> None:
    _graded(service, "t-ann")
    _graded(service, "t-bo", "clusterip")
    page = call(service, "GET", "/class", token=TEACHER)
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert "<h2>nodeport</h2>" in html
    assert "<h2>clusterip</h2>" in html
    assert "<td>ann</td><td class='FAIL'>1/2</td><td class='PASS'>PASS</td><td class='FAIL'>FAIL</td>" in html
    assert "&lt;b&gt;hint&lt;/b&gt;" in html  # the hint, escaped
    assert "<b>hint</b>" not in html


def test_the_exports_hold_the_class(service: GradingService) -> None:
    _graded(service, "t-ann")
    _graded(service, "t-bo", "clusterip")
    lines = call(service, "GET", "/export.csv", token=TEACHER).text.splitlines()
    assert lines[0] == "student,lab,score,max,finished"
    assert [line.rsplit(",", 1)[0] for line in lines[1:]] == ["ann,nodeport,1,2", "bo,clusterip,1,2"]
    nb = call(service, "GET", "/export/nbgrader", token=TEACHER)
    assert nb.headers["Content-Disposition"] == 'attachment; filename="nbgrader-grades.csv"'
    rows = nb.text.splitlines()
    assert rows[0].startswith("assignment,duedate,timestamp,student_id,")
    assert [r.split(",")[0] + "/" + r.split(",")[3] for r in rows[1:]] == [
        "01-clusterip/ann",
        "01-clusterip/bo",
        "02-nodeport/ann",
        "02-nodeport/bo",
    ]


def test_a_restart_keeps_every_result(gradebook_where: str, grading: FakeGrading) -> None:
    path = gradebook_where  # an SQLite file, or a PostgreSQL database
    first = _service(path, grading)
    job = _graded(first, "t-ann").json()["job"]
    first.close()
    again = _service(path, FakeGrading())
    try:
        kept = call(again, "GET", f"/results/{job}", token="t-ann").json()
        assert (kept["state"], kept["score"], kept["checks"]) == ("done", 1, {"exists": "PASS", "reach": "FAIL"})
        assert call(again, "GET", "/export.csv", token=TEACHER).text.splitlines()[1].startswith("ann,nodeport,1,2,")
    finally:
        again.close()


def test_it_serves_over_http(service: GradingService) -> None:
    server = make(service, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        request = urllib.request.Request(
            f"{base}/grade?wait=true",
            data=json.dumps({"lab": "nodeport"}).encode(),
            headers={"Authorization": "Bearer t-ann", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=HOLD_S) as answer:
            assert answer.status == 200
            assert json.loads(answer.read())["verdict"] == "FAIL"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/class", timeout=HOLD_S)
        assert refused.value.code == 401
        refused.value.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(HOLD_S)


def test_each_student_is_graded_with_their_own_values(service: GradingService, grading: FakeGrading) -> None:
    _graded(service, "t-ann")
    _graded(service, "t-bo")
    graded = call(service, "POST", "/grade", token=TEACHER, body=GRADE_BO, query="wait=true")
    assert graded.status == 200, graded.text
    assert grading.started == [("servicelab-student-ann", "nodeport"), *[("servicelab-student-bo", "nodeport")] * 2]
    assert grading.given == [VARIABLES["ann"], VARIABLES["bo"], VARIABLES["bo"]]  # the instructor's: bo's too


GRADE_BO = {"lab": "nodeport", "student": "bo", "namespace": "servicelab-student-bo"}


def test_me_tells_a_student_who_they_are_and_their_values(service: GradingService) -> None:
    me = call(service, "GET", "/me", token="t-ann")
    assert me.status == 200
    assert me.json() == {"student": "ann", "namespace": "servicelab-student-ann", "variables": VARIABLES["ann"]}
    assert call(service, "GET", "/me", token="t-bo").json()["variables"] == {"NODE_PORT": "31050"}
    instructor = call(service, "GET", "/me", token=TEACHER)
    assert instructor.status == 400
    assert "student's" in instructor.json()["error"]
    assert call(service, "GET", "/me").status == 401
    assert call(service, "GET", "/me", token="t-admin").status == 403  # a service account that is no student's
    assert call(service, "POST", "/me", token="t-ann").status == 405


def test_without_values_a_student_is_graded_with_the_labs_defaults(tmp_path: Path, grading: FakeGrading) -> None:
    app = GradingService(
        Gradebook(tmp_path / "g.sqlite"),
        Authenticator(FakeReviewer(dict(TOKENS)), instructor_token(TEACHER)),
        grading,
        known_lab=LABS.__contains__,
        wait_s=HOLD_S,
    )
    try:
        _graded(app, "t-ann")
        assert grading.given == [{}]
        assert call(app, "GET", "/me", token="t-ann").json()["variables"] == {}
    finally:
        app.close()
