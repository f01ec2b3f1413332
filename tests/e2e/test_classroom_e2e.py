"""A classroom on the real lab cluster: `servicelab classroom up` with five students (each made a hub user through
the hub's REST API; a user made there who is not in the class gets no server), a student's login through the proxy
(the class's password; a wrong one and a stranger refused), each student's server started through the hub's REST
API, a student's own token tried on their namespace and on another's; then all five run the NodePort lab's notebook
(their answer on their own node port, and check(), which asks the classroom's grading service) through their
Jupyter servers' kernel API at the same time, each graded on their own node port; two run the Ingress lab's
notebook at once, each graded on their own HTTP host, and one's Ingress for the other's host is refused by the
host wall; a student's token cannot read another's results or grade another's namespace; the gradebook survives
the service's restart; then `servicelab classroom down` and nothing left.

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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from _jupyter import Ran, Server, student_server

from grader.base.wait import wait_for
from grader.classroom import deploy, grading
from grader.classroom import manifests as m
from grader.classroom.values import load as load_values
from grader.cluster import docker, metallb
from grader.kube.client import Kube, Obj

pytestmark = [pytest.mark.e2e, pytest.mark.classroom]

STUDENTS = ("ada", "ben", "cai", "dee", "eve")
SERVER_S = 300.0
VALUES = """\
students: [ada, ben, cai, dee, eve]
instructors: [teacher]
labs: [clusterip, nodeport, ingress]
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


REPO = Path(__file__).resolve().parents[2]
NODEPORT_NOTEBOOK = REPO / "notebooks" / "source" / "02-nodeport" / "nodeport.ipynb"
INGRESS_NOTEBOOK = REPO / "notebooks" / "source" / "07-ingress" / "ingress.ipynb"
# Run in a student's server pod with its own token: an Ingress for another student's host, in their own namespace.
ROUTE_OTHERS_HOST = textwrap.dedent(
    """
    import json, ssl, sys, urllib.error, urllib.request
    own, host = sys.argv[1], sys.argv[2]
    sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "hijack"},
               "spec": {"ingressClassName": "traefik", "rules": [{"host": host, "http": {"paths": [{
                   "path": "/", "pathType": "Prefix",
                   "backend": {"service": {"name": "store", "port": {"number": 80}}}}]}}]}}
    request = urllib.request.Request(
        f"https://kubernetes.default.svc/apis/networking.k8s.io/v1/namespaces/{own}/ingresses", method="POST",
        data=json.dumps(ingress).encode(),
        headers={"Authorization": "Bearer " + open(sa + "token").read(), "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, context=ssl.create_default_context(cafile=sa + "ca.crt"), timeout=10)
        print(json.dumps({"status": 201, "message": ""}))
    except urllib.error.HTTPError as err:
        print(json.dumps({"status": err.code, "message": json.loads(err.read()).get("message", "")}))
    """
)
# Run in a student's kernel: the grading service, with the student's own token, on what is not theirs.
TRY_OTHERS = textwrap.dedent(
    """
    import json, os, urllib.error, urllib.request
    token = open("/var/run/secrets/kubernetes.io/serviceaccount/token").read()
    def ask(path, body=None):
        request = urllib.request.Request(
            os.environ["SERVICELAB_GRADING_URL"] + path, data=json.dumps(body).encode() if body else None,
            headers={{"Authorization": "Bearer " + token, "Content-Type": "application/json"}})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status
        except urllib.error.HTTPError as err:
            return err.code
    print(json.dumps({{
        "my results": ask("/results"),
        "{other}'s results": ask("/results?student={other}"),
        "grade {other}'s namespace": ask("/grade", {{"lab": "nodeport", "namespace": "servicelab-student-{other}"}}),
        "the class page": ask("/class"),
    }}))
    """
)


def nodeport_cells(port: int) -> list[str]:
    """The NodePort lab's notebook, its code cells in order, with the reference answer on the student's port."""
    notebook = json.loads(NODEPORT_NOTEBOOK.read_text())
    cells = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert sum("nodePort: 30007" in cell for cell in cells) == 1
    return [cell.replace("nodePort: 30007", f"nodePort: {port}") for cell in cells]


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
    for kind in deploy.METALLB_KINDS:  # the class's pools of static IPs and their advertisement
        left += [
            f"{kind}/{o['metadata']['name']}"
            for o in kube.list(kind, metallb.NAMESPACE)
            if o["metadata"]["name"].startswith(m.PREFIX)
        ]
    for namespace in grading.FOREIGN_NAMESPACES:
        left += [
            f"rolebinding/{namespace}/{b['metadata']['name']}"
            for b in kube.list("rolebindings.rbac.authorization.k8s.io", namespace)
            if b["metadata"]["name"].startswith(m.PREFIX)
        ]
    left += [f"container/{name}" for name in grading.class_containers()]  # every replica beside kind
    if docker.inspect("volume", grading.GRADEBOOK_VOLUME) is not None:
        left.append(f"volume/{grading.GRADEBOOK_VOLUME}")
    return sorted(set(left))


