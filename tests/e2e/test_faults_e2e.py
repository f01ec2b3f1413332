"""Broken environments are ENV-ERROR with a diagnosis, never a score, and leave nothing behind.

These tests break the real lab cluster on purpose (a dead kubeconfig, a missing probe image, MetalLB's
controller stopped during one grading and in the middle of a grade-batch, the Docker engine stopped, the
cluster deleted mid-grade) and mend it after, so they run after every other e2e test (marker `disruptive`,
ordered last by tests/conftest.py).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _runs import grading_process, namespaces_of

from grader.base import names
from grader.base.wait import wait_for
from grader.kube.client import Kube, KubeError, KubeUnreachable

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive]

REPO = Path(__file__).parent.parent.parent
DIAGNOSIS_S = 60  # the longest a broken environment may take to be named
KEPT = "servicelab-kept-across-restart"  # a learner's namespace: a restart must not lose it


def _grade(lab: str, *extra: str, report: Path) -> subprocess.Popen[str]:
    return grading_process(lab, "--json", str(report), *extra)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, float]:
    start = time.monotonic()
    out, err = proc.communicate(timeout=DIAGNOSIS_S + 60)
    return proc.returncode, " ".join((out + err).split()), time.monotonic() - start  # unwrapped


def _assert_no_score(report: Path) -> None:
    if report.exists():  # an ENV-ERROR report carries the diagnosis and no score
        data = json.loads(report.read_text())
        assert data.get("score") is None
        assert data.get("verdict") == "ENV-ERROR"


def _left_by(kube: Kube, pid: int) -> list[str]:
    return namespaces_of(kube, pid, terminating=False)


def test_dead_kubeconfig(tmp_path: Path) -> None:
    dead = tmp_path / "kubeconfig"
    dead.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:1\n"
        "contexts:\n- name: gone\n  context:\n    cluster: gone\n    user: u\ncurrent-context: gone\n"
        "users:\n- name: u\n  user:\n    token: x\n"
    )
    report = tmp_path / "r.json"
    code, text, seconds = _finish(_grade("clusterip", "--kubeconfig", str(dead), report=report))
    assert code == 3, text
    assert "does not answer" in text
    assert seconds < DIAGNOSIS_S
    _assert_no_score(report)


def test_probe_image_missing_on_the_nodes(context: str, kube: Kube, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    proc = _grade(
        "clusterip", "--context", context, "--probe-image", "docker.io/library/busybox:no-such-tag", report=report
    )
    code, text, seconds = _finish(proc)
    assert code == 3, text
    assert "busybox:no-such-tag" in text
    assert seconds < DIAGNOSIS_S + 30  # pod start-up detection included
    _assert_no_score(report)
    assert _left_by(kube, proc.pid) == []


def _scale(kube: Kube, namespace: str, deployment: str, selector: str, replicas: int) -> None:
    """Scale a Deployment and wait until it has exactly that many pods, all available."""
    kube.patch("deployment", deployment, namespace, {"spec": {"replicas": replicas}})

    def settled() -> tuple[bool | None, str]:
        dep = kube.get("deployment", deployment, namespace) or {}
        available = dep.get("status", {}).get("availableReplicas") or 0
        pods = kube.list("pods", namespace, selector=selector)
        done = available == replicas and len(pods) == replicas
        return (True if done else None), f"{available} available, {len(pods)} pod(s)"

    wait_for(settled, what=f"{namespace}/{deployment} at {replicas} replica(s)", timeout_s=180, interval_s=0.5)


def _scale_metallb(kube: Kube, replicas: int) -> None:
    _scale(kube, "metallb-system", "controller", "component=controller", replicas)


def test_metallb_controller_stopped(context: str, kube: Kube, tmp_path: Path) -> None:
    _scale_metallb(kube, 0)
    try:
        report = tmp_path / "r.json"
        proc = _grade("loadbalancer", "--context", context, report=report)
        code, text, seconds = _finish(proc)
        assert code == 3, text
        assert "MetalLB's controller is not running" in text
        assert seconds < DIAGNOSIS_S
        _assert_no_score(report)
        assert _left_by(kube, proc.pid) == []
        doctor = subprocess.run(
            [sys.executable, "-m", "grader.cli", "doctor"], capture_output=True, text=True, check=False, timeout=120
        )
        (REPO / "reports").mkdir(exist_ok=True)  # kept as a CI artifact: what doctor says of a broken cluster
        (REPO / "reports/doctor-metallb-stopped.txt").write_text(doctor.stdout + doctor.stderr)
        assert doctor.returncode == 3, doctor.stdout
        assert "FAIL MetalLB" in doctor.stdout
        assert "rollout restart deployment/controller" in doctor.stdout or "scale" in doctor.stdout
    finally:
        _scale_metallb(kube, 1)


def _cluster_up() -> None:
    subprocess.run([sys.executable, "-m", "grader.cli", "up"], check=True, timeout=900)


def _api_answers(kube: Kube) -> tuple[bool | None, str]:
    try:
        return True, kube.server_version()
    except (KubeError, KubeUnreachable) as err:
        return None, str(err)[:200]


def _dockerd_gone() -> tuple[bool | None, str]:
    found = subprocess.run(["pgrep", "-a", "-x", "dockerd"], capture_output=True, text=True, check=False)
    return (True if found.returncode == 1 else None), found.stdout.strip() or "dockerd running"


def _mend_cluster(kube: Kube) -> None:
    """Engine answering, cluster up (re-created if need be), API server answering: later tests find it whole."""
    subprocess.run([str(REPO / "tools/docker-engine/ensure-docker")], check=True, timeout=300)
    _cluster_up()
    wait_for(lambda: _api_answers(kube), what="API server back", timeout_s=180)


def test_docker_engine_stopped(context: str, kube: Kube, tmp_path: Path) -> None:
    subprocess.run(["pkill", "-TERM", "-x", "dockerd"], check=False)
    try:
        # dockerd stops its containers before it exits: wait for that, or ensure-docker would find it still there.
        wait_for(_dockerd_gone, what="dockerd exited", timeout_s=180, interval_s=0.5)
        report = tmp_path / "r.json"
        code, text, seconds = _finish(_grade("clusterip", "--context", context, report=report))
        assert code == 3, text
        assert "the Docker engine that runs kind does not answer" in text, text
        assert "ensure-docker" in text
        assert seconds < DIAGNOSIS_S
        _assert_no_score(report)
    finally:
        _mend_cluster(kube)


def test_cluster_deleted_mid_grade(context: str, kube: Kube, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    proc = _grade("readiness", "--context", context, report=report)
    try:
        wait_for(
            lambda: (True if _left_by(kube, proc.pid) else None, "no namespace yet"),
            what="the grading started",
            timeout_s=90,
            interval_s=0.2,
        )
        kind = os.environ.get("SERVICELAB_KIND", "kind")
        subprocess.run(
            [kind, "delete", "cluster", "--name", "servicelab"], check=True, timeout=300, capture_output=True
        )
        code, text, seconds = _finish(proc)
        assert code == 3, text
        assert "does not answer" in text, text
        assert seconds < DIAGNOSIS_S
        _assert_no_score(report)
    finally:
        proc.kill()
        proc.wait(timeout=60)
        _mend_cluster(kube)
    assert _left_by(kube, proc.pid) == []


# A LoadBalancer class for grade-batch: every submission needs a MetalLB address to be graded.
# student -> (case folder of labs/loadbalancer, expected score out of 6)
LB_CLASS = {
    "ada": ("solution", 6),
    "bob": ("alternatives/explicit-defaults", 6),
    "cy": ("wrong/no-node-ports", 5),  # fails the 1-point node port check
    "dee": ("alternatives/labels-and-app-protocol", 6),
    "eve": ("wrong/internal-annotation", 3),  # fails the 3-point public address check
    "fay": ("solution", 6),
}
BATCH_S = 900  # worker start-up (probe pods) plus six gradings, one at a time


def _lb_class(root: Path) -> Path:
    for student, (case, _) in LB_CLASS.items():
        (root / student).mkdir(parents=True)
        for manifest in (REPO / "labs/loadbalancer" / case).glob("*.yaml"):
            if manifest.name != "case.yaml":
                (root / student / manifest.name).write_text(manifest.read_text())
    return root


def _grade_batch(hand_ins: Path, out: Path, context: str, log: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "grader.cli", "grade-batch", str(hand_ins), "--lab", "loadbalancer"]
    argv += ["--out", str(out), "--jobs", "1", "--context", context]
    with log.open("w") as fh:  # a file, not a pipe: nobody reads it while the batch runs
        return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, text=True)


def _records(out: Path) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for path in sorted(out.glob("*.json")):
        found |= {item["student"]: item for item in json.loads(path.read_text())["submissions"]}
    return found


def _batch_done(proc: subprocess.Popen[str], log: Path, timeout_s: float) -> tuple[int, str]:
    def ended() -> tuple[int | None, str]:
        lines = log.read_text().strip().splitlines() or ["no output yet"]
        return proc.poll(), lines[-1]

    code = wait_for(ended, what="grade-batch finished", timeout_s=timeout_s, interval_s=0.5, max_interval_s=5.0)
    return code, log.read_text()


def _csv_rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "grades.csv").open(newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def test_metallb_stopped_mid_batch_no_score_then_rerun_grades_just_those(
    context: str, kube: Kube, tmp_path: Path
) -> None:
    hand_ins, out, log = _lb_class(tmp_path / "hand-ins"), tmp_path / "grades", tmp_path / "batch.log"
    proc = _grade_batch(hand_ins, out, context, log)
    try:
        wait_for(  # the batch is under way: its first submission graded with MetalLB running
            lambda: (_records(out) or None, log.read_text()[-300:] or "no output yet"),
            what="the first record of the batch",
            timeout_s=300,
            interval_s=0.5,
            max_interval_s=2.0,
        )
        before_stop = set(_records(out))
        _scale_metallb(kube, 0)
        when_stopped = set(_records(out))
        code, text = _batch_done(proc, log, BATCH_S)
    finally:
        try:
            if proc.poll() is None:
                proc.terminate()  # the batch unwinds: its namespaces go, then it exits
                proc.wait(timeout=240)
        finally:
            _scale_metallb(kube, 1)  # later tests (and the re-run below) need MetalLB whole
    print(text)
    print(f"graded before the stop: {sorted(before_stop)}; done when MetalLB was down: {sorted(when_stopped)}")
    rows, records = _csv_rows(out), _records(out)
    assert sorted(rows) == sorted(records) == sorted(LB_CLASS), text
    env = sorted(s for s, row in rows.items() if row["status"] == "env-error")
    for student, (_, expected) in LB_CLASS.items():
        row, record = rows[student], records[student]
        if student in env:  # no score, never 0, and the reason
            assert (row["score"], row["max_score"]) == ("", ""), row
            assert (record["score"], record["outcome"]) == (None, "env-error"), record
            assert "MetalLB's controller is not running" in row["reason"], row
        else:
            assert (row["status"], row["score"], row["max_score"]) == ("graded", str(expected), "6"), row
    assert not before_stop & set(env), "what was graded before MetalLB stopped keeps its score"
    started_after = set(LB_CLASS) - when_stopped
    assert len(started_after - set(env)) <= 1, "one at a time (--jobs 1): all but the one in flight are ENV-ERROR"
    assert env, "MetalLB stopped mid-batch: some submissions must be ENV-ERROR"
    assert code == 3, text
    assert f"{len(env)} submissions not graded: environment" in text, text
    assert f"0 not graded: error in the submission, {len(env)} not graded: environment" in text, text

    first = records
    code, text = _batch_done(_grade_batch(hand_ins, out, context, log), log, BATCH_S)
    print(text)
    assert code == 0, text
    assert f"{len(LB_CLASS)} graded, 0 no answer, 0 not graded: error in the submission, 0 not graded" in text, text
    again, rows = _records(out), _csv_rows(out)
    for student, (_, expected) in LB_CLASS.items():
        assert (rows[student]["status"], rows[student]["score"]) == ("graded", str(expected)), rows[student]
        if student not in env:
            assert again[student] == first[student], f"{student} was graded again"
    regraded = {s for s in LB_CLASS if again[s] != first[s]}
    assert regraded == set(env), "the re-run grades exactly the ENV-ERROR submissions"


def _addresses(names: list[str]) -> dict[str, str]:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{.Name}} {{.NetworkSettings.Networks.kind.IPAddress}}", *names],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return dict(line.lstrip("/").split() for line in out.splitlines())


def test_restarted_node_containers_then_up_status_and_grading_are_whole(
    context: str, kube: Kube, tmp_path: Path
) -> None:
    """What a machine restart does: every container stops at once and comes back, often at other addresses,
    while the API server still holds the last boot's Ready nodes and pods. Docker starts the outside containers
    (restart unless-stopped) but not kind's nodes; `up` starts them. `up` then `status` (what CI does) must find
    the cluster whole, with the learner's namespaces kept, and a LoadBalancer grading must pass."""
    kind = os.environ.get("SERVICELAB_KIND", "kind")
    nodes = subprocess.run(
        [kind, "get", "nodes", "--name", names.KIND_CLUSTER], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    containers = [*nodes, *names.HELPER_CONTAINERS]
    before = _addresses(containers)
    try:
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": KEPT}})
        subprocess.run(["docker", "stop", "-t", "0", *containers], check=True, timeout=300, capture_output=True)
        # The outside containers first, in the reverse order of their addresses: the nodes then get other ones.
        for name in sorted(containers[len(nodes) :], key=lambda n: before[n], reverse=True):
            subprocess.run(["docker", "start", name], check=True, timeout=120, capture_output=True)
        up = subprocess.run(
            [sys.executable, "-m", "grader.cli", "up"], capture_output=True, text=True, check=False, timeout=900
        )
        print(f"addresses before: {before}; after: {_addresses(containers)}")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "stopped: starting them" in up.stdout, up.stdout
        assert "cluster 'servicelab' exists: started" in up.stdout, up.stdout  # not deleted and made again
        assert kube.get("namespace", KEPT) is not None
        status = subprocess.run(
            [sys.executable, "-m", "grader.cli", "status"], capture_output=True, text=True, check=False, timeout=300
        )
        assert status.returncode == 0, up.stdout + status.stdout + status.stderr
        report = tmp_path / "r.json"
        code, text, _ = _finish(_grade("loadbalancer", "--context", context, report=report))
        assert code == 0, text
        assert json.loads(report.read_text())["score"] == 6.0, text
    finally:
        _mend_cluster(kube)
        kube.delete("namespace", KEPT)


def _scale_traefik(kube: Kube, replicas: int) -> None:
    _scale(kube, "traefik", "traefik", "app=traefik", replicas)


@pytest.mark.parametrize("lab", ["ingress", "gateway"])
def test_traefik_that_answers_nothing_is_env_error_not_zero(context: str, kube: Kube, tmp_path: Path, lab: str) -> None:
    """Traefik's address still assigned, nobody behind it: the routes' checks would all fail (0/5) though the
    learner's answer is right. No HTTP answer at all, not even Traefik's 404, is the environment."""
    _scale_traefik(kube, 0)
    try:
        report = tmp_path / "r.json"
        proc = _grade(lab, "--context", context, report=report)
        code, text, seconds = _finish(proc)
        assert code == 3, text
        assert "gives no HTTP answer from outside container" in text, text
        assert seconds < DIAGNOSIS_S
        _assert_no_score(report)
        assert _left_by(kube, proc.pid) == []
    finally:
        _scale_traefik(kube, 1)


@pytest.mark.parametrize("lab", ["clusterip", "nodeport"])
def test_a_stopped_outside_container_is_env_error_on_kind(tmp_path: Path, lab: str) -> None:
    """On the kind lab cluster the outside container is part of the cluster: stopped, it is not an n/a that
    drops the exposure check from the total (a NodePort answer to the ClusterIP lab got 4/4 that way), but
    ENV-ERROR with the fix."""
    subprocess.run(["docker", "stop", "-t", "1", "servicelab-outside"], check=True, capture_output=True, timeout=60)
    try:
        report = tmp_path / "r.json"
        code, said, _ = _finish(_grade(lab, report=report))
        assert code == 3, said
        assert "servicelab up" in said, said
        _assert_no_score(report)
    finally:
        subprocess.run(["docker", "start", "servicelab-outside"], check=True, capture_output=True, timeout=60)
        wait_for(
            lambda: (
                (True, "running")
                if subprocess.run(
                    ["docker", "exec", "servicelab-outside", "true"], capture_output=True, check=False, timeout=30
                ).returncode
                == 0
                else (None, "not answering")
            ),
            what="servicelab-outside running again",
            timeout_s=60,
        )
