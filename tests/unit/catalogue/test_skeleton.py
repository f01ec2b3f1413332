"""grader.catalogue.skeleton and `servicelab new-lab`: the skeleton is a valid lab, its cases say what its checks
do (run here against a fake cluster: the lab cluster's check-solutions is the real proof), and the notebook
builder takes it, with or without its notebook parts."""

from __future__ import annotations

import ast
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from _builder import load_builder
from _grader_fakes import REFUSED, FakeKube, ScriptedVantage, endpoint_slice, facts, http_ok, pod

from grader.base.images import LAB_IMAGES
from grader.catalogue.cases import Case, read_cases
from grader.catalogue.labs import Lab, load_lab
from grader.catalogue.skeleton import new_lab
from grader.cli.main import main
from grader.grading.results import LabResult, Status
from grader.grading.scoring import judge_case
from grader.grading.session import run_checks
from grader.grading.submission import judge_submission
from grader.intake.manifests import manifest_files, read_docs
from grader.lab.context import LabContext
from grader.probes.base import ProbePolicy
from grader.probes.shell import Op, Outcome


@pytest.fixture
def skeleton(tmp_path: Path) -> Lab:
    return load_lab(new_lab("my-lab", tmp_path))


def test_the_skeleton_is_a_valid_lab(skeleton: Lab) -> None:
    assert (skeleton.id, skeleton.order, skeleton.expects) == ("my-lab", 1, [("Service", "web")])
    assert skeleton.title == "my-lab: a ClusterIP Service in front of two pods"
    assert [(c.id, c.points) for c in skeleton.checks] == [("answers_inside_cluster", 2), ("resolves_by_dns_name", 1)]
    assert skeleton.policy.kinds == ("Service",)
    assert set(skeleton.hints) == {c.id for c in skeleton.checks}  # hint() has all four steps from the start
    assert [q.answer for q in skeleton.knowledge] == ["b", "a", "c"]
    text = (skeleton.path / "task.md").read_text(encoding="utf-8")
    assert text.startswith("# my-lab: a ClusterIP Service in front of two pods\n")
    assert "-n lab-my-lab" in text
    texts = [p for p in skeleton.path.rglob("*") if p.is_file() and p.suffix != ".png"]  # the PNG: a picture
    assert "{{" not in "".join(p.read_text(encoding="utf-8") for p in texts)


def test_the_skeleton_imports_only_the_front_door(skeleton: Lab) -> None:
    tree = ast.parse(skeleton.checks_file.read_text(encoding="utf-8"))
    modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert [m for m in modules if m and m.startswith("grader")] == ["grader.lab"]
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import) and n.names[0].name.startswith("grader")]


def test_the_skeleton_cases_are_read_as_declared(skeleton: Lab) -> None:
    cases = read_cases(skeleton.path, {c.id for c in skeleton.checks})
    assert [c.label for c in cases] == ["solution", "alternative/numeric-targetport", "wrong/selector-typo"]
    wrong = cases[-1]
    assert (wrong.fails, wrong.diagnosis, wrong.blocked) == (
        "answers_inside_cluster",
        "endpoints/selector-matches-no-pod",
        (),
    )
    assert wrong.hint == "The selector app=wbe of Service web matches no pod"
    assert cases[1].why.strip()


def test_the_skeleton_manifests_pass_the_policy_and_use_lab_images(skeleton: Lab) -> None:
    for case in skeleton.cases:
        judged = judge_submission(skeleton, [(f, f.name) for f in manifest_files(case.path)])  # refused: BadInput
        assert [d.ref for d in judged if d.kind == "Service"] == ["Service/web"], case.label
    starter = [d for f in skeleton.starter_files for d in read_docs(f)]
    images = [c["image"] for d in starter for c in d.obj["spec"]["template"]["spec"]["containers"]]
    assert images
    assert set(images) <= set(LAB_IMAGES)


def test_the_order_follows_the_catalogue(tmp_path: Path) -> None:
    new_lab("first", tmp_path)
    (tmp_path / "first" / "lab.yaml").write_text(
        (tmp_path / "first" / "lab.yaml").read_text(encoding="utf-8").replace("order: 1", "order: 13")
    )
    assert load_lab(new_lab("second", tmp_path)).order == 14


# --- the skeleton's checks against a fake cluster: the solution passes, the wrong case fails as declared --------


DEPLOYMENT = {
    "metadata": {"name": "web", "generation": 1},
    "spec": {"replicas": 2},
    "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2},
}


class FakeEnv:
    """The cluster DNS answers with the ClusterIP; HTTP to it reaches the pods when targetPort is their port."""

    run_id = "t1"
    policy = ProbePolicy()

    def __init__(self, kube: FakeKube, reaches_pods: bool) -> None:
        self.kube = kube
        self.reaches_pods = reaches_pods

    def answer(self, op: Op, call: int) -> Outcome:
        if op.kind == "dns":
            return Outcome(
                0, "", f"Server:\t10.96.0.2\nAddress:\t10.96.0.2:53\n\nName:\t{op.target}\nAddress:\t10.96.0.10\n"
            )
        return http_ok(f"web-{call % 2 + 1}") if self.reaches_pods else REFUSED  # the pods take turns, by round

    def context(self, namespace: str, ready_timeout_s: float = 60.0) -> LabContext:
        return LabContext(
            namespace,
            self.kube,  # type: ignore[arg-type]
            facts(),
            ScriptedVantage(self.answer),
            ScriptedVantage(self.answer, "other"),
            ScriptedVantage(self.answer, "outside container"),
            ScriptedVantage(self.answer, "host"),
            ready_timeout_s=5.0,
        )


