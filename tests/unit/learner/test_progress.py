"""A learner's record: progress kept on disk, hints one step at a time (grader.learner.progress)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.catalogue.labs import load_lab
from grader.catalogue.locate import all_labs
from grader.grading.results import CheckResult, LabResult, Status
from grader.learner import progress as coach
from grader.probes.matrix import Observation


@pytest.fixture(autouse=True)
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SERVICELAB_DATA", str(tmp_path))
    return tmp_path


def result(*statuses: Status, lab: str = "clusterip") -> LabResult:
    checks = [
        CheckResult(f"c{i}", f"check {i}", 2, s, message=f"hint {i}", detail=f"saw {i}") for i, s in enumerate(statuses)
    ]
    return LabResult(lab=lab, title="t", namespace="lab-clusterip", run_id="r", checks=checks)


def test_progress_shows_passed_and_last_scores_and_survives_a_worse_run() -> None:
    coach.record(result(Status.PASS, Status.PASS))
    coach.record(result(Status.PASS, Status.FAIL))
    coach.record(result(Status.FAIL, Status.BLOCKED, lab="nodeport"))
    rows = {lab: state for lab, _, state in coach.progress_rows()}
    assert rows["clusterip"] == "PASSED (4/4)"
    assert rows["nodeport"].startswith("last 0/4")
    assert rows["headless"] == "not tried"
    assert len(rows) == len(all_labs())


def test_an_env_error_is_not_kept() -> None:
    coach.record(LabResult(lab="clusterip", title="t", namespace="n", run_id="r", env_error="no cluster"))
    assert coach.load() == {}


def test_hints_climb_a_ladder_for_the_first_failing_check_and_restart_for_another() -> None:
    lab = load_lab(next(p for p in all_labs() if p.name == "clusterip"))
    assert "run check" in coach.next_hint(lab)
    coach.record(result(Status.PASS, Status.FAIL, Status.BLOCKED))
    first, second, third, fourth = (coach.next_hint(lab) for _ in range(4))
    assert first.startswith("Hint 1/4")
    assert "check 1" in first
    assert "hint 1" not in first
    assert "hint 1" not in second
    assert "saw 1" in third
    assert "hint 1" in fourth
    assert coach.next_hint(lab).startswith("Hint 4/4")  # the last step repeats
    coach.record(result(Status.PASS, Status.FAIL))  # the same check still fails: the ladder goes on
    assert coach.next_hint(lab).startswith("Hint 4/4")
    coach.record(result(Status.FAIL, Status.PASS))  # another check fails first: from the start
    assert coach.next_hint(lab).startswith("Hint 1/4")
    coach.record(result(Status.PASS, Status.PASS))
    assert "passed" in coach.next_hint(lab)


def test_the_notebooks_progress_table_has_every_lab_its_points_and_the_totals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from grader.learner import notebook  # noqa: PLC0415 - the notebook's front door

    coach.record(result(Status.PASS, Status.PASS))
    coach.record(result(Status.FAIL, Status.PASS, lab="nodeport"))
    markdown, text = coach.progress_table()
    # the recorded runs' maximum (4 each, from result()) for the two labs tried, the lab's own total for the others
    total = sum(load_lab(p).total_points for p in all_labs() if p.name not in {"clusterip", "nodeport"}) + 4 + 4
    assert markdown.splitlines()[0] == "| lab | title | points | state |"
    assert "| clusterip | ClusterIP: an address only the cluster can use | 4/4 | PASSED (4/4) |" in markdown
    assert f"1 of {len(all_labs())} labs passed, 6 of {total} points" in text  # 4 + 2 earned
    headless = next(line for line in text.splitlines() if line.startswith("headless"))
    assert headless.endswith(f"0/{load_lab('headless').total_points}  not tried")
    notebook.progress()
    shown = capsys.readouterr().out
    assert shown.strip().endswith(f"1 of {len(all_labs())} labs passed, 6 of {total} points")


def test_the_ladder_goes_concept_command_what_the_grader_saw_then_the_fix() -> None:
    lab = load_lab(next(p for p in all_labs() if p.name == "clusterip"))
    failing = CheckResult(
        "not_reachable_from_outside",
        "nothing of web is reachable from outside the cluster",
        2,
        Status.FAIL,
        message="Service web is type NodePort: leave type out.",
        detail="web answered from outside",
        evidence=[
            Observation("inside", "web ClusterIP", expected=True, observed=True, detail="HTTP 200"),
            Observation("outside", "node cp:30080", expected=False, observed=True, detail="HTTP 200"),
        ],
    )
    coach.record(LabResult("clusterip", "t", "lab-clusterip-bob", "r", checks=[failing]))
    concept, command, saw, fix = (coach.next_hint(lab) for _ in range(4))
    assert lab.hints["not_reachable_from_outside"].concept in concept
    assert "kubectl -n lab-clusterip-bob get svc/web" in command  # the namespace the run used, filled in
    assert "${NAMESPACE}" not in command
    lines = saw.splitlines()
    assert "web answered from outside" in lines[0]
    assert lines[1].strip().startswith("WRONG from outside to node cp:30080: should not reach, reached: HTTP 200")
    assert "from inside to web ClusterIP: should reach, reached" in lines[2]
    assert "leave type out" in fix


def test_a_lab_without_hints_gets_the_general_steps() -> None:
    lab = load_lab(next(p for p in all_labs() if p.name == "clusterip"))
    lab.hints = {}
    coach.record(result(Status.FAIL))
    assert "Re-read" in coach.next_hint(lab)
    assert "kubectl -n lab-clusterip get services,endpointslices,pods" in coach.next_hint(lab)
