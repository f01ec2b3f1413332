"""Who calls the grading service: TokenReview of a student's ServiceAccount token, the instructor's token, and
the refusals (403, logged) for anything that is not the caller's own."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from _kube_fakes import FakeHttp, Sent, _res, discovery_list, fake_kube, group
from _service_fakes import FakeReviewer

from grader.classroom.service.auth import (
    Authenticator,
    Forbidden,
    Instructor,
    ReviewUnavailable,
    Student,
    Unauthenticated,
    instructor_token,
    kube_token_review,
    must_be_own,
    student_of,
)

ANN = "system:serviceaccount:servicelab-student-ann:default"


def test_a_student_is_a_service_account_of_a_student_namespace() -> None:
    assert student_of(ANN) == Student("ann", "servicelab-student-ann", ANN)
    assert student_of("system:serviceaccount:servicelab-student-bo-2:jupyter").name == "bo-2"  # type: ignore[union-attr]
    for other in (
        "system:serviceaccount:kube-system:default",  # not a student's namespace
        "system:serviceaccount:servicelab-student-:default",  # no name
        "system:serviceaccount:servicelab-student--x:default",  # not a DNS label
        "system:serviceaccount:servicelab-student-ann",  # no account
        "kubernetes-admin",  # a person
        "system:serviceaccount:servicelab-student-ann:default:extra",
    ):
        assert student_of(other) is None, other


def test_no_token_or_an_unknown_one_is_401_and_a_known_non_student_is_403_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth = Authenticator(FakeReviewer({"t-ann": ANN, "t-admin": "kubernetes-admin"}))
    for header in (None, "", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer t-unknown"):
        with pytest.raises(Unauthenticated):
            auth.caller(header)
    assert auth.caller("Bearer t-ann") == Student("ann", "servicelab-student-ann", ANN)
    with caplog.at_level(logging.WARNING, "servicelab.service.audit"), pytest.raises(Forbidden):
        auth.caller("Bearer t-admin")
    assert "who=kubernetes-admin" in caplog.text
    assert "what=use the grading service" in caplog.text


def test_the_instructor_token_is_the_instructor_and_never_reviewed() -> None:
    reviewer = FakeReviewer({"t-ann": ANN})
    auth = Authenticator(reviewer, instructor_token("s3cret"))
    assert auth.caller("Bearer s3cret") == Instructor()
    assert reviewer.asked == []
    assert instructor_token("")("") is False  # no token configured: nobody is the instructor


def test_a_burst_asks_the_api_server_once_per_token_until_the_cache_expires() -> None:
    now = [100.0]
    reviewer = FakeReviewer({"t-ann": ANN})
    auth = Authenticator(reviewer, clock=lambda: now[0])
    for _ in range(20):
        auth.caller("Bearer t-ann")
    assert reviewer.asked == ["t-ann"]
    now[0] += 31
    auth.caller("Bearer t-ann")
    assert reviewer.asked == ["t-ann", "t-ann"]


def test_another_students_namespace_or_name_is_refused_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    ann = Student("ann", "servicelab-student-ann", ANN)
    must_be_own(ann, "grade nodeport", student="ann", namespace="servicelab-student-ann")  # her own: fine
    must_be_own(Instructor(), "grade nodeport", student="bo", namespace="servicelab-student-bo")
    with caplog.at_level(logging.WARNING, "servicelab.service.audit"):
        with pytest.raises(Forbidden) as err:
            must_be_own(ann, "grade nodeport", namespace="servicelab-student-bo")
        with pytest.raises(Forbidden):
            must_be_own(ann, "read results", student="bo")
    assert (err.value.who, err.value.what) == (str(ann), "grade nodeport")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert f"who={ann}" in lines[0]
    assert "what=grade nodeport" in lines[0]
    assert "servicelab-student-bo" in lines[0]
    assert " at=20" in lines[0]  # when, in UTC
    assert "what=read results" in lines[1]
    assert "student bo is not you" in lines[1]


AUTHN = discovery_list(
    group(
        "authentication.k8s.io",
        ("v1", [{**_res("tokenreviews", "TokenReview", namespaced=False), "verbs": ["create"]}]),
    )
)
REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


def _review_answer(sent: Sent) -> tuple[int, Any]:
    token = sent.body["spec"]["token"]
    if token == "t-ann":
        return 201, {**sent.body, "status": {"authenticated": True, "user": {"username": ANN}}}
    return 201, {**sent.body, "status": {"authenticated": False, "error": "invalid bearer token"}}


def test_token_review_goes_to_the_api_server_through_kube(monkeypatch: pytest.MonkeyPatch) -> None:
    http = FakeHttp({("GET", "/apis"): (200, AUTHN), ("POST", REVIEWS): _review_answer})
    review = kube_token_review(fake_kube(monkeypatch, http))
    assert review("t-ann") == ANN
    assert review("t-forged") is None
    posted = [s for s in http.api_calls() if s.method == "POST"]
    assert [s.path for s in posted] == [REVIEWS, REVIEWS]
    assert posted[0].body == {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": "t-ann"},
    }


def test_token_review_refused_or_unreachable_is_503_not_a_401(monkeypatch: pytest.MonkeyPatch) -> None:
    forbidden = (403, {"kind": "Status", "reason": "Forbidden", "code": 403, "message": "cannot create tokenreviews"})
    http = FakeHttp({("GET", "/apis"): (200, AUTHN), ("POST", REVIEWS): forbidden})
    with pytest.raises(ReviewUnavailable, match="403 Forbidden"):
        kube_token_review(fake_kube(monkeypatch, http))("t-ann")
    down = FakeHttp({("GET", "/apis"): (200, AUTHN)}, fail=ConnectionRefusedError("refused"))
    with pytest.raises(ReviewUnavailable, match="does not answer"):
        kube_token_review(fake_kube(monkeypatch, down))("t-ann")


def test_a_refusal_is_one_log_line_whatever_the_caller_sent(caplog: pytest.LogCaptureFixture) -> None:
    ann = Student("ann", "servicelab-student-ann", ANN)
    with caplog.at_level(logging.WARNING, "servicelab.service.audit"), pytest.raises(Forbidden):
        must_be_own(ann, "grade x\nrefused: who=bo forged", namespace="a\nb")
    assert "\n" not in caplog.records[0].getMessage()