def _as_created(case: Case) -> dict[str, Any]:
    """The case's Service as the API server would hold it: a ClusterIP, the defaults filled in."""
    (svc,) = [d.obj for f in manifest_files(case.path) for d in read_docs(f) if d.kind == "Service"]
    spec = {"type": "ClusterIP", "clusterIP": "10.96.0.10", **svc["spec"]}
    spec["ports"] = [{"protocol": "TCP", "targetPort": p["port"], **p} for p in spec["ports"]]
    return {"metadata": {"name": svc["metadata"]["name"], "namespace": "ns"}, "spec": spec, "status": {}}


def _graded(lab: Lab, case: Case) -> LabResult:
    """The case on a fake cluster that runs the skeleton's starter: two pods app=web, port 8080 named http."""
    svc = _as_created(case)
    pods = [pod("web-1", {"app": "web"}), pod("web-2", {"app": "web"})]
    target = svc["spec"]["ports"][0]["targetPort"]
    selected = [
        p["metadata"]["name"]
        for p in pods
        if svc["spec"]["selector"].items() <= p["metadata"]["labels"].items()
        and not (isinstance(target, str) and target != "http")  # a port name the pods lack: no endpoint
    ]
    kube = FakeKube(
        {
            "services": [svc],
            "pods": pods,
            "endpointslices": [endpoint_slice("web", selected)] if selected else [],  # the controller's part
            "deployments": [DEPLOYMENT],
        }
    )
    return run_checks(lab, "ns", FakeEnv(kube, reaches_pods=target in ("http", 8080)))  # type: ignore[arg-type]


def test_the_skeleton_cases_hold_on_a_fake_cluster(skeleton: Lab) -> None:
    results = {case.label: _graded(skeleton, case) for case in skeleton.cases}
    for case in skeleton.cases:
        outcome = judge_case(case, results[case.label])
        assert outcome.holds, f"{case.label}: {outcome.observed}"
    wrong = results["wrong/selector-typo"]
    assert [c.status for c in wrong.checks] == [Status.FAIL, Status.PASS]
    assert "The selector app=wbe of Service web matches no pod" in wrong.checks[0].message


# --- servicelab new-lab ---------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _catalogue_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--labs DIR` sets SERVICELAB_LABS for the rest of the process: monkeypatch puts it back after each test."""
    monkeypatch.setenv("SERVICELAB_LABS", os.environ.get("SERVICELAB_LABS", ""))  # '' reads as unset


def test_new_lab_writes_the_folder_and_says_what_next(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-lab", "demo", "--labs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"wrote lab demo in {tmp_path / 'demo'}" in out
    assert f"servicelab check-solutions demo --labs {tmp_path}" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no staging folder left behind
    assert load_lab(tmp_path / "demo").id == "demo"


def test_new_lab_refuses_an_existing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "notes.txt").write_text("mine")
    assert main(["new-lab", "demo", "--labs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'demo'} already exists" in err
    assert "fix: choose another id" in err
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


@pytest.mark.parametrize("bad", ["Demo", "my_lab", "lab-", "a" * 33, "../x", "1.0", "x y"])
def test_new_lab_refuses_an_invalid_id(tmp_path: Path, bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-lab", bad, "--labs", str(tmp_path)]) == 2
    assert f"'{bad}' is not a lab id" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_new_lab_refuses_a_catalogue_that_is_not_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-lab", "demo", "--labs", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_a_yaml_word_as_id_stays_a_string(tmp_path: Path) -> None:
    assert load_lab(new_lab("yes", tmp_path)).id == "yes"  # unquoted, YAML 1.1 would read `id: yes` as true
    assert load_lab(new_lab("123", tmp_path)).id == "123"


# --- the notebook builder ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def builder() -> ModuleType:
    return load_builder()


def _cells(builder: ModuleType, lab: Lab) -> dict[str, str]:
    import nbformat  # noqa: PLC0415 - the learn extra

    nb = builder.build(lab)
    nbformat.validate(nb)
    return {c["id"]: c.source for c in nb.cells}


def test_the_builder_makes_the_skeleton_notebook(builder: ModuleType, skeleton: Lab) -> None:
    cells = _cells(builder, skeleton)
    assert "**You will** give two pods one stable in-cluster address and DNS name;" in cells["objectives"]
    assert "**Time:** about 15 minutes." in cells["objectives"]
    assert "**On the kind lab cluster.** Nothing needs standing in for" in cells["concept"]
    assert "**Build**" in cells["task-text"]
    assert "![How a request travels](attachment:diagram.png)" in cells["diagram"]  # new-lab wrote its pictures
    assert cells["check"] == 'score = check("my-lab")\nround(score * 3, 2)'


def test_the_builder_leaves_out_what_a_lab_does_not_have(builder: ModuleType, skeleton: Lab) -> None:
    (skeleton.path / "notebook.yaml").unlink()
    (skeleton.path / "diagram.mmd").unlink()
    bare = load_lab(skeleton.path)
    cells = _cells(builder, bare)
    assert "diagram" not in cells
    title = (bare.path / "task.md").read_text(encoding="utf-8").splitlines()[0]
    assert cells["objectives"].startswith(f"{title}\n\n**Before you start:** the lab cluster: `servicelab up`")
    assert "**You will**" not in cells["objectives"]
    assert "On the kind lab cluster" not in cells.get("concept", "")
    assert {"setup", "task-text", "grader-text", "explore", "manifest", "check", "flow", "progress"} <= set(cells)


def test_the_builder_takes_objectives_without_a_time(builder: ModuleType, skeleton: Lab) -> None:
    (skeleton.path / "notebook.yaml").write_text("objectives: [do one thing, then another]\n")
    cells = _cells(builder, load_lab(skeleton.path))
    assert "\n\n**You will** do one thing; then another.  \n**Before you start:**" in cells["objectives"]
    assert "**Time:**" not in cells["objectives"]