@contextmanager
def classroom_up(kube: Kube, context: str, values: Path, text: str) -> Iterator[str]:
    """`classroom up` from a values file (text, written to values); `classroom down` afterwards, whatever happened,
    and nothing left; yields the hub's URL."""
    assert _left(kube) == [], "a classroom is already on the cluster: servicelab classroom down"
    values.write_text(text)
    try:
        started = _servicelab("up", "--values", str(values), context=context)
        assert started.returncode == 0
        # the hub admits the users it has: `up` made each student one through the hub's REST API
        count = len(load_values(values).students)
        assert f"hub users: {count} students, {count} added through the hub's REST API" in started.stdout
        yield wait_for(lambda: deploy.answering(kube), what="the hub answering", timeout_s=60)
    finally:
        stopped = _servicelab("down", context=context)
        assert stopped.returncode == 0
        assert _left(kube) == []


@pytest.fixture
def classroom(kube: Kube, context: str, tmp_path: Path) -> Iterator[str]:
    with classroom_up(kube, context, tmp_path / "classroom.yaml", VALUES) as hub:
        yield hub


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


def _a_hub_user_outside_the_class_gets_no_server(
    classroom: str, session: requests.Session, kube: Kube, password: str
) -> None:
    """A user made through the REST API (as on the hub's admin page) but not in the values file: may log in, has no
    namespace of the classroom's, so the hub starts no server for them and says why."""
    hub = classroom.rstrip("/") + "/hub/api"
    made = session.post(f"{hub}/users", json={"usernames": ["zed"]}, timeout=30)
    assert made.status_code == 201, made.text
    assert _log_in(classroom, "zed", password) == 302
    refused = session.post(f"{hub}/users/zed/server", timeout=120)
    print(f"POST /hub/api/users/zed/server -> {refused.status_code} {refused.text[:300]}")
    assert refused.status_code == 403, refused.text
    assert "zed has no namespace in this classroom" in refused.text
    assert kube.get("namespace", m.student_namespace("zed")) is None
    assert session.delete(f"{hub}/users/zed", timeout=30).status_code == 204


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


def test_a_class_of_five_walled_each_graded_live_on_their_own_node_port(
    classroom: str, kube: Kube, context: str
) -> None:
    hub = classroom.rstrip("/") + "/hub/api"
    session = requests.Session()
    session.headers["Authorization"] = f"token {_secret(kube, m.API_TOKEN)}"
    users = {user["name"] for user in session.get(f"{hub}/users", timeout=30).json()}
    assert set(STUDENTS) <= users, users

    password = _secret(kube, m.STUDENT_PASSWORD)
    assert _log_in(classroom, "ada", password) == 302  # logged in: on to the spawn page
    assert _log_in(classroom, "ada", password + "-wrong") == 403
    assert _log_in(classroom, "mallory", password) == 403  # not a user of the hub

    _a_hub_user_outside_the_class_gets_no_server(classroom, session, kube, password)

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

    wait_for(hub_sees_ready, what="the hub reports every server", timeout_s=120)

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

    servers = _class_runs_the_nodeport_notebook(classroom, kube)
    _two_students_route_their_own_hosts(servers, kube, pods)
    _others_refused(servers["ada"], other="ben")
    _gradebook_survives_a_restart(kube, student="cai")


def _class_runs_the_nodeport_notebook(classroom: str, kube: Kube) -> dict[str, Server]:
    """Every student's server runs the NodePort lab's notebook at once; each is graded PASS on their own port."""
    api_token = _secret(kube, m.API_TOKEN)
    servers = {student: student_server(classroom, api_token, student) for student in STUDENTS}
    ports = {}
    for student, server in servers.items():
        ran = server.run("import json; print(json.load(open('/etc/servicelab/variables.json'))['NODE_PORT'])")
        assert ran.error is None, ran.error
        ports[student] = int(ran.stdout.strip())
    print("each student's node port, as their server has it:", ports)
    assert len(set(ports.values())) == len(STUDENTS)

    def run_notebook(student: str) -> list[Ran]:
        return servers[student].run_cells(nodeport_cells(ports[student]))

    with ThreadPoolExecutor(len(STUDENTS)) as pool:
        notebooks = dict(zip(STUDENTS, pool.map(run_notebook, STUDENTS), strict=True))
    check_cell = next(i for i, cell in enumerate(nodeport_cells(0)) if 'check("nodeport")' in cell)
    for student, cells in notebooks.items():
        errors = [f"{c.error.ename}: {c.error.evalue}" for c in cells if c.error is not None]
        assert not errors, f"{student}'s notebook: {errors}; last output: {cells[-1].stdout[-2000:]}"
        print(f"{student}: {len(cells)} cells ran; {cells[0].stdout.strip()}; {cells[2].stdout.strip()}")
        assert cells[check_cell].outputs[-1]["text/plain"] == "6.0"  # round(score * 6, 2): full marks
        latest = next(r for r in _results(kube, student) if r["lab"] == "nodeport")
        assert (latest["verdict"], latest["score"], latest["max_score"]) == ("PASS", 6, 6), latest
        assert latest["namespace"] == m.student_namespace(student)
        evidence = [e for c in latest["report"]["checks"] for e in c.get("evidence") or []]
        probed = {e["address"] for e in evidence if e["address"]}
        outside = {e["address"] for e in evidence if e["vantage"] == "outside container" and e["ok"]}
        assert any(a.endswith(f":{ports[student]}") for a in outside), evidence  # from outside, on their own port
        assert not any(a.endswith(f":{port}") for port in ports.values() if port != ports[student] for a in probed)
    return servers


