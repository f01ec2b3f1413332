"""The JSON report's reader: to_dict -> (JSON text) -> from_dict renders exactly as the result it was written from."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from grader.grading.results import CheckResult, LabResult, Status
from grader.learner.progress import seen_lines
from grader.probes.matrix import API, Matrix
from grader.reports import json as json_report
from grader.reports.html import to_html
from grader.reports.markdown import to_markdown
from grader.reports.terminal import to_text


def lab_result(*statuses: Status, env_error: str = "") -> LabResult:
    matrix = Matrix()
    for i, status in enumerate(statuses):
        matrix.current_check = f"c{i}"
        if status is Status.PASS:
            matrix.record("probe pod", "web ClusterIP", expected=True, observed=True, detail="HTTP 200")
            matrix.record(API, "Service web spec.type", expected=None, observed=True, detail="NodePort")
        if status is Status.FAIL:
            matrix.record(
                "outside", "node:30007", expected=True, observed=False, detail="timed out", address="172.18.0.2:30007"
            )
    checks = [
        CheckResult(
            f"c{i}",
            f"Check <{i}>",
            i + 1,
            status,
            {Status.FAIL: "hint | <b>selector</b>", Status.ENV_ERROR: "probe pod gone", Status.NA: "no outside"}.get(
                status, ""
            ),
            detail="saw\nthis" if status is Status.FAIL else "",
            duration_s=0.25 * i,
            without="outside container" if status is Status.NA else "",
            diagnosis="demo/selector" if status is Status.FAIL else "",
            blocked_by="c1" if status is Status.BLOCKED else "",
            evidence=matrix.evidence.get(f"c{i}", []),
            structural=status is Status.PASS,
        )
        for i, status in enumerate(statuses)
    ]
    return LabResult("demo", "Demo & co", "ns-1", "r1", checks, matrix, env_error, 3.5, "kind-servicelab")


CASES = {
    "pass": lab_result(Status.PASS, Status.PASS),
    "fail": lab_result(Status.PASS, Status.FAIL, Status.BLOCKED),
    "graded without": lab_result(Status.PASS, Status.NA, Status.NA),
    "env-error check": lab_result(Status.PASS, Status.ENV_ERROR),
    "env-error run": lab_result(Status.PASS, env_error="the cluster does not answer"),
    "nothing": lab_result(),
}


def round_trip(result: LabResult) -> LabResult:
    return json_report.from_dict(json.loads(json.dumps(json_report.to_dict(result))))


@pytest.mark.parametrize("name", sorted(CASES))
def test_read_back_renders_as_the_original(name: str) -> None:
    original = CASES[name]
    back = round_trip(original)
    assert to_text(back) == to_text(original)
    assert to_html(back) == to_html(original)
    assert to_markdown(back) == to_markdown(original)
    assert json_report.to_dict(back) == json_report.to_dict(original)
    assert (back.verdict, back.fraction) == (original.verdict, original.fraction)
    assert back.graded_without == original.graded_without
    assert [seen_lines(c) for c in back.checks] == [seen_lines(c) for c in original.checks]  # what hint() quotes


def test_a_report_without_per_check_without_is_graded_without_the_same() -> None:
    doc = json_report.to_dict(CASES["graded without"])
    for check in doc["checks"]:
        del check["without"]  # as reports written before checks carried it
    assert json_report.from_dict(doc).graded_without == ["outside container"]


def broken(change: Any) -> dict[str, Any]:
    doc = json_report.to_dict(CASES["fail"])
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: d.update(schema="servicelab.result/v2"), "$.schema is 'servicelab.result/v2'"),
        (lambda d: d.update(checks=None), "$.checks is None, not list"),
        (lambda d: d["checks"][0].update(points=True), "$.checks[0].points is True, not int"),
        (lambda d: d["checks"][1].update(status="great"), "$.checks[1].status is 'great'"),
        (lambda d: d["checks"][0]["evidence"][0].update(expected="yes"), "$.checks[0].evidence[0].expected"),
        (lambda d: d["matrix"]["cells"][0].update(observed=None), "$.matrix.cells[0].observed is None"),
        (lambda d: d.update(verdict="PASS"), "$.verdict is 'PASS', but its checks make it FAIL"),
    ],
)
def test_what_is_not_a_report_is_refused_with_where(change: Any, says: str) -> None:
    with pytest.raises(json_report.UnreadableReport, match=re.escape(says)):
        json_report.from_dict(broken(change))


def test_not_an_object_is_refused() -> None:
    with pytest.raises(json_report.UnreadableReport, match=r"\$ is list, not an object"):
        json_report.from_dict([])
