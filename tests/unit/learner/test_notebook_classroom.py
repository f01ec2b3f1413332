"""The notebook in a classroom ($SERVICELAB_GRADING_URL set): check() asks a grading service (here a real HTTP
server in a thread, answering as the service would), apply() and the other cells use the student's rights only
(a fake API server that records every request)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from _kube_fakes import GROUPS, FakeHttp, Sent, fake_kube, group

from grader.catalogue.labs import load_lab
from grader.grading.results import CheckResult, LabResult, Status
from grader.learner import classroom, notebook
from grader.learner import progress as coach
from grader.learner.boundary import NotGraded
from grader.probes.matrix import Matrix
from grader.reports import json as json_report
from grader.reports.terminal import to_text

NAMESPACE = "servicelab-student-ada"
Reply = tuple[int, Any, dict[str, str]]  # status, JSON body (or bytes), headers


@dataclass
class Asked:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeService:
    """What the grading service answers: (method, path) -> a reply, or a function of the request giving one."""

    routes: dict[tuple[str, str], Reply | Callable[[Asked], Reply]] = field(default_factory=dict)
    asked: list[Asked] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeService]:
    fake = FakeService()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            asked = Asked(self.command, self.path, dict(self.headers), json.loads(raw) if raw else None)
            fake.asked.append(asked)
            route = fake.routes.get((self.command, self.path), (404, {"error": f"no such endpoint {self.path}"}, {}))
            status, body, headers = route(asked) if callable(route) else route
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test's stderr stays the notebook's

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    token = tmp_path / "token"
    token.write_text("ada-token-1\n")
    monkeypatch.setenv("SERVICELAB_GRADING_URL", fake.url + "/")
    monkeypatch.setenv("SERVICELAB_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("SERVICELAB_TOKEN_FILE", str(token))
    monkeypatch.setenv("SERVICELAB_VARIABLES_FILE", str(tmp_path / "variables.json"))
    monkeypatch.setenv("SERVICELAB_DATA", str(tmp_path / "data"))
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


def nodeport_result(*statuses: Status, env_error: str = "") -> LabResult:
    matrix = Matrix()
    matrix.current_check = "c0"
    matrix.record("outside", "my-service NodePort", expected=True, observed=True, detail="HTTP 200")
    checks = [
        CheckResult(
            f"c{i}",
            f"Check {i}",
            2,
            status,
            "select app: MyApp" if status is Status.FAIL else "probe pod gone" if status is Status.ENV_ERROR else "",
            evidence=matrix.evidence.get(f"c{i}", []),
        )
        for i, status in enumerate(statuses)
    ]
    return LabResult("nodeport", "NodePort", NAMESPACE, "r1", checks, matrix, env_error)


def row(result: LabResult, state: str = "done", error: str = "") -> dict[str, Any]:
    """A gradebook row as the service's POST /grade?wait=true returns it."""
    report = json_report.to_dict(result) if state == "done" else None
    return {"job": "j1", "student": "ada", "lab": "nodeport", "namespace": NAMESPACE, "state": state,
            "score": None, "error": error or None, "checks": {}, "report": report}  # fmt: skip


GRADE = ("POST", "/grade?wait=true")


def test_check_shows_the_services_report_and_returns_its_fraction(
    service: FakeService, capsys: pytest.CaptureFixture[str]
) -> None:
    result = nodeport_result(Status.PASS, Status.FAIL)
    service.routes[GRADE] = (200, row(result), {})
    assert notebook.check("nodeport") == 0.5
    out, err = capsys.readouterr()
    assert out == to_text(result) + "\n"  # as a local check() prints its own result outside Jupyter
    assert err == ""  # nbgrader scores a cell 0 for anything on stderr
    (asked,) = service.asked
    assert asked.body == {"lab": "nodeport"}
    assert asked.headers["Authorization"] == "Bearer ada-token-1"
    kept = coach.load()["nodeport"]  # for hint() and progress()
    assert (kept["score"], kept["max"], kept["failing"]["id"]) == (2, 4, "c1")
    assert coach.next_hint(load_lab("nodeport")).startswith("Hint 1/4: The first failing check is 'Check 1'.")


def test_the_token_is_read_at_every_call(service: FakeService, tmp_path: Path) -> None:
    service.routes[GRADE] = (200, row(nodeport_result(Status.PASS)), {})
    assert notebook.check("nodeport", display=False) == 1.0
    (tmp_path / "token").write_text("ada-token-2")  # the kubelet renewed it
    assert notebook.check("nodeport", display=False) == 1.0
    assert [a.headers["Authorization"] for a in service.asked] == ["Bearer ada-token-1", "Bearer ada-token-2"]


