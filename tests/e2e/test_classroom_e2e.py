"""A classroom on the real lab cluster: `servicelab classroom up` with two students, a student's login through the
proxy (the class's password; a wrong one and a stranger refused), each student's server started through the hub's
REST API, a student's own token tried on their namespace and on the other's, then `servicelab classroom down` and
nothing left.

Run alone: pytest --e2e -m classroom tests/e2e/test_classroom_e2e.py -s
It deploys into servicelab-classroom and servicelab-student-* only, and takes it all down, pass or fail.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from grader.base.wait import wait_for
from grader.classroom import deploy, grading
from grader.classroom import manifests as m
from grader.cluster import docker
from grader.kube.client import Kube, Obj

pytestmark = [pytest.mark.e2e, pytest.mark.classroom]

STUDENTS = ("ada", "ben")
SERVER_S = 300.0
VALUES = """\
students: [ada, ben]
instructors: [teacher]
labs: [clusterip, nodeport]
resources:
  cpu: {request: 100m, limit: 500m}
  memory: {request: 256Mi, limit: 512Mi}
"""
# Run in a student's server pod with its own ServiceAccount token: what the Kubernetes API and the network answer.
PROBE = textwrap.dedent(
    """
    import json, socket, ssl, sys, urllib.error, urllib.request
    own, other, other_ip, port, hub = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
    token = open(sa + "token").read()
    tls = ssl.create_default_context(cafile=sa + "ca.crt")

    def call(method, path, body=None):
        request = urllib.request.Request(
            "https://kubernetes.default.svc" + path, method=method,
            data=json.dumps(body).encode() if body else None,
            headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=tls, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as err:
            return err.code

    def reach(ip, port):
        try:
            socket.create_connection((ip, port), timeout=3).close()
            return "connected"
        except OSError as err:
            return type(err).__name__

    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "mine"},
               "spec": {"selector": {"app": "mine"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    print(json.dumps({
        "create a Service in my namespace": call("POST", f"/api/v1/namespaces/{own}/services", service),
        "list the Services in my namespace": call("GET", f"/api/v1/namespaces/{own}/services"),
        "list the other student's pods": call("GET", f"/api/v1/namespaces/{other}/pods"),
        "create a Service in the other's namespace": call("POST", f"/api/v1/namespaces/{other}/services", service),
        "list pods in every namespace": call("GET", "/api/v1/pods"),
        "connect to the hub's API": reach(hub, 8081),
        "connect to the other student's server": reach(other_ip, port),
    }))
    """
)

# Run in the same pod: servicelab's own client (what the notebook's apply() uses), from the kubeconfig `up` mounts.
THROUGH_SERVICELAB = textwrap.dedent(
    """
    import json, sys
    from grader.kube.client import Kube, KubeError
    kube = Kube()
    mine = sorted(s["metadata"]["name"] for s in kube.list("services"))
    try:
        kube.list("pods", sys.argv[1])
        other = "allowed"
    except KubeError as err:
        other = err.status
    print(json.dumps({"my Services": mine, "the other student's pods": other}))
    """
)


def _servicelab(*args: str, context: str) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [sys.executable, "-m", "grader.cli", "classroom", *args, "--context", context],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    print(f"$ servicelab classroom {' '.join(args)} --context {context}  (exit {run.returncode})")
    print(run.stdout + run.stderr)
    return run


def _left(kube: Kube) -> list[str]:
    left = [f"namespace/{ns['metadata']['name']}" for ns in kube.list("namespaces", selector=deploy.SELECTOR)]
    for name in (m.HUB_NAMESPACE, *(m.student_namespace(s) for s in STUDENTS)):
        if kube.get("namespace", name) is not None:
            left.append(f"namespace/{name}")
    for kind in deploy.CLUSTER_KINDS:
        left += [
            f"{kind}/{o['metadata']['name']}" for o in kube.list(kind) if o["metadata"]["name"].startswith(m.PREFIX)
        ]
    left += [
        f"persistentvolume/{pv['metadata']['name']}"
        for pv in kube.list("persistentvolumes")
        if ((pv.get("spec") or {}).get("claimRef") or {}).get("namespace") == m.HUB_NAMESPACE
    ]
    for namespace in grading.FOREIGN_NAMESPACES:
        left += [
            f"rolebinding/{namespace}/{b['metadata']['name']}"
            for b in kube.list("rolebindings.rbac.authorization.k8s.io", namespace)
            if b["metadata"]["name"].startswith(m.PREFIX)
        ]
    if docker.container_state(grading.CONTAINER) is not None:
        left.append(f"container/{grading.CONTAINER}")
    if docker.inspect("volume", grading.GRADEBOOK_VOLUME) is not None:
        left.append(f"volume/{grading.GRADEBOOK_VOLUME}")
    return sorted(set(left))


@pytest.fixture
def classroom(kube: Kube, context: str, tmp_path: Path) -> Iterator[str]:
    """`classroom up` from a values file; `classroom down` afterwards, whatever happened; yields the hub's URL."""
    assert _left(kube) == [], "a classroom is already on the cluster: servicelab classroom down"
    values = tmp_path / "classroom.yaml"
    values.write_text(VALUES)
    try:
        started = _servicelab("up", "--values", str(values), context=context)
        assert started.returncode == 0
        yield wait_for(lambda: deploy.answering(kube), what="the hub answering", timeout_s=60)
    finally:
        stopped = _servicelab("down", context=context)
        assert stopped.returncode == 0
        assert _left(kube) == []


def _secret(kube: Kube, key: str) -> str:
    secret = kube.get("secret", m.SECRET, m.HUB_NAMESPACE)
    assert secret is not None
    return base64.b64decode(secret["data"][key]).decode()


def _log_in(url: str, student: str, password: str) -> int:
    """A student's login through the proxy as a browser does it (the form with its _xsrf); the final status."""
    browser = requests.Session()
    browser.get(f"{url}hub/login", timeout=30)
    form = {"username": student, "password": password, "_xsrf": browser.cookies.get("_xsrf", "")}
    return browser.post(f"{url}hub/login", data=form, timeout=30, allow_redirects=False).status_code


def _server_pod(kube: Kube, student: str) -> tuple[Obj | None, str]:
    namespace = m.student_namespace(student)
    pods = kube.list("pods", namespace, selector="component=singleuser-server")
    for pod in pods:
        conditions = (pod.get("status") or {}).get("conditions") or []
        if pod["status"].get("phase") == "Running" and any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
        ):
            return pod, f"{namespace}/{pod['metadata']['name']} running"
    return None, f"{namespace}: {[(p['metadata']['name'], p['status'].get('phase')) for p in pods]}"


def test_two_students_each_get_a_server_walled_in_their_own_namespace(classroom: str, kube: Kube, context: str) -> None:
    hub = classroom.rstrip("/") + "/hub/api"
    session = requests.Session()
    session.headers["Authorization"] = f"token {_secret(kube, m.API_TOKEN)}"
    users = {user["name"] for user in session.get(f"{hub}/users", timeout=30).json()}
    assert set(STUDENTS) <= users, users

    password = _secret(kube, m.STUDENT_PASSWORD)
    assert _log_in(classroom, "ada", password) == 302  # logged in: on to the spawn page
    assert _log_in(classroom, "ada", password + "-wrong") == 403
    assert _log_in(classroom, "mallory", password) == 403  # not in the class

    for student in STUDENTS:  # the hub answers 201 (started) or 202 (still starting)
        answer = session.post(f"{hub}/users/{student}/server", timeout=120)
        print(f"POST /hub/api/users/{student}/server -> {answer.status_code}")
        assert answer.status_code in (201, 202), answer.text

    pods = {}
    for student in STUDENTS:
        pod = wait_for(lambda s=student: _server_pod(kube, s), what=f"{student}'s server", timeout_s=SERVER_S)
        pods[student] = pod
        assert pod["metadata"]["namespace"] == m.student_namespace(student)
        assert pod["spec"]["serviceAccountName"] == "servicelab-learner"
        print(f"{student}: pod {pod['metadata']['namespace']}/{pod['metadata']['name']} on {pod['spec']['nodeName']}")

    def hub_sees_ready() -> tuple[bool | None, str]:
        states = {s: session.get(f"{hub}/users/{s}", timeout=30).json().get("server") for s in STUDENTS}
        return (True if all(states.values()) else None), f"servers the hub reports: {states}"

    wait_for(hub_sees_ready, what="the hub reports both servers", timeout_s=120)

    ada, ben = pods["ada"], pods["ben"]
    own, other = m.student_namespace("ada"), m.student_namespace("ben")
    hub_host = f"{m.HUB_SERVICE}.{m.HUB_NAMESPACE}.svc.cluster.local"
    argv = ["python3", "-c", PROBE, own, other, ben["status"]["podIP"], str(m.SERVER_PORT), hub_host]
    ran = kube.exec(ada["metadata"]["name"], own, argv, timeout=60)
    assert ran.code == 0, ran.stderr
    seen = json.loads(ran.stdout.strip().splitlines()[-1])
    print("from ada's server, with ada's token:", json.dumps(seen, indent=2))
    # a wall drops (no answer) or rejects (refused): either way no connection
    assert seen.pop("connect to the other student's server") in ("TimeoutError", "ConnectionRefusedError")
    assert seen == {
        "connect to the hub's API": "connected",
        "create a Service in my namespace": 201,
        "list the Services in my namespace": 200,
        "list the other student's pods": 403,
        "create a Service in the other's namespace": 403,
        "list pods in every namespace": 403,
    }
    ran = kube.exec(ada["metadata"]["name"], own, ["python3", "-c", THROUGH_SERVICELAB, other], timeout=60)
    assert ran.code == 0, ran.stderr
    seen = json.loads(ran.stdout.strip().splitlines()[-1])
    print("from ada's server, servicelab's own client (KUBECONFIG):", seen)
    assert seen == {"my Services": ["mine"], "the other student's pods": 403}
    assert kube.get("service", "mine", own) is not None
    assert kube.get("service", "mine", other) is None

    status = _servicelab("status", context=context)
    assert status.returncode == 0
    for student in STUDENTS:
        assert f"{m.student_namespace(student)}" in status.stdout
    assert status.stdout.count("server running") == len(STUDENTS)
