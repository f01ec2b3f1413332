"""The pytest plugin end to end (real pytest.main) on a small lab, with fake vantage points and API."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _grader_fakes import FakeKube, ScriptedVantage, facts, http_ok

from grader.catalogue.labs import load_lab
from grader.grading.results import Status, Verdict
from grader.grading.session import run_checks
from grader.lab.context import LabContext
from grader.probes.base import ProbePolicy

CHECKS = """
import pytest
from grader.lab.context import LabContext
from grader.base.errors import EnvError

@pytest.mark.check(points=2, title="passes")
def test_passes(lab: LabContext) -> None:
    lab.probe.http_get("http://10.96.0.10/").must_succeed(hint="x")

@pytest.mark.check(points=3, title="learner mistake")
def test_mistake(lab: LabContext) -> None:
    lab.expect(False, "the selector matches no pod", diagnosis="mini/selector-matches-no-pod")

@pytest.mark.check(points=1, title="outside only")
def test_outside(lab: LabContext) -> None:
    lab.outside.http_get("http://10.96.0.10/").must_succeed(hint="x")

@pytest.mark.check(points=1, title="plain assert")
def test_plain_assert(lab: LabContext) -> None:
    assert 1 == 2, "one is not two"
"""


def make_lab(root: Path, checks: str) -> Path:
    lab = root / "mini"
    (lab / "solution").mkdir(parents=True)
    (lab / "lab.yaml").write_text("id: mini\ntitle: Mini\norder: 1\n")
    (lab / "task.md").write_text("Do it.\n")
    (lab / "solution" / "s.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n")
    (lab / "checks.py").write_text(textwrap.dedent(checks))
    return lab


class FakeEnv:
    run_id = "t1"
    policy = ProbePolicy()
    kube = FakeKube()

    def __init__(self, outside_reason: str = "no docker here") -> None:
        self.outside_reason = outside_reason

    def context(self, namespace: str, ready_timeout_s: float = 60.0) -> LabContext:
        ok = lambda op, n: http_ok()  # noqa: E731
        return LabContext(
            namespace,
            FakeKube(),
            facts(),
            ScriptedVantage(ok),
            ScriptedVantage(ok, "other"),  # type: ignore[arg-type]
            ScriptedVantage(ok, "outside container", reason=self.outside_reason),
            ScriptedVantage(ok, "host"),
        )


def test_statuses_points_and_hints(tmp_path: Path) -> None:
    lab = load_lab(str(make_lab(tmp_path, CHECKS)))
    result = run_checks(lab, "ns", FakeEnv())  # type: ignore[arg-type]
    by_id = {c.id: c for c in result.checks}
    assert by_id["passes"].status is Status.PASS
    assert (by_id["mistake"].status, by_id["mistake"].message) == (Status.FAIL, "the selector matches no pod")
    assert by_id["mistake"].diagnosis == "mini/selector-matches-no-pod"
    assert [(seen.vantage, seen.address, seen.ok) for seen in by_id["passes"].evidence] == [
        ("probe pod", "10.96.0.10:80", True)
    ]
    assert by_id["outside"].status is Status.NA
    assert "no docker here" in by_id["outside"].message
    assert by_id["plain_assert"].message == "one is not two"
    assert by_id["outside"].without == "outside container"
    assert result.graded_without == ["outside container"]
    assert (result.score, result.max_score) == (2, 7)  # n/a stays in the total, unearned
    assert result.verdict is Verdict.FAIL
    assert result.fraction == pytest.approx(2 / 7)
    assert result.matrix.rows == ["probe pod"]


def test_env_error_and_crash_withhold_the_grade(tmp_path: Path) -> None:
    checks = (
        CHECKS
        + """
@pytest.mark.check(points=1, title="env")
def test_env(lab: LabContext) -> None:
    raise EnvError("MetalLB is not ready")

@pytest.mark.check(points=1, title="crash")
def test_crash(lab: LabContext) -> None:
    {}["missing"]
"""
    )
    lab = load_lab(str(make_lab(tmp_path, checks)))
    result = run_checks(lab, "ns", FakeEnv())  # type: ignore[arg-type]
    assert result.verdict is Verdict.ENV_ERROR
    assert result.fraction is None
    assert result.check("env").message == "MetalLB is not ready"  # type: ignore[union-attr]
    assert "the check itself crashed: KeyError" in result.check("crash").message  # type: ignore[union-attr]


def test_same_lab_graded_twice_in_one_process(tmp_path: Path) -> None:
    lab = load_lab(str(make_lab(tmp_path, CHECKS)))
    first = run_checks(lab, "ns", FakeEnv())  # type: ignore[arg-type]
    second = run_checks(lab, "ns", FakeEnv(outside_reason=""))  # type: ignore[arg-type]
    assert first.check("outside").status is Status.NA  # type: ignore[union-attr]
    assert second.check("outside").status is Status.PASS  # type: ignore[union-attr]


def test_grading_writes_nothing_to_stdout_or_stderr(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    lab = load_lab(str(make_lab(tmp_path, CHECKS + "\nprint('noise')\nimport sys; sys.stderr.write('err')\n")))
    run_checks(lab, "ns", FakeEnv())  # type: ignore[arg-type]
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_plugin_is_inert_in_someone_elses_pytest_run(tmp_path: Path) -> None:
    (tmp_path / "test_other.py").write_text("def test_x():\n    assert True\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
    helptext = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    ).stdout
    assert "--servicelab-lab" in helptext


def test_a_blocked_check_earns_nothing_names_its_cause_and_is_declared_by_wrong_cases() -> None:
    from pathlib import Path  # noqa: PLC0415

    from grader.base.outcomes import Blocked  # noqa: PLC0415
    from grader.catalogue.cases import Case  # noqa: PLC0415
    from grader.grading.plugin import _result  # noqa: PLC0415
    from grader.grading.results import CheckResult, LabResult, Status, Verdict  # noqa: PLC0415
    from grader.grading.scoring import judge_case  # noqa: PLC0415

    class Info:
        with pytest.raises(Blocked) as excinfo:
            raise Blocked("answers_on_cluster_ip", "no route")

    marker = pytest.mark.check(points=2, title="t").mark
    blocked = _result("node_port", marker, Info())  # type: ignore[arg-type]
    assert (blocked.status, blocked.earned) == (Status.BLOCKED, 0)
    assert "blocked by answers_on_cluster_ip" in blocked.message
    failed = CheckResult("answers_on_cluster_ip", "t", 2, Status.FAIL, "selector matches no pod")
    result = LabResult("lab", "t", "ns", "r", checks=[failed, blocked])
    assert result.verdict is Verdict.FAIL
    undeclared = Case("c", "wrong", Path("."), fails="answers_on_cluster_ip", hint="selector")
    assert not judge_case(undeclared, result).holds
    declared = Case("c", "wrong", Path("."), fails="answers_on_cluster_ip", hint="selector", blocked=("node_port",))
    assert judge_case(declared, result).holds