def refused(service: FakeService, capsys: pytest.CaptureFixture[str]) -> str:
    """check()'s NotGraded: one line, nothing printed, nothing on stderr; its text."""
    with pytest.raises(NotGraded) as caught:
        notebook.check("nodeport")
    line = str(caught.value)
    assert len(line.splitlines()) == 1
    assert caught.value._render_traceback_() == [line]  # IPython shows that line, not a traceback
    assert capsys.readouterr() == ("", "")
    return line


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        ((401, {"error": "the API server does not know this token"}, {"WWW-Authenticate": "Bearer"}),
         "ENV-ERROR: the grading service does not know your server's token (the API server does not know this "
         "token). Fix: restart your server"),
        ((403, {"error": "system:serviceaccount:x:y is no student of this class"}, {}),
         "not graded: the grading service refused (system:serviceaccount:x:y is no student of this class)"),
        ((503, {"error": "cannot check your token now: timed out"}, {"Retry-After": "5"}),
         "ENV-ERROR: the grading service cannot grade now (cannot check your token now: timed out). Fix: run "
         "check() again in 5 s"),
        ((500, b"<html>oops</html>", {"Content-Type": "text/html"}),
         "ENV-ERROR: the grading service answered HTTP 500 (<html>oops</html>). Fix: run the cell again"),
    ],
)  # fmt: skip
def test_refusals_are_one_line(
    service: FakeService, capsys: pytest.CaptureFixture[str], reply: Reply, says: str
) -> None:
    service.routes[GRADE] = reply
    assert refused(service, capsys).startswith(says)


def test_too_many_waiting_counts_the_students_own(service: FakeService, capsys: pytest.CaptureFixture[str]) -> None:
    service.routes[GRADE] = (429, {"error": "you have 5 gradings waiting (at most 5)"}, {"Retry-After": "30"})
    states = ["queued", "running", "done", "queued", "error"]
    service.routes[("GET", "/results")] = (200, {"student": "ada", "results": [{"state": s} for s in states]}, {})
    assert refused(service, capsys).startswith("not graded: 3 gradings of yours are waiting; wait for them")


