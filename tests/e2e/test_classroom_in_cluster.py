"""The classroom's grading service inside the cluster, as it runs on AKS (`grading: {runs: in-cluster}`), on the real
lab cluster: `servicelab classroom up` runs it as Deployment `grading` in the hub's namespace (its own account, no
container beside kind); a student's reference answer is graded through the hub's proxy (/services/grading/) with
the student's own token, from in-cluster vantage points only: what a pod can see passes, the check that needs a
client outside the cluster is n/a and the score is not full; another student's token is refused; `down` leaves
nothing.

Run alone: pytest --e2e -m classroom tests/e2e/test_classroom_in_cluster.py -s
It deploys into servicelab-classroom and servicelab-student-* only, and takes it all down, pass or fail.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from test_classroom_e2e import _servicelab, classroom_up  # the classroom's lifecycle, as that e2e drives it

from grader.base.wait import wait_for
from grader.classroom import grading, incluster
from grader.classroom import manifests as m
from grader.cluster import docker
from grader.cluster.readiness import rollout_ready
from grader.grading import fence
from grader.kube.client import Kube

pytestmark = [pytest.mark.e2e, pytest.mark.classroom]

REPO = Path(__file__).resolve().parents[2]
VALUES = """\
students: [ada, ben]
instructors: [teacher]
labs: [clusterip]
grading: {runs: in-cluster}
"""
GRADE_S = 300.0


@pytest.fixture
def classroom(kube: Kube, context: str, tmp_path: Path) -> Iterator[str]:
    with classroom_up(kube, context, tmp_path / "classroom.yaml", VALUES) as hub:
        yield hub


def _token(student: str, context: str) -> str:
    """The student's server pod's ServiceAccount token (a TokenRequest): what check() sends."""
    namespace = m.student_namespace(student)
    argv = ["kubectl", "--context", context, "-n", namespace, "create", "token", fence.LEARNER_ACCOUNT]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def _deployments_ready(kube: Kube, namespace: str) -> tuple[bool | None, str]:
    seen = []
    for deployment in kube.list("deployments", namespace):
        ready, state = rollout_ready(kube, namespace, "deployment", deployment["metadata"]["name"])
        if not ready:
            return None, state
        seen.append(deployment["metadata"]["name"])
    return (True if seen else None), f"ready: {seen}"


def test_the_grading_pod_grades_a_students_namespace_with_in_cluster_vantages_only(
    classroom: str, kube: Kube, context: str
) -> None:
    assert docker.container_state(grading.CONTAINER) is None  # no container beside kind
    (pod,) = kube.list("pods", m.HUB_NAMESPACE, selector="app.kubernetes.io/component=grading")
    assert pod["spec"]["serviceAccountName"] == grading.ACCOUNT
    assert pod["status"]["phase"] == "Running"
    print(f"grading pod {pod['metadata']['name']} on {pod['spec']['nodeName']}")

    own = m.student_namespace("ada")
    for folder in ("starter", "solution"):  # the reference answer, applied as the student would
        for path in sorted((REPO / "labs" / "clusterip" / folder).glob("*.yaml")):
            kube.apply(path.read_text(), own)
    wait_for(lambda: _deployments_ready(kube, own), what=f"the starter's pods in {own}", timeout_s=180)

    service = f"{classroom}services/grading"  # through the hub's proxy, which keeps the prefix
    ada = {"Authorization": f"Bearer {_token('ada', context)}"}
    answer = requests.post(f"{service}/grade?wait=true", json={"lab": "clusterip"}, headers=ada, timeout=GRADE_S)
    assert answer.status_code == 200, answer.text
    row: dict[str, Any] = answer.json()
    print(f"ada, clusterip: {row['verdict']} {row['score']}/{row['max_score']} in {row['namespace']}")
    checks = row["report"]["checks"]
    for check in checks:
        print(f"  {check['status']} {check['id']}: {check['message'][:300]}")
    # the reference answer: every check a pod can see passes; a check that needs a client outside the cluster is
    # n/a (a pod has none: the service grades as on AKS), and n/a is never full marks
    statuses = {check["id"]: check["status"] for check in checks}
    assert set(statuses.values()) == {"pass", "n/a"}, statuses
    for check in checks:
        if check["status"] == "n/a":
            assert "outside container not available" in check["message"], check
    earned = sum(check["points"] for check in checks if check["status"] == "pass")
    assert (row["verdict"], row["score"], row["max_score"]) == ("FAIL", earned, 6), row
    assert row["namespace"] == own
    evidence = [e for check in row["report"]["checks"] for e in check.get("evidence") or []]
    vantages = sorted({e["vantage"] for e in evidence})
    print("vantage points of the evidence:", vantages)
    assert evidence
    assert not any("outside" in vantage for vantage in vantages)  # a pod has no client outside the cluster

    ben = {"Authorization": f"Bearer {_token('ben', context)}"}
    mine = requests.get(f"{service}/results", headers=ben, timeout=30)
    assert mine.status_code == 200
    assert mine.json()["results"] == []
    theirs = requests.get(f"{service}/results", params={"student": "ada"}, headers=ben, timeout=30)
    assert theirs.status_code == 403, theirs.text
    grade_theirs = requests.post(
        f"{service}/grade", json={"lab": "clusterip", "namespace": own}, headers=ben, timeout=30
    )
    assert grade_theirs.status_code == 403, grade_theirs.text

    status = _servicelab("status", context=context)
    assert status.returncode == 0
    assert f"deployment {m.HUB_NAMESPACE}/{incluster.DEPLOYMENT}: ready" in status.stdout
