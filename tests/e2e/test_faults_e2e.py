"""Broken environments are ENV-ERROR with a diagnosis, never a score, and leave nothing behind.

These tests break the real lab cluster on purpose (a dead kubeconfig, a missing probe image, MetalLB's
controller stopped, the Docker engine stopped, the cluster deleted mid-grade) and mend it after, so they
run after every other e2e test (marker `disruptive`, ordered last by tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader._kube import MANAGED_BY_KEY, MANAGED_BY_VALUE, Kube, KubeError, KubeUnreachable
from grader._wait import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive]

REPO = Path(__file__).parent.parent.parent
DIAGNOSIS_S = 60  # the longest a broken environment may take to be named


def _grade(lab: str, *extra: str, report: Path) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-m",
        "grader.cli",
        "grade",
        lab,
        "--manifests",
        str(REPO / f"labs/{lab}/solution"),
        "--json",
        str(report),
        *extra,
    ]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


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
    return [
        n["metadata"]["name"]
        for n in kube.list("namespaces", selector=f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}")
        if (n["metadata"].get("annotations") or {}).get("servicelab.dev/owner", "").endswith(f"/{pid}")
        and n.get("status", {}).get("phase") != "Terminating"
    ]


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


def _scale_metallb(kube: Kube, replicas: int) -> None:
    kube.patch("deployment", "controller", "metallb-system", {"spec": {"replicas": replicas}})

    def settled() -> tuple[bool | None, str]:
        dep = kube.get("deployment", "controller", "metallb-system") or {}
        available = dep.get("status", {}).get("availableReplicas") or 0
        pods = kube.list("pods", "metallb-system", selector="component=controller")
        done = available == replicas and len(pods) == replicas
        return (True if done else None), f"{available} available, {len(pods)} pod(s)"

    wait_for(settled, what=f"MetalLB controller at {replicas} replica(s)", timeout_s=120, interval_s=0.5)


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