def test_a_service_that_is_not_there(
    service: FakeService, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nobody listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("SERVICELAB_GRADING_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(classroom, "REACH_S", 1.0)
    line = refused(service, capsys)
    assert line == (
        f"ENV-ERROR: the grading service at http://127.0.0.1:{port} does not answer (Connection refused, tried for "
        "1 s). "
        "Fix: run the cell again; if it says the same, tell your instructor (the classroom needs mending, not you)"
    )


def test_a_proxy_that_cannot_reach_the_service_is_asked_again_until_a_grading_pod_answers(
    service: FakeService,
) -> None:
    """The hub's proxy answers 503 in its own words (HTML) while the pod it routed to is stopping; then another
    grading pod answers. The service's own 503 (JSON with an error) is an answer: test_refusals_are_one_line."""
    replies: list[Reply] = [
        (503, b"<html>Service Unavailable</html>", {"Content-Type": "text/html"}),
        (502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"}),
        (200, row(nodeport_result(Status.PASS, Status.PASS)), {}),
    ]
    service.routes[GRADE] = lambda _: replies.pop(0)
    result = classroom.grade_remotely("nodeport")
    assert [c.status for c in result.checks] == [Status.PASS, Status.PASS]
    assert [a.path for a in service.asked] == ["/grade?wait=true"] * 3


def test_a_proxy_that_never_reaches_the_service_says_what_it_answered_last(
    service: FakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(classroom, "REACH_S", 1.0)
    service.routes[GRADE] = (504, b"<html>Gateway Timeout</html>", {"Content-Type": "text/html"})
    with pytest.raises(NotGraded) as raised:
        classroom.grade_remotely("nodeport")
    assert str(raised.value) == (
        f"ENV-ERROR: the grading service at {service.url} is not reached: HTTP 504 from in front of it "
        "(<html>Gateway Timeout</html>), tried for 1 s. Fix: run the cell again; if it says the same, tell your "
        "instructor (the classroom needs mending, not you)"
    )
    assert len(service.asked) >= 2


def test_a_service_that_does_not_answer_in_time(service: FakeService) -> None:
    release = threading.Event()

    def slow(_: Asked) -> Reply:
        release.wait(10)  # until the test has seen the timeout
        return 200, row(nodeport_result(Status.PASS)), {}

    service.routes[GRADE] = slow
    try:
        with pytest.raises(NotGraded, match=r"did not answer within 0 s"):
            classroom.grade_remotely("nodeport", answer_s=0.3)
    finally:
        release.set()


def test_an_env_error_report_is_shown_and_not_graded(service: FakeService, capsys: pytest.CaptureFixture[str]) -> None:
    result = nodeport_result(Status.PASS, Status.ENV_ERROR)
    service.routes[GRADE] = (200, row(result), {})
    with pytest.raises(NotGraded, match=r"^ENV-ERROR: c1: probe pod gone\. Fix: run the cell again") as caught:
        notebook.check("nodeport")
    assert len(str(caught.value).splitlines()) == 1
    out, err = capsys.readouterr()
    assert out == to_text(result) + "\n"  # the report says more than the line
    assert err == ""
    assert "nodeport" not in coach.load()  # no score: nothing kept


def test_a_grading_that_could_not_run_says_why(service: FakeService, capsys: pytest.CaptureFixture[str]) -> None:
    why = "namespace servicelab-student-ada has no objects of lab nodeport: apply your answer first"
    service.routes[GRADE] = (200, row(nodeport_result(), state="error", error=why), {})
    assert refused(service, capsys) == f"not graded: {why}"


def test_a_grading_still_running_is_waited_for(service: FakeService) -> None:
    service.routes[GRADE] = (202, {"job": "j1", "state": "running", "href": "/results/j1"}, {})
    answers = iter([row(nodeport_result(), state="running"), row(nodeport_result(Status.PASS, Status.FAIL))])
    service.routes[("GET", "/results/j1")] = lambda _: (200, next(answers), {})
    assert notebook.check("nodeport", display=False) == 0.5
    assert [a.path for a in service.asked] == ["/grade?wait=true", "/results/j1", "/results/j1"]


def test_an_unreadable_report_is_one_line(service: FakeService, capsys: pytest.CaptureFixture[str]) -> None:
    bad = row(nodeport_result(Status.PASS))
    bad["report"]["schema"] = "servicelab.result/v9"
    service.routes[GRADE] = (200, bad, {})
    assert refused(service, capsys).startswith("ENV-ERROR: the grading service's report cannot be read ($.schema is")


# --- apply() and the other cells, with the student's rights only ----------------------------------------------
ANSWER = """\
apiVersion: v1
kind: Service
metadata:
  name: internal-app
  annotations:
    service.beta.kubernetes.io/azure-load-balancer-internal: "true"
    service.beta.kubernetes.io/azure-load-balancer-ipv4: "${INTERNAL_STATIC_IP}"
spec:
  type: LoadBalancer
  ports:
  - port: 80
  selector:
    app: internal-app
"""


def available(sent: Sent) -> tuple[int, Any]:
    deployment = {"metadata": {"name": "internal-app"}, "spec": {"replicas": 1}}
    return 200, {"items": [{**deployment, "status": {"availableReplicas": 1, "updatedReplicas": 1}}]}


def stored(sent: Sent) -> tuple[int, Any]:
    """A server-side apply's answer: the object as sent, in the student's namespace."""
    return 200, {**sent.body, "metadata": {**sent.body["metadata"], "namespace": NAMESPACE}}


@pytest.fixture
def cluster(service: FakeService, monkeypatch: pytest.MonkeyPatch) -> FakeHttp:
    """The API server as the student's client sees it."""
    http = FakeHttp()
    base = f"/api/v1/namespaces/{NAMESPACE}"
    http.routes[("PATCH", f"{base}/services/internal-app")] = stored
    http.routes[("PATCH", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/internal-app")] = stored
    http.routes[("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments")] = available
    fake_kube(monkeypatch, http, namespace=NAMESPACE)
    return http


def only_own_namespace(http: FakeHttp) -> None:
    """Every request was about the student's namespace, as the student (no impersonation)."""
    for sent in http.api_calls():
        assert f"/namespaces/{NAMESPACE}/" in sent.path, sent.path
        assert not any(h.lower().startswith("impersonate") for h in sent.headers), sent.headers


def test_apply_writes_only_into_the_students_namespace_with_their_values(
    cluster: FakeHttp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "variables.json").write_text(json.dumps({"INTERNAL_STATIC_IP": "10.224.0.42"}))
    applied = notebook.apply(ANSWER, "internal-lb")
    assert applied == ["Deployment/internal-app", "Service/internal-app"]
    only_own_namespace(cluster)
    patches = [s for s in cluster.api_calls() if s.method == "PATCH"]
    assert [("dryRun", "All") in s.query for s in patches] == [True, True, False, False]  # dry run first
    service = next(s.body for s in patches if s.body["kind"] == "Service")
    assert service["metadata"]["annotations"]["service.beta.kubernetes.io/azure-load-balancer-ipv4"] == "10.224.0.42"
    assert (
        capsys.readouterr().out
        == f"applied into namespace {NAMESPACE}: Deployment/internal-app, Service/internal-app\n"
    )


def test_apply_without_the_students_value_applies_nothing(cluster: FakeHttp) -> None:
    with pytest.raises(
        Exception, match=r"INTERNAL_STATIC_IP\} has no value on this cluster: the classroom gives you no value"
    ):
        notebook.apply(ANSWER, "internal-lb")
    assert cluster.api_calls() == []


def test_values_are_the_students_own(cluster: FakeHttp, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "variables.json").write_text(json.dumps({"INTERNAL_STATIC_IP": "10.224.0.42"}))
    notebook.values("internal-lb")
    assert capsys.readouterr().out == "${INTERNAL_STATIC_IP} = 10.224.0.42\n"
    assert cluster.api_calls() == []  # no node list: the classroom's values, not the cluster's


def test_a_broken_values_file_is_one_line(
    cluster: FakeHttp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "variables.json").write_text('["not", "an", "object"]')
    notebook.values("internal-lb")
    out = capsys.readouterr().out
    assert out.startswith("ENV-ERROR: the classroom's values file ")
    assert len(out.splitlines()) == 1


def test_reset_keeps_the_classrooms_namespace(cluster: FakeHttp, capsys: pytest.CaptureFixture[str]) -> None:
    notebook.reset("nodeport")
    assert capsys.readouterr().out.startswith(
        f"nodeport: hints forgotten; your namespace {NAMESPACE} is the classroom's"
    )
    assert cluster.api_calls() == []


def test_cluster_ready_asks_the_students_namespace_and_the_service(
    cluster: FakeHttp, service: FakeService, capsys: pytest.CaptureFixture[str]
) -> None:
    service.routes[("GET", "/healthz")] = (200, {"ok": True}, {})
    notebook.cluster_ready()
    assert capsys.readouterr().out == (
        f"the classroom is ready: your namespace {NAMESPACE} answers and the grading service is up\n"
    )
    only_own_namespace(cluster)
    service.routes[("GET", "/healthz")] = (503, {"error": "starting"}, {})
    notebook.cluster_ready()
    assert (
        capsys.readouterr().out == "the classroom is not ready: the grading service's health check answered HTTP 503\n"
    )


def test_explore_says_what_the_students_rights_do_not_show(
    cluster: FakeHttp, capsys: pytest.CaptureFixture[str]
) -> None:
    ingresses = {"resource": "ingresses", "responseKind": {"group": "", "version": "", "kind": "Ingress"},
                 "scope": "Namespaced", "singularResource": "ingress", "verbs": ["list", "patch"]}  # fmt: skip
    with_ingresses = [*GROUPS["items"], group("networking.k8s.io", ("v1", [ingresses]))]
    cluster.routes[("GET", "/apis")] = (200, {**GROUPS, "items": with_ingresses})
    forbidden = {"kind": "Status", "reason": "Forbidden", "code": 403, "message": "pods is forbidden"}
    cluster.routes[("GET", f"/api/v1/namespaces/{NAMESPACE}/pods")] = (403, forbidden)
    cluster.routes[("PATCH", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/my-app")] = stored
    cluster.routes[("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments")] = lambda sent: (
        200, {"items": [{"metadata": {"name": "my-app"}, "spec": {"replicas": 1},
                         "status": {"availableReplicas": 1, "updatedReplicas": 1}}]},
    )  # fmt: skip
    notebook.explore("nodeport")
    out = capsys.readouterr().out
    assert out.rstrip().endswith("not shown: your classroom rights do not let you read pods")
    only_own_namespace(cluster)


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        (lambda: notebook.flow("nodeport"), "flow() is not available in a classroom: it reads the cluster's nodes"),
        (notebook.observe_network, "observe_network() is not available in a classroom: it reads the nodes"),
        (lambda: notebook.replace_a_pod("clusterip"), "replace_a_pod() is not available in a classroom: it asks"),
        (notebook.outbound_address, "outbound_address() is not available in a classroom: it runs"),
        (lambda: notebook.clear_other_lab("ingress"), "clear_other_lab() is not available in a classroom: every lab"),
    ],
)
def test_cells_that_need_more_than_the_students_rights_say_so(
    cluster: FakeHttp, capsys: pytest.CaptureFixture[str], cell: Callable[[], None], says: str
) -> None:
    cell()
    out, err = capsys.readouterr()
    assert out.startswith(says)
    assert (len(out.splitlines()), err) == (1, "")
    assert cluster.api_calls() == []


def test_values_say_the_students_own_host(
    cluster: FakeHttp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "variables.json").write_text(json.dumps({"NODE_PORT": "30412", "SHOP_HOST": "ada.shop.example"}))
    notebook.values("ingress")
    notebook.values("gateway")
    assert capsys.readouterr().out == "${SHOP_HOST} = ada.shop.example\n" * 2
    assert cluster.api_calls() == []
