"""The classroom's grading service inside the cluster, as it runs on AKS (`grading: {runs: in-cluster}`), on the real
lab cluster: `servicelab classroom up` runs it as Deployment `grading` in the hub's namespace (its own account, no
container beside kind); a student's reference answer is graded through the hub's proxy (/services/grading/) with
the student's own token, from in-cluster vantage points only: what a pod can see passes, the check that needs a
client outside the cluster is n/a and the score is not full; another student's token is refused; `down` leaves
nothing. Then replicas sharing a PostgreSQL gradebook (a server of the test's own on this machine): two pods,
two students graded at once, both pods instances of the gradebook, one pod deleted (check() called while it stops is
answered) and every result still there; and two containers beside kind (`grading: {runs: container, replicas: 2}`),
each grading a student with the outside vantage points too (full marks), each the gradebook instance of its jobs.

Run alone: pytest --e2e -m classroom tests/e2e/test_classroom_in_cluster.py -s
It deploys into servicelab-classroom and servicelab-student-* only, and takes it all down, pass or fail.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
from grader.learner import classroom as learner_client

pytestmark = [pytest.mark.e2e, pytest.mark.classroom]

REPO = Path(__file__).resolve().parents[2]
VALUES = """\
students: [ada, ben]
instructors: [teacher]
labs: [clusterip]
grading: {runs: in-cluster}
"""
GRADE_S = 300.0


# Two pods of the service sharing a PostgreSQL gradebook on this machine (where pods reach it: the kind network's
# gateway); {url}: its database.
REPLICAS_VALUES = """\
students: [ada, ben]
instructors: [teacher]
labs: [clusterip]
grading: {{runs: in-cluster, replicas: 2, gradebook: '{url}'}}
"""


@pytest.fixture
def classroom(kube: Kube, context: str, tmp_path: Path) -> Iterator[str]:
    with classroom_up(kube, context, tmp_path / "classroom.yaml", VALUES) as hub:
        yield hub


def _token(student: str, context: str) -> str:
    """The student's server pod's ServiceAccount token (a TokenRequest): what check() sends."""
    namespace = m.student_namespace(student)
    argv = ["kubectl", "--context", context, "-n", namespace, "create", "token", fence.LEARNER_ACCOUNT]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def _grade(service: str, token: str) -> dict[str, Any]:
    """POST /grade?wait=true for the ClusterIP lab with a student's token: the finished row."""
    headers = {"Authorization": f"Bearer {token}"}
    answer = requests.post(f"{service}/grade?wait=true", json={"lab": "clusterip"}, headers=headers, timeout=GRADE_S)
    assert answer.status_code == 200, answer.text
    row: dict[str, Any] = answer.json()
    return row


def _apply_reference_answer(kube: Kube, namespace: str) -> None:
    for folder in ("starter", "solution"):  # the reference answer, applied as the student would
        for path in sorted((REPO / "labs" / "clusterip" / folder).glob("*.yaml")):
            kube.apply(path.read_text(), namespace)
    wait_for(lambda: _deployments_ready(kube, namespace), what=f"the starter's pods in {namespace}", timeout_s=180)


def _as_reference(row: dict[str, Any]) -> None:
    """The ClusterIP lab's reference answer graded from inside: every check a pod can see passes; one that needs a
    client outside the cluster is n/a (a pod has none: the service grades as on AKS), and n/a is never full marks."""
    statuses = {check["id"]: check["status"] for check in row["report"]["checks"]}
    assert set(statuses.values()) == {"pass", "n/a"}, statuses
    for check in row["report"]["checks"]:
        if check["status"] == "n/a":
            assert "outside container not available" in check["message"], check
    earned = sum(check["points"] for check in row["report"]["checks"] if check["status"] == "pass")
    assert (row["verdict"], row["score"], row["max_score"]) == ("FAIL", earned, 6), row