def _two_students_route_their_own_hosts(servers: dict[str, Server], kube: Kube, pods: dict[str, Obj]) -> None:
    """ada and ben run the Ingress lab's notebook at the same time, the same answer (`host: ${SHOP_HOST}`), each
    graded PASS on their own host; ada's Ingress for ben's host is refused by the classroom's host wall."""
    notebook = json.loads(INGRESS_NOTEBOOK.read_text())
    cells = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    pair = ("ada", "ben")
    with ThreadPoolExecutor(len(pair)) as pool:
        ran = dict(zip(pair, pool.map(lambda student: servers[student].run_cells(cells), pair), strict=True))
    check_cell = next(i for i, cell in enumerate(cells) if 'check("ingress")' in cell)
    for student, outputs in ran.items():
        errors = [f"{c.error.ename}: {c.error.evalue}" for c in outputs if c.error is not None]
        assert not errors, f"{student}'s ingress notebook: {errors}; last output: {outputs[-1].stdout[-2000:]}"
        host = f"{student}.shop.example"
        print(f"{student}: ingress notebook ran; values cell: {outputs[2].stdout.strip()}")
        assert f"${{SHOP_HOST}} = {host}" in outputs[2].stdout
        assert outputs[check_cell].outputs[-1]["text/plain"] == "5.0"  # round(score * 5, 2): full marks
        latest = next(r for r in _results(kube, student) if r["lab"] == "ingress")
        assert (latest["verdict"], latest["score"], latest["max_score"]) == ("PASS", 5, 5), latest
        (ingress,) = kube.list("ingresses.networking.k8s.io", m.student_namespace(student))
        assert [rule["host"] for rule in ingress["spec"]["rules"]] == [host]
    own = m.student_namespace("ada")
    argv = ["python3", "-c", ROUTE_OTHERS_HOST, own, "ben.shop.example"]
    tried = kube.exec(pods["ada"]["metadata"]["name"], own, argv, timeout=60)
    assert tried.code == 0, tried.stderr
    refused = json.loads(tried.stdout.strip().splitlines()[-1])
    print("ada's Ingress for ben's host:", refused)
    assert refused["status"] == 403, refused
    assert "host ben.shop.example is not yours: yours is ada.shop.example" in refused["message"], refused


def _results(kube: Kube, student: str) -> list[dict[str, Any]]:
    """The student's results, newest first, as the instructor reads them from the grading service."""
    instructor = {"Authorization": f"Bearer {_secret(kube, grading.INSTRUCTOR_TOKEN)}"}
    service = f"http://{grading.container_address()}:{grading.PORT}"
    answer = requests.get(f"{service}/results", params={"student": student}, headers=instructor, timeout=30)
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["results"]
    return results


def _others_refused(server: Server, other: str) -> None:
    """A student's token: another student's results and namespace refused (403), their own answered."""
    refused = server.run(TRY_OTHERS.format(other=other))
    assert refused.error is None, refused.error
    print(f"a student asks the grading service for {other}'s:", refused.stdout)
    assert json.loads(refused.stdout.strip().splitlines()[-1]) == {
        "my results": 200,
        f"{other}'s results": 403,
        f"grade {other}'s namespace": 403,
        "the class page": 403,
    }


def _gradebook_survives_a_restart(kube: Kube, student: str) -> None:
    before = _results(kube, student)
    subprocess.run(["docker", "restart", grading.CONTAINER], check=True, capture_output=True, timeout=120)

    def answers() -> tuple[bool | None, str]:
        try:
            url = f"http://{grading.container_address()}:{grading.PORT}/healthz"
            return (requests.get(url, timeout=5).status_code == 200 or None), "asked"
        except requests.RequestException as err:
            return None, type(err).__name__

    wait_for(answers, what="the grading service after its restart", timeout_s=60)
    after = _results(kube, student)
    assert [r["job"] for r in after] == [r["job"] for r in before]
    assert after[0]["verdict"] == "PASS"
