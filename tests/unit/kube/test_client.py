"""grader.kube.client over a fake HTTP layer: names resolved as kubectl does, what goes on the wire, errors mapped."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import urllib3
from _kube_fakes import GROUPS, FakeHttp, Sent, discovery_list, fake_kube, group

from grader.kube.client import Kube, KubeError, KubeUnreachable, StatusDetails, UnknownKind

LEARNER = "system:serviceaccount:ns1:servicelab-learner"
NODEPORT_INVALID = (
    'Service "web-np" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in '
    "the valid range. The range of valid ports is 30000-32767"
)
WEBHOOK = (
    'Internal error occurred: failed calling webhook "l2advertisementvalidationwebhook.metallb.io": failed to '
    'call webhook: Post "https://metallb-webhook-service.metallb-system.svc:443/validate": dial tcp '
    "10.96.1.2:443: connect: connection refused"
)


def status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": reason,
        "message": message,
        "code": code,
    }


@pytest.fixture
def http() -> FakeHttp:
    return FakeHttp()


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch, http: FakeHttp) -> Kube:
    return fake_kube(monkeypatch, http, namespace="ctx-ns")


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("namespace", "/api/v1/namespaces"),
        ("ns", "/api/v1/namespaces"),
        ("pod", "/api/v1/namespaces/ns1/pods"),
        ("Pod", "/api/v1/namespaces/ns1/pods"),
        ("deployment", "/apis/apps/v1/namespaces/ns1/deployments"),
        ("deployments.apps", "/apis/apps/v1/namespaces/ns1/deployments"),
        ("deployments.v1.apps", "/apis/apps/v1/namespaces/ns1/deployments"),
        ("services", "/api/v1/namespaces/ns1/services"),
        ("svc", "/api/v1/namespaces/ns1/services"),
        ("endpointslices", "/apis/discovery.k8s.io/v1/namespaces/ns1/endpointslices"),
        ("ipaddresspools.metallb.io", "/apis/metallb.io/v1beta1/namespaces/ns1/ipaddresspools"),
        ("httproutes.gateway.networking.k8s.io", "/apis/gateway.networking.k8s.io/v1/namespaces/ns1/httproutes"),
        ("gateway", "/apis/gateway.networking.k8s.io/v1/namespaces/ns1/gateways"),  # the preferred version
        ("crd", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"),
        ("resourcequota", "/api/v1/namespaces/ns1/resourcequotas"),
        ("events", "/api/v1/namespaces/ns1/events"),  # the core group wins, as with kubectl
        ("events.events.k8s.io", "/apis/events.k8s.io/v1/namespaces/ns1/events"),
    ],
)
def test_names_resolve_as_kubectl_resolves_them(kube: Kube, http: FakeHttp, name: str, path: str) -> None:
    kube.list(name, "ns1")
    assert [s.path for s in http.api_calls()] == [path]


def test_discovery_is_two_aggregated_requests_cached_per_kube(kube: Kube, http: FakeHttp) -> None:
    kube.list("namespaces,services,deployments", "ns1")
    kube.get("pod", "p", "ns1")
    kube.as_user(LEARNER).get("svc", "web", "ns1")  # a copy for another user shares the connection and cache
    discovery = [s for s in http.sent if s.path in ("/api", "/apis")]
    assert [s.path for s in discovery] == ["/api", "/apis"]
    assert "as=APIGroupDiscoveryList" in discovery[0].headers["Accept"]
    assert [s.path for s in http.api_calls()][:3] == [
        "/api/v1/namespaces",
        "/api/v1/namespaces/ns1/services",
        "/apis/apps/v1/namespaces/ns1/deployments",
    ]


def test_namespaced_kinds_are_every_listable_patchable_kind_a_namespace_holds(kube: Kube, http: FakeHttp) -> None:
    kinds = kube.namespaced_kinds()
    assert {"pods", "services", "deployments.apps", "httproutes.gateway.networking.k8s.io"} <= set(kinds)
    assert "namespaces" not in kinds  # cluster-scoped
    assert "nodes" not in kinds
    assert kinds.count("gateways.gateway.networking.k8s.io") == 1  # one name, whatever the versions served
    assert len(kinds) == len(set(kinds))


def test_a_resource_added_later_is_found_by_reading_discovery_again(kube: Kube, http: FakeHttp) -> None:
    kube.list("pods", "ns1")
    http.routes["GET", "/apis"] = (
        200,
        discovery_list(
            *GROUPS["items"],
            group(
                "example.com",
                ("v1", [{"resource": "widgets", "responseKind": {"kind": "Widget"}, "scope": "Namespaced"}]),
            ),
        ),
    )
    kube.list("widgets", "ns1")
    assert http.api_calls()[-1].path == "/apis/example.com/v1/namespaces/ns1/widgets"
    with pytest.raises(UnknownKind, match='the server doesn\'t have a resource type "gizmos"'):
        kube.list("gizmos", "ns1")


def test_list_gives_kind_and_api_version_reads_every_chunk_and_defaults_the_namespace(
    kube: Kube, http: FakeHttp
) -> None:
    def pages(sent: Sent) -> tuple[int, Any]:
        more = dict(sent.query).get("continue") != "t1"
        return 200, {
            "kind": "ServiceList",
            "metadata": {"continue": "t1" if more else ""},
            "items": [{"metadata": {"name": "a" if more else "b"}}],
        }

    http.routes["GET", "/api/v1/namespaces/ctx-ns/services"] = pages
    items = kube.list("services", selector="app=web")
    assert [(i["kind"], i["apiVersion"], i["metadata"]["name"]) for i in items] == [
        ("Service", "v1", "a"),
        ("Service", "v1", "b"),
    ]
    assert ("labelSelector", "app=web") in http.api_calls()[0].query
    kube.list("deployments", all_namespaces=True)
    assert http.api_calls()[-1].path == "/apis/apps/v1/deployments"


def test_get_is_none_on_404_and_an_object_otherwise(kube: Kube, http: FakeHttp) -> None:
    assert kube.get("pod", "gone", "ns1") is None
    http.routes["GET", "/api/v1/namespaces/kube-system"] = (200, {"kind": "Namespace", "metadata": {"name": "x"}})
    assert kube.get("namespace", "kube-system", "ignored-for-cluster-scope") == {
        "kind": "Namespace",
        "metadata": {"name": "x"},
    }


def _service(name: str = "web-np", **meta: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, **meta}, "spec": {"type": "NodePort"}}


def test_apply_is_server_side_apply_per_object_with_dry_run_and_impersonation(kube: Kube, http: FakeHttp) -> None:
    def stored(sent: Sent) -> tuple[int, Any]:
        return 200, {**sent.body, "status": {}}

    http.routes["PATCH", "/api/v1/namespaces/ns1/services/web-np"] = stored
    http.routes["PATCH", "/api/v1/namespaces/ns1/services/web-2"] = stored
    http.routes["PATCH", "/api/v1/namespaces/ns1"] = stored
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": [_service(), _service("web-2")]})
    got = kube.as_user(LEARNER).apply(manifest, "ns1", dry_run=True)
    assert [o["metadata"]["namespace"] for o in got] == ["ns1", "ns1"]  # the objects as stored
    first = http.api_calls()[0]
    assert first.method == "PATCH"
    assert first.headers["Content-Type"] == "application/apply-patch+yaml"
    assert first.headers["Impersonate-User"] == LEARNER
    assert first.query == [("fieldManager", "servicelab"), ("force", "true"), ("dryRun", "All")]
    kube.apply(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns1\n  namespace: dropped\n"
        "  annotations:\n    when: 2024-01-01\n",
        "ns1",
    )
    last = http.api_calls()[-1]
    assert ("dryRun", "All") not in last.query
    assert "Impersonate-User" not in last.headers  # the grader's own credentials
    assert last.body["metadata"] == {"name": "ns1", "annotations": {"when": "2024-01-01"}}  # a date stays a string


def test_apply_refuses_a_namespace_other_than_the_one_given(kube: Kube) -> None:
    with pytest.raises(KubeError, match='the namespace from the provided object "other" does not match'):
        kube.apply(json.dumps(_service(namespace="other")), "ns1")


def test_an_unknown_kind_in_a_manifest_says_no_matches(kube: Kube) -> None:
    with pytest.raises(UnknownKind, match=re.escape('no matches for kind "Widget" in version "example.com/v1"')) as got:
        kube.apply(json.dumps({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}))
    assert got.value.refused == ("Widget", "w")


def test_invalid_object_is_a_kube_error_that_reads_like_kubectl(kube: Kube, http: FakeHttp) -> None:
    http.routes["PATCH", "/api/v1/namespaces/ns1/services/web-np"] = status(422, "Invalid", NODEPORT_INVALID)
    with pytest.raises(KubeError) as caught:
        kube.apply(json.dumps(_service()), "ns1", dry_run=True)
    assert str(caught.value) == f"Error from server (Invalid): {NODEPORT_INVALID}"
    assert (caught.value.status, caught.value.reason) == (422, "Invalid")
    assert not caught.value.server_side


def test_a_refusal_names_the_object_apply_was_sending_and_what_the_status_was_about(kube: Kube, http: FakeHttp) -> None:
    http.routes["PATCH", "/api/v1/namespaces/ns1/services/web-2"] = lambda sent: (200, sent.body)
    forbidden = 'services "web-np" is forbidden: exceeded quota: servicelab, requested: services.nodeports=1'
    answer = status(403, "Forbidden", forbidden)
    answer[1]["details"] = {"name": "web-np", "kind": "services"}  # the resource admission checked, group ""
    http.routes["PATCH", "/api/v1/namespaces/ns1/services/web-np"] = answer
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": [_service("web-2"), _service()]})
    with pytest.raises(KubeError) as caught:
        kube.apply(manifest, "ns1")
    assert caught.value.refused == ("Service", "web-np")  # the second object, not the first
    assert caught.value.details == StatusDetails(name="web-np", group="", kind="services")
    assert (caught.value.status, caught.value.reason) == (403, "Forbidden")
    with pytest.raises(KubeError) as caught:  # refused before any request: named all the same
        kube.apply(json.dumps(_service(namespace="other")), "ns1")
    assert caught.value.refused == ("Service", "web-np")
    assert caught.value.details == StatusDetails()


def test_a_webhook_failure_is_a_kube_error_carrying_the_api_message(kube: Kube, http: FakeHttp) -> None:
    http.routes["PATCH", "/api/v1/namespaces/ns1/services/web-np"] = status(500, "InternalError", WEBHOOK)
    with pytest.raises(KubeError) as caught:  # "connection refused" inside: the API answered, not unreachable
        kube.apply(json.dumps(_service()), "ns1")
    assert "failed calling webhook" in str(caught.value)
    assert (caught.value.status, caught.value.reason) == (500, "InternalError")
    assert caught.value.server_side  # grader.grading.deploy: the environment's fault, not the manifest's


@pytest.mark.parametrize(
    ("code", "body"),
    [
        (429, status(429, "TooManyRequests", "Too many requests, please try again later.")[1]),
        (500, {"kind": "Status", "code": 500, "message": "etcdserver: request timed out"}),  # no reason at all
        (502, b"<html>Bad Gateway</html>"),  # a proxy's page, not a Status
        (504, status(504, "Timeout", "Timeout: request did not complete within requested timeout")[1]),
    ],
)
def test_server_side_failures_are_told_by_status(kube: Kube, http: FakeHttp, code: int, body: Any) -> None:
    http.routes["GET", "/api/v1/namespaces/ns1/pods/p"] = (code, body)
    with pytest.raises(KubeError) as caught:
        kube.get("pod", "p", "ns1")
    assert caught.value.status == code
    assert caught.value.server_side


def test_a_5xx_without_a_status_keeps_apimachinerys_words_and_the_body(kube: Kube, http: FakeHttp) -> None:
    http.routes["GET", "/api/v1/namespaces/ns1/pods/p"] = (503, b"upstream connect error")
    with pytest.raises(
        KubeError,
        match=r"\(ServiceUnavailable\): the server is currently unable to handle the "
        r"request \(upstream connect error\)",
    ):
        kube.get("pod", "p", "ns1")


@pytest.mark.parametrize(
    "error",
    [
        urllib3.exceptions.MaxRetryError(
            None,
            "/api",  # type: ignore[arg-type]
            urllib3.exceptions.NewConnectionError(None, "Connection refused"),
        ),  # type: ignore[arg-type]
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer")),
        urllib3.exceptions.ReadTimeoutError(None, "/api", "Read timed out."),  # type: ignore[arg-type]
        urllib3.exceptions.SSLError("certificate verify failed"),
        OSError("Name or service not known"),
    ],
)
def test_no_answer_is_kube_unreachable(kube: Kube, http: FakeHttp, error: Exception) -> None:
    http.fail = error
    with pytest.raises(KubeUnreachable, match="unable to connect to the server https://fake-apiserver:6443"):
        kube.get("pod", "p", "ns1")


def test_create_patch_delete_and_delete_wait(kube: Kube, http: FakeHttp) -> None:
    http.routes["POST", "/api/v1/namespaces/ctx-ns/pods"] = lambda sent: (201, sent.body)
    assert kube.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})["metadata"]["name"] == "p"
    http.routes["PATCH", "/api/v1/namespaces/ns1/services/web"] = (200, {})
    kube.patch("service", "web", "ns1", {"metadata": {"finalizers": None}})
    assert http.api_calls()[-1].headers["Content-Type"] == "application/merge-patch+json"
    kube.delete("pod", "absent", "ns1")  # 404: nothing to do
    pod = {"kind": "Pod", "metadata": {"name": "p", "uid": "u1"}}
    http.routes["DELETE", "/api/v1/namespaces/ns1/pods/p"] = (200, pod)
    answers = iter([(200, pod), (200, pod), (404, {"kind": "Status"})])
    http.routes["GET", "/api/v1/namespaces/ns1/pods/p"] = lambda sent: next(answers)
    kube.delete("pod", "p", "ns1", wait=True)
    assert [s.method for s in http.api_calls()[-4:]] == ["DELETE", "GET", "GET", "GET"]
    assert http.api_calls()[-4].body == {"propagationPolicy": "Background"}


def test_json_patch_of_a_subresource(kube: Kube, http: FakeHttp) -> None:
    http.routes["PATCH", "/api/v1/nodes/worker/status"] = lambda sent: (200, {"kind": "Node", "patch": sent.body})
    ops = [{"op": "replace", "path": "/status/addresses/0", "value": {"type": "InternalIP", "address": "10.0.0.9"}}]
    got = kube.json_patch("node", "worker", None, ops, subresource="status")
    assert got == {"kind": "Node", "patch": ops}  # the list as it was sent
    sent = http.api_calls()[-1]
    assert (sent.method, sent.path) == ("PATCH", "/api/v1/nodes/worker/status")
    assert sent.headers["Content-Type"] == "application/json-patch+json"
    http.routes["PATCH", "/api/v1/namespaces/ns1/services/web"] = status(422, "Invalid", "the test operation failed")
    with pytest.raises(KubeError) as caught:
        kube.json_patch("svc", "web", "ns1", [{"op": "test", "path": "/spec/type", "value": "NodePort"}])
    assert (caught.value.status, caught.value.reason) == (422, "Invalid")
    assert http.api_calls()[-1].path == "/api/v1/namespaces/ns1/services/web"  # no subresource: the object


def test_pod_log_is_text_and_a_log_not_there_is_a_kube_error(kube: Kube, http: FakeHttp) -> None:
    log = b'I0101 server.go:1] Successfully retrieved NodeIPs NodeIPs=["172.18.0.3"]\n'
    http.routes["GET", "/api/v1/namespaces/kube-system/pods/kube-proxy-abc/log"] = (200, log)
    assert kube.as_user(LEARNER).pod_log("kube-proxy-abc", "kube-system") == log.decode()
    sent = http.api_calls()[-1]
    assert sent.headers["Impersonate-User"] == LEARNER
    assert "text/plain" in sent.headers["Accept"]
    waiting = 'container "kube-proxy" in pod "kube-proxy-abc" is waiting to start: ContainerCreating'
    http.routes["GET", "/api/v1/namespaces/kube-system/pods/kube-proxy-abc/log"] = status(400, "BadRequest", waiting)
    with pytest.raises(KubeError, match="is waiting to start") as caught:
        kube.pod_log("kube-proxy-abc", "kube-system")
    assert (caught.value.status, caught.value.reason) == (400, "BadRequest")


def test_delete_all_deletes_each_match_and_waits_for_them(kube: Kube, http: FakeHttp) -> None:
    items = [{"metadata": {"name": n, "uid": n}} for n in ("a", "b")]
    lists = iter([items, items[:1], []])
    http.routes["GET", "/api/v1/namespaces/ns1/services"] = lambda sent: (200, {"items": next(lists)})
    for name in ("a", "b"):
        http.routes["DELETE", f"/api/v1/namespaces/ns1/services/{name}"] = (200, {"kind": "Status"})
    kube.delete_all("services", "ns1", wait=True, timeout=10)
    assert [f"{s.method} {s.path.rsplit('/', 1)[-1]}" for s in http.api_calls()] == [
        "GET services",
        "DELETE a",
        "DELETE b",
        "GET services",
        "GET services",
    ]


def test_server_version_needs_no_discovery(kube: Kube, http: FakeHttp) -> None:
    http.routes["GET", "/version"] = (200, {"gitVersion": "v1.36.3"})
    assert kube.server_version() == "v1.36.3"
    assert [s.path for s in http.sent] == ["/version"]


def test_a_server_without_aggregated_discovery_gets_the_legacy_walk(kube: Kube, http: FakeHttp) -> None:
    http.routes["GET", "/api"] = (200, {"kind": "APIVersions", "versions": ["v1"]})
    http.routes["GET", "/apis"] = (
        200,
        {
            "kind": "APIGroupList",
            "groups": [
                {
                    "name": "apps",
                    "versions": [{"groupVersion": "apps/v1beta9"}, {"groupVersion": "apps/v1"}],
                    "preferredVersion": {"groupVersion": "apps/v1"},
                }
            ],
        },
    )
    http.routes["GET", "/api/v1"] = (
        200,
        {
            "kind": "APIResourceList",
            "groupVersion": "v1",
            "resources": [
                {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "shortNames": ["po"]},
                {"name": "pods/exec", "namespaced": True, "kind": "PodExecOptions"},
            ],
        },
    )
    http.routes["GET", "/apis/apps/v1"] = (
        200,
        {
            "kind": "APIResourceList",
            "groupVersion": "apps/v1",
            "resources": [
                {
                    "name": "deployments",
                    "singularName": "deployment",
                    "namespaced": True,
                    "kind": "Deployment",
                    "shortNames": ["deploy"],
                }
            ],
        },
    )
    kube.list("deploy,po", "ns1")
    assert [s.path for s in http.sent] == [
        "/api",
        "/apis",
        "/api/v1",
        "/apis/apps/v1",
        "/apis/apps/v1beta9",
        "/apis/apps/v1/namespaces/ns1/deployments",
        "/api/v1/namespaces/ns1/pods",
    ]
