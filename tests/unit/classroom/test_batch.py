"""grade-batch without a cluster: finding hand-ins, reading them as data, records, CSV/JSON, resuming."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from _batch_fakes import FakeGrading, graded

from grader import cli
from grader.base.errors import BadInput, EnvError
from grader.base.interrupt import alarm
from grader.classroom import batch
from grader.classroom import gradebatch as batchcmd
from grader.classroom.batch import grade_prepared, settle
from grader.classroom.handins import discover, lab_id, prepare
from grader.classroom.records import CSV_NAME, Outcome, Record, csv_row, load_records, write_reports
from grader.grading.deploy import ClaimTaken

REPO = Path(__file__).resolve().parents[3]
SOLUTION = REPO / "labs" / "nodeport" / "solution"
NOTEBOOK = REPO / "notebooks" / "source" / "02-nodeport" / "nodeport.ipynb"


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def hand_in(root: Path, student: str, lab: str, files: dict[str, str]) -> Path:
    folder = root / student / lab
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def solution_files() -> dict[str, str]:
    return {p.name: p.read_text() for p in SOLUTION.glob("*.yaml")}


def notebook_with(answer: str) -> str:
    nb = json.loads(NOTEBOOK.read_text())
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "manifest")
    cell["source"] = answer
    return json.dumps(nb)


@pytest.fixture
def klass(tmp_path: Path) -> Path:
    root = tmp_path / "class"
    hand_in(root, "ada", "nodeport", solution_files())
    hand_in(root, "bob", "02-nodeport", {"nodeport.ipynb": NOTEBOOK.read_text()})
    hand_in(root, "cy", "nodeport", {"nodeport.ipynb": notebook_with("check = lambda lab: 1.0")})
    hand_in(root, "dee", "nodeport", {"nodeport.ipynb": '{"cells": ['})
    hand_in(root, "eve", "nodeport", {"nodeport.ipynb": notebook_with("%%servicelab_answer nodeport\n# nothing")})
    hand_in(root, "fay", "no-such-lab", {"a.yaml": "kind: Service"})
    (root / "gus").mkdir()
    return root


def test_layouts_and_lab_names(klass: Path) -> None:
    found = {s.student: s for s in discover(klass)}
    assert sorted(found) == ["ada", "bob", "cy", "dee", "eve", "fay", "gus"]
    assert found["bob"].lab == "nodeport"  # nbgrader's assignment folder 02-nodeport
    assert found["bob"].shown == "bob/02-nodeport"
    assert found["fay"].lab == "no-such-lab"
    assert found["gus"].lab == "?"
    assert lab_id("02-nodeport") == "nodeport"
    assert lab_id("nodeport") == "nodeport"
    with_lab = discover(klass / "ada", lab="nodeport")
    assert [(s.student, s.lab) for s in with_lab] == [("nodeport", "nodeport")]


def test_not_a_class_folder_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="is not a folder"):
        discover(tmp_path / "missing")
    with pytest.raises(BadInput, match="holds no student folder"):
        discover(tmp_path)


def test_each_submission_read_as_data(klass: Path) -> None:
    prepared = {p.submission.student: p for p in map(prepare, discover(klass))}
    assert not prepared["ada"].error
    assert not prepared["ada"].empty
    assert prepared["ada"].files[0][0] == "ada/nodeport/service.yaml"
    assert prepared["bob"].files[0][0] == "bob/02-nodeport/nodeport.ipynb, answer cell"
    assert "nodePort: 30007" in prepared["bob"].files[0][1]
    assert "not YAML under %%servicelab_answer" in prepared["cy"].error
    assert "not a notebook: invalid JSON" in prepared["dee"].error
    assert prepared["eve"].empty
    assert "unknown lab 'no-such-lab'" in prepared["fay"].error
    assert "no lab" in prepared["gus"].error


def test_digest_follows_the_answer(tmp_path: Path) -> None:
    root = tmp_path / "c"
    folder = hand_in(root, "ada", "nodeport", solution_files())
    first = prepare(discover(root)[0]).digest
    assert prepare(discover(root)[0]).digest == first
    (folder / "service.yaml").write_text((folder / "service.yaml").read_text().replace("30007", "30008"))
    assert prepare(discover(root)[0]).digest != first


def test_what_needs_no_cluster_is_settled_at_once(klass: Path) -> None:
    prepared = {p.submission.student: p for p in map(prepare, discover(klass))}
    error = settle(prepared["cy"], None)
    assert error is not None
    assert error.outcome is Outcome.ERROR
    assert error.score is None
    empty = settle(prepared["eve"], None)
    assert empty is not None
    assert (empty.outcome, empty.score, empty.max_score) == (Outcome.NO_ANSWER, 0, 6)
    assert settle(prepared["ada"], None) is None
    done = Record("ada", "nodeport", Outcome.GRADED, prepared["ada"].digest, score=6, max_score=6)
    assert settle(prepared["ada"], done) is done
    env = Record("ada", "nodeport", Outcome.ENV_ERROR, prepared["ada"].digest, reason="x")
    assert settle(prepared["ada"], env) is None  # ENV-ERROR is graded again
    changed = Record("ada", "nodeport", Outcome.GRADED, "other", score=6, max_score=6)
    assert settle(prepared["ada"], changed) is None


def test_csv_and_json_rows_have_no_score_where_there_is_none(tmp_path: Path) -> None:
    records = [
        Record("ada", "nodeport", Outcome.GRADED, "d1", score=4, max_score=6, reason="node-port: hint"),
        Record("bob", "nodeport", Outcome.ENV_ERROR, "d2", reason="probe pods cannot start"),
        Record("cy", "nodeport", Outcome.ERROR, "d3", reason="not YAML"),
        Record("eve", "nodeport", Outcome.NO_ANSWER, "d4", score=0, max_score=6),
    ]
    path = write_reports(tmp_path, records)
    rows = read_csv(path)
    assert (rows["ada"]["status"], rows["ada"]["score"], rows["ada"]["max_score"]) == ("graded", "4", "6")
    assert (rows["bob"]["status"], rows["bob"]["score"], rows["bob"]["max_score"]) == ("env-error", "", "")
    assert rows["bob"]["reason"] == "probe pods cannot start"
    assert (rows["cy"]["status"], rows["cy"]["score"]) == ("error", "")
    assert (rows["eve"]["status"], rows["eve"]["score"]) == ("no-answer", "0")
    bob = json.loads((tmp_path / "bob.json").read_text())
    assert bob["schema"] == "servicelab.batch/v1"
    assert bob["submissions"][0]["score"] is None
    assert load_records(tmp_path)[("ada", "nodeport")] == records[0]
    assert csv_row(records[1])["score"] == ""


def test_grade_prepared_grades_only_what_changed_or_was_env_error(klass: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    prepared = [prepare(s) for s in discover(klass)]
    spec = FakeGrading(str(logs), (("bob", "env"),))
    first = {r.student: r for r in grade_prepared(prepared, {}, spec, jobs=2)}
    assert graded(logs) == ["ada/nodeport", "bob/nodeport"]  # errors and no-answer never reach the cluster
    assert first["bob"].outcome is Outcome.ENV_ERROR
    (logs / "graded.log").unlink()
    again = {
        r.student: r
        for r in grade_prepared(prepared, {r.key: r for r in first.values()}, FakeGrading(str(logs)), jobs=2)
    }
    assert graded(logs) == ["bob/nodeport"]
    assert again["bob"].score == 6


def test_grade_batch_command_writes_reports_resumes_and_says_what_the_environment_withheld(
    klass: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    verdicts = {"value": (("bob", "env"),)}
    monkeypatch.setattr(batchcmd, "GraderSpec", lambda *a: FakeGrading(str(logs), verdicts["value"]))
    monkeypatch.setattr(batchcmd, "cluster_facts", lambda spec: None)  # no cluster here
    out = tmp_path / "grades"
    assert cli.main(["grade-batch", str(klass), "--out", str(out), "--jobs", "2"]) == 3
    text = capsys.readouterr().out
    assert "1 submissions not graded: environment" in text
    assert "bob/nodeport: probe pods cannot start" in text
    rows = read_csv(out / CSV_NAME)
    assert len(rows) == 7
    assert rows["ada"]["score"] == "6"
    assert rows["bob"]["score"] == ""
    assert rows["bob"]["status"] == "env-error"
    assert rows["dee"]["score"] == ""
    assert "invalid JSON" in rows["dee"]["reason"]
    verdicts["value"] = ()
    shutil.rmtree(logs)
    logs.mkdir()
    assert cli.main(["grade-batch", str(klass), "--out", str(out)]) == 0
    assert graded(logs) == ["bob/nodeport"]  # only the ENV-ERROR one again
    rows = read_csv(out / CSV_NAME)
    assert rows["bob"]["score"] == "6"


def test_grade_batch_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["grade-batch", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "ada").mkdir()
    assert cli.main(["grade-batch", str(tmp_path), "--lab", "no-such-lab"]) == 2
    assert cli.main(["grade-batch", str(tmp_path), "--jobs", "0"]) == 2


def test_the_per_submission_alarm_stops_a_grading_that_hangs() -> None:
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt), alarm(0.2) as fired:  # pytest ends its session on one
        time.sleep(5)
    assert fired == [True]
    assert time.monotonic() - start < 2
    with alarm(5) as fired:  # disarmed on the way out
        pass
    time.sleep(0.01)
    assert fired == [False]


class _NoNamespaces:
    def get(self, *args: object, **kwargs: object) -> None:
        return None  # delete_namespace finds nothing to delete


def _worker_result(monkeypatch: pytest.MonkeyPatch, grading: object, timeout_s: float = 5.0) -> Record:
    monkeypatch.setattr(batch, "grade", grading)
    job = batch.GradeJob(
        "ada", "nodeport", "d1", (("ada/nodeport/a.yaml", "kind: Service"),), "ada/nodeport", timeout_s
    )
    return batch._Grader(SimpleNamespace(kube=_NoNamespaces(), run_id="r1")).run(job)  # type: ignore[arg-type]


def test_a_hanging_grading_is_that_submissions_error(monkeypatch: pytest.MonkeyPatch) -> None:
    record = _worker_result(monkeypatch, lambda *a, **k: time.sleep(10), timeout_s=0.3)
    assert (record.outcome, record.score) == (Outcome.ERROR, None)
    assert "took longer than" in record.reason


def test_refused_input_and_environment_in_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise BadInput("Pod/sneaky: Pod is not part of this lab's answer", file="ada/nodeport/a.yaml", line=1)

    def broken(*args: object, **kwargs: object) -> None:
        raise EnvError("probe pods cannot start")

    refused = _worker_result(monkeypatch, refuse)
    assert (refused.outcome, refused.score) == (Outcome.ERROR, None)
    assert refused.reason.startswith("ada/nodeport/a.yaml:1: Pod/sneaky")
    env = _worker_result(monkeypatch, broken)
    assert (env.outcome, env.reason) == (Outcome.ENV_ERROR, "probe pods cannot start")


def test_a_port_held_by_something_that_takes_no_lease_is_env_error_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    tries: list[int] = []

    def taken(*args: object, **kwargs: object) -> None:
        tries.append(1)
        raise ClaimTaken("spec.ports[0].nodePort: Invalid value: 30007", fix="Service other/web holds it now")

    record = _worker_result(monkeypatch, taken)  # gradings wait on Leases before they apply (grading.session)
    assert (len(tries), record.outcome) == (1, Outcome.ENV_ERROR)
    assert "Service other/web holds it now" in record.reason


def test_words_of_a_collision_in_a_plain_refusal_are_the_answers_own(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise BadInput("spec.ports[0].nodePort: Invalid value: 30007: provided port is already allocated")

    record = _worker_result(monkeypatch, refused)  # no other Service held it: the value is the answer's
    assert record.outcome is Outcome.ERROR
