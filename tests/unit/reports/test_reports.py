"""Reports and case judgement from hand-made results."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

from grader.catalogue.cases import Case
from grader.grading.results import CheckResult, LabResult, Status, Verdict
from grader.grading.scoring import exit_code, judge_case
from grader.probes.matrix import API, Matrix, Observation
from grader.reports import json as json_report
from grader.reports import junit, markdown
from grader.reports.html import to_html
from grader.reports.terminal import to_text

ANSWERED = Observation("probe pod", "web ClusterIP", True, True, "HTTP 200", address="10.96.0.10:80")


def result(*statuses: Status, env_error: str = "") -> LabResult:
    matrix = Matrix()
    matrix.record("outside container", "web ClusterIP", expected=False, observed=False, detail="timed out")
    matrix.record("probe pod", "web ClusterIP", expected=True, observed=True, detail="HTTP 200")
    checks = [
        CheckResult(
            f"c{i}",
            f"Check {i}",
            2,
            s,
            "hint <b>selector</b>" if s is Status.FAIL else "",
            diagnosis="demo/selector" if s is Status.FAIL else "",
            evidence=[ANSWERED] if s is Status.PASS else [],
        )
        for i, s in enumerate(statuses)
    ]
    return LabResult("demo", "Demo", "ns", "r1", checks, matrix, env_error)


def test_verdicts_scores_and_exit_codes() -> None:
    assert exit_code(result(Status.PASS, Status.NA)) == 1  # n/a is never full marks: its points stay in the total
    assert result(Status.PASS, Status.NA).fraction == 0.5
    assert result(Status.PASS, Status.NA).graded_without == ["c1"]
    assert exit_code(result(Status.PASS, Status.FAIL)) == 1
    assert result(Status.PASS, Status.FAIL).fraction == 0.5
    assert exit_code(result(Status.PASS, Status.ENV_ERROR)) == 3
    assert result(Status.PASS, env_error="cluster down").fraction is None
    assert result(Status.NA).verdict is Verdict.FAIL  # nothing gradable is not full marks


def test_json_report_has_a_versioned_schema(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    json_report.write(result(Status.PASS, Status.FAIL), path)
    data = json.loads(path.read_text())
    assert data["schema"] == "servicelab.result/v1"
    assert (data["verdict"], data["score"], data["max_score"]) == ("FAIL", 2, 4)
    assert data["checks"][1]["status"] == "fail"
    assert data["checks"][1]["diagnosis"] == "demo/selector"
    assert data["checks"][0]["evidence"] == [
        {
            "vantage": "probe pod",
            "target": "web ClusterIP",
            "expected": True,
            "observed": True,
            "ok": True,
            "detail": "HTTP 200",
            "address": "10.96.0.10:80",
            "control": "",
            "see": "",
        }
    ]
    assert data["matrix"]["rows"] == ["outside container", "probe pod"]
    env = json_report.to_dict(result(Status.PASS, env_error="down"))
    assert (env["verdict"], env["score"], env["diagnosis"]) == ("ENV-ERROR", None, "down")


def test_junit_report(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    junit.write(result(Status.PASS, Status.FAIL, Status.NA, Status.ENV_ERROR), path)
    suite = ET.parse(path).getroot()
    counts = (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("errors"))
    assert counts == ("4", "1", "1", "1")


def test_markdown_html_and_text_show_hints_and_matrix() -> None:
    res = result(Status.PASS, Status.FAIL)
    md = markdown.to_markdown(res)
    assert "| outside container | no ok |" in md
    html = to_html(res)
    assert "&lt;b&gt;selector&lt;/b&gt;" in html  # escaped
    assert "Reachability" in html
    text = to_text(res)
    assert "FAIL: 2/4 points" in text
    assert "want no" in text


def test_judge_wrong_case() -> None:
    case = Case("typo", "wrong", Path("."), fails="c1", hint="selector", diagnosis="demo/selector")
    assert judge_case(case, result(Status.PASS, Status.FAIL)).holds
    bad_hint = Case("typo", "wrong", Path("."), fails="c1", hint="nodePort", diagnosis="demo/selector")
    assert "lacks" in judge_case(bad_hint, result(Status.PASS, Status.FAIL)).observed
    other = Case("typo", "wrong", Path("."), fails="c1", diagnosis="demo/node-port")
    assert (
        "failed with diagnosis demo/selector, not demo/node-port"
        in judge_case(other, result(Status.PASS, Status.FAIL)).observed
    )
    assert not judge_case(case, result(Status.FAIL, Status.FAIL)).holds
    assert not judge_case(case, result(Status.PASS, Status.PASS)).holds
    assert judge_case(case, result(Status.PASS, env_error="down")).env_error


def test_every_case_holds_only_when_each_pass_rests_on_evidence() -> None:
    solution = Case("solution", "solution", Path("."))
    bare = result(Status.PASS, Status.PASS)
    bare.checks[1].evidence = []
    assert "PASS without evidence: c1" in judge_case(solution, bare).observed
    read = result(Status.PASS, Status.PASS)
    read.checks[1].evidence = [Observation(API, "Service web spec.type", None, True, '"NodePort"')]
    assert not judge_case(solution, read).holds  # a field read carries only a structural check
    read.checks[1].structural = True
    assert judge_case(solution, read).holds
    silent = result(Status.PASS, Status.PASS)
    alone = Observation("outside container", "web LB", False, False, "timed out", "172.18.255.200:80")
    silent.checks[1].evidence = [replace(alone, control=alone.address, see="c0")]
    assert "nothing answers at web LB at all" in judge_case(solution, silent).observed
    silent.checks[0].evidence.append(Observation("internet", "web LB", True, True, "HTTP 200", "172.18.255.200:80"))
    assert judge_case(solution, silent).holds


def test_a_wrong_case_holds_only_when_each_blocked_check_names_its_failure() -> None:
    case = Case("typo", "wrong", Path("."), fails="c1", diagnosis="demo/selector", blocked=("c2",))
    named = result(Status.PASS, Status.FAIL, Status.BLOCKED)
    named.checks[2].blocked_by = "c1"
    assert judge_case(case, named).holds
    unnamed = result(Status.PASS, Status.FAIL, Status.BLOCKED)
    assert "c2 is BLOCKED by nothing named, not by the failure c1" in judge_case(case, unnamed).observed
    undeclared = Case("typo", "wrong", Path("."), fails="c1", diagnosis="demo/selector")
    assert "is not the declared []" in judge_case(undeclared, named).observed


def test_judge_solution_case() -> None:
    case = Case("solution", "solution", Path("."))
    assert judge_case(case, result(Status.PASS)).holds
    graded_without = judge_case(case, result(Status.PASS, Status.NA))
    assert not graded_without.holds
    assert "graded without: c1" in graded_without.observed
    assert not judge_case(case, result(Status.PASS, Status.FAIL)).holds


def test_check_solutions_reads_the_evidence_of_each_pass_from_the_json_report() -> None:
    from grader.corpus.solutions import passes_without_evidence  # noqa: PLC0415

    graded = result(Status.PASS, Status.FAIL, Status.PASS)
    assert passes_without_evidence(json_report.to_dict(graded)) == []
    graded.checks[2].evidence = [Observation(API, "Service web spec.type", None, True, '"NodePort"')]
    assert passes_without_evidence(json_report.to_dict(graded)) == ["c2"]  # a field read carries no probe check
    graded.checks[2].structural = True
    assert passes_without_evidence(json_report.to_dict(graded)) == []
    graded.checks[0].evidence = []
    assert passes_without_evidence(json_report.to_dict(graded)) == ["c0"]