def _grading_pods(kube: Kube) -> list[str]:
    pods = kube.list("pods", m.HUB_NAMESPACE, selector="app.kubernetes.io/component=grading")
    return sorted(p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp"))


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
    _apply_reference_answer(kube, own)
    service = f"{classroom}services/grading"  # through the hub's proxy, which keeps the prefix
    row = _grade(service, _token("ada", context))
    print(f"ada, clusterip: {row['verdict']} {row['score']}/{row['max_score']} in {row['namespace']}")
    for check in row["report"]["checks"]:
        print(f"  {check['status']} {check['id']}: {check['message'][:300]}")
    _as_reference(row)
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


@pytest.fixture
def database() -> Iterator[Any]:
    """A PostgreSQL server of the test's own on the kind network's gateway (tests/unit/_postgres.py)."""
    import _postgres  # noqa: PLC0415 - the unit tests' server (pyproject's pythonpath has tests/unit)

    network = json.loads(
        subprocess.run(
            ["docker", "network", "inspect", "kind"], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    )[0]
    (ipv4,) = [c for c in network["IPAM"]["Config"] if ":" not in c["Subnet"]]
    server = _postgres.start(ipv4["Gateway"], clients=(ipv4["Subnet"],))
    server.gateway = ipv4["Gateway"]
    try:
        yield server
    finally:
        _postgres.stop(server)


def test_two_grading_pods_share_one_postgresql_gradebook(
    database: Any, kube: Kube, context: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg  # noqa: PLC0415 - servicelab's [postgres] extra

    url = database.new_database()  # made through loopback; the class reaches it on the kind network's gateway
    url = url.replace(f"@{database.host}:", f"@{database.gateway}:")
    with classroom_up(kube, context, tmp_path / "classroom.yaml", REPLICAS_VALUES.format(url=url)) as hub:
        wait_for(
            lambda: (True if len(_grading_pods(kube)) == 2 else None, f"grading pods: {_grading_pods(kube)}"),
            what="two grading pods",
            timeout_s=120,
        )
        pods = _grading_pods(kube)
        print("grading pods:", pods)
        for student in ("ada", "ben"):
            _apply_reference_answer(kube, m.student_namespace(student))
        service = f"{hub}services/grading"
        tokens = {student: _token(student, context) for student in ("ada", "ben")}
        with ThreadPoolExecutor(2) as pool:
            rows = dict(zip(tokens, pool.map(lambda s: _grade(service, tokens[s]), tokens), strict=True))
        for student, row in rows.items():
            print(f"{student}: {row['verdict']} {row['score']}/{row['max_score']}")
            assert row["namespace"] == m.student_namespace(student)
            _as_reference(row)
        here = url.replace(f"@{database.gateway}:", f"@{database.host}:")
        with psycopg.connect(here) as db:  # both pods are instances of the one gradebook
            names = {name for (name,) in db.execute("SELECT name FROM instances")}
            kept = {job for (job,) in db.execute("SELECT job FROM results WHERE state = 'done'")}
        print("gradebook instances:", sorted(names))
        assert set(pods) <= names
        assert {row["job"] for row in rows.values()} <= kept

        # one pod goes: check() called while it stops is answered by the other (the notebook's client sends again
        # while a proxy cannot reach the service), and every result is still there
        kube.delete("pod", pods[0], m.HUB_NAMESPACE)
        (tmp_path / "ada-token").write_text(tokens["ada"])
        monkeypatch.setenv("SERVICELAB_GRADING_URL", service)
        monkeypatch.setenv("SERVICELAB_TOKEN_FILE", str(tmp_path / "ada-token"))
        graded = 0
        while graded < 2 or kube.get("pod", pods[0], m.HUB_NAMESPACE) is not None:  # a grace period is finite
            result = learner_client.grade_remotely("clusterip")
            graded += 1
            statuses = {check.id: check.status.value for check in result.checks}
            print(f"while {pods[0]} stops: ada {statuses}")
            assert set(statuses.values()) == {"pass", "n/a"}, statuses
        wait_for(  # gone: out of the Service's endpoints, its gradings finished or marked interrupted
            lambda: (True if kube.get("pod", pods[0], m.HUB_NAMESPACE) is None else None, f"{pods[0]} terminating"),
            what=f"grading pod {pods[0]} gone",
            timeout_s=120,
        )
        ada = {"Authorization": f"Bearer {tokens['ada']}"}
        mine = requests.get(f"{service}/results", headers=ada, timeout=30)
        assert mine.status_code == 200, mine.text
        assert rows["ada"]["job"] in {r["job"] for r in mine.json()["results"]}
        _as_reference(_grade(service, tokens["ada"]))


# Two containers of the service beside kind sharing the PostgreSQL gradebook: each grades with the outside vantage
# points (docker exec into servicelab-outside), so here the reference answer earns every point.
CONTAINERS_VALUES = """\
students: [ada, ben]
instructors: [teacher]
labs: [clusterip]
grading: {{runs: container, replicas: 2, gradebook: '{url}'}}
"""


def test_two_grading_containers_beside_kind_share_one_postgresql_gradebook(
    database: Any, kube: Kube, context: str, tmp_path: Path
) -> None:
    import psycopg  # noqa: PLC0415 - servicelab's [postgres] extra

    here = database.new_database()
    url = here.replace(f"@{database.host}:", f"@{database.gateway}:")
    with classroom_up(kube, context, tmp_path / "classroom.yaml", CONTAINERS_VALUES.format(url=url)) as hub:
        names = grading.container_names(2)
        assert grading.class_containers() == sorted(names)
        addresses = {name: grading.container_address(name) for name in names}
        print("grading containers:", addresses)
        assert all(addresses.values()), addresses
        endpoints = kube.get("endpointslices.discovery.k8s.io", f"{grading.SERVICE}-container", m.HUB_NAMESPACE)
        assert endpoints is not None
        assert sorted(a for e in endpoints["endpoints"] for a in e["addresses"]) == sorted(map(str, addresses.values()))
        for student in ("ada", "ben"):
            _apply_reference_answer(kube, m.student_namespace(student))
        tokens = {student: _token(student, context) for student in ("ada", "ben")}

        # each container grades one student, at once, asked at its own address: every check passes, the outside too
        pairs = list(zip(("ada", "ben"), names, strict=True))

        def graded(pair: tuple[str, str]) -> dict[str, Any]:
            student, name = pair
            return _grade(f"http://{addresses[name]}:{grading.PORT}", tokens[student])

        with ThreadPoolExecutor(2) as pool:
            rows = dict(zip(pairs, pool.map(graded, pairs), strict=True))
        # and through the Service `grading`, as check() calls it (here by the hub's proxy)
        rows[("ada", "the Service")] = _grade(f"{hub}services/grading", tokens["ada"])
        for (student, name), row in rows.items():
            print(f"{student} by {name}: {row['verdict']} {row['score']}/{row['max_score']}")
            assert row["namespace"] == m.student_namespace(student)
            assert (row["verdict"], row["score"], row["max_score"]) == ("PASS", 6, 6), row
        with psycopg.connect(here) as db:  # both containers are instances of the one gradebook, each ran its own
            by = dict(db.execute("SELECT r.job, i.name FROM results r JOIN instances i ON r.instance = i.id"))
        print("graded by:", by)
        for (_, name), row in rows.items():  # the Service's call: whichever container kube-proxy chose
            assert by[row["job"]] in ([name] if name in names else names), (row["job"], by)
