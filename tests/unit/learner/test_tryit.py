"""The notebooks' hands-on steps (grader.learner.tryit): a pod replaced behind a stable Service, and the source address
a server outside the cluster sees; read from a fake API, probed through a scripted vantage point."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from _grader_fakes import ScriptedVantage, http_ok

from grader.base.errors import EnvError
from grader.learner import notebook, tryit
from grader.probes.shell import Op, Outcome

NS = "lab-clusterip"
RS = "web-6d8f"


def web_pod(name: str, ip: str, *, owned: bool = True) -> dict[str, Any]:
    owners = [{"kind": "ReplicaSet", "name": RS, "controller": True}] if owned else []
    return {
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "web"}, "ownerReferences": owners},
        "spec": {"nodeName": "w1"},
        "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]},
    }


def slice_of(backends: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": ready}, "targetRef": {"kind": "Pod", "name": pod}}
            for pod, ip, ready in backends
        ],
    }


def web_service(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.7.7", "selector": {"app": "web"}, "ports": [{"port": 80}]}
        | spec,
    }


BEFORE = [("web-a", "10.244.1.5", True), ("web-b", "10.244.2.6", True), ("web-c", "10.244.1.4", True)]


class FakeCluster:
    """A namespace with Service web and its pods. Deleting a pod marks its endpoint not ready at once; the
    ReplicaSet's new pod `web-new` turns up as a ready endpoint after `lag` more reads of the EndpointSlices
    (never, with lag None)."""

    def __init__(self, service: dict[str, Any] | None, pods: list[dict[str, Any]], lag: int | None = 2) -> None:
        self.service = service
        self.pods = pods
        self.backends = list(BEFORE)
        self.lag = lag
        self.deleted: list[tuple[str, str, str | None]] = []
        self.selectors: list[str | None] = []
        self.node = {
            "metadata": {"name": "w1"},
            "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.6"}]},
        }

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        if kind == "services":
            return self.service if self.service and self.service["metadata"]["name"] == name else None
        if kind == "nodes":
            return self.node if name == "w1" else None
        raise AssertionError(kind)

    def list(
        self, kind: str, namespace: str | None = None, selector: str | None = None, all_namespaces: bool = False
    ) -> list[dict[str, Any]]:
        assert namespace == NS  # only the learner's own namespace is read
        assert not all_namespaces
        if kind == "endpointslices":
            assert selector == "kubernetes.io/service-name=web"
            if self.deleted and self.lag is not None:
                self.lag -= 1
                if self.lag == 0:
                    self.backends.append(("web-new", "10.244.2.9", True))
            return [slice_of(self.backends)]
        if kind == "pods":
            self.selectors.append(selector)
            return self.pods
        raise AssertionError(kind)

    def delete(self, kind: str, name: str, namespace: str | None = None, *, wait: bool = False) -> None:
        self.deleted.append((kind, name, namespace))
        self.backends = [(p, ip, ready and p != name) for p, ip, ready in self.backends]


def pods() -> list[dict[str, Any]]:
    return [web_pod(name, ip) for name, ip, _ in BEFORE]


def hostnames(*names: str) -> ScriptedVantage:
    """A probe pod that the Service answers from names in turn."""
    return ScriptedVantage(lambda op, n: http_ok(names[n % len(names)]))


def test_one_owned_pod_is_replaced_and_the_service_keeps_its_address() -> None:
    cluster = FakeCluster(web_service(), pods())
    probe = hostnames("web-b", "web-new", "web-c")
    r = tryit.replace_one_pod(cluster, NS, "web", timeout_s=5, probe=probe)  # type: ignore[arg-type]
    assert cluster.deleted == [("pod", "web-a", NS)]  # the first by name, in the lab's namespace only
    assert cluster.selectors == ["app=web"]
    assert (r.cluster_ip_before, r.cluster_ip_after, r.dns) == (
        "10.96.7.7",
        "10.96.7.7",
        "web.lab-clusterip.svc.cluster.local",
    )
    assert (r.deleted, r.replacement) == (tryit.Backend("web-a", "10.244.1.5"), tryit.Backend("web-new", "10.244.2.9"))
    assert r.replica_set == RS
    assert [b.pod for b in r.after] == ["web-b", "web-c", "web-new"]
    assert "the replacement web-new answered" in r.answered
    assert probe.rounds[0][0].target == "http://web.lab-clusterip.svc.cluster.local/hostname"
    markdown, text = tryit.replaced_view(r)
    assert "| ClusterIP | 10.96.7.7 | 10.96.7.7 (unchanged) |" in markdown
    assert "web-new 10.244.2.9 (new)" in markdown
    assert "ReplicaSet web-6d8f made web-new (10.244.2.9)" in text


def test_a_replacement_the_service_does_not_answer_from_is_said_not_hidden() -> None:
    cluster = FakeCluster(web_service(), pods())
    r = tryit.replace_one_pod(
        cluster,
        NS,
        "web",
        timeout_s=5,
        probe=hostnames("web-b"),
        answer_deadline_s=0.2,  # type: ignore[arg-type]
    )
    assert "had not answered" in r.answered
    assert "pods that answered: web-b" in r.answered


def test_no_probe_no_question_and_a_service_port_other_than_80_is_asked_on_its_port() -> None:
    cluster = FakeCluster(web_service(), pods())
    assert tryit.replace_one_pod(cluster, NS, "web", timeout_s=5).answered == ""  # type: ignore[arg-type]
    cluster = FakeCluster(web_service(ports=[{"port": 8080}]), pods())
    probe = hostnames("web-new")
    tryit.replace_one_pod(cluster, NS, "web", timeout_s=5, probe=probe)  # type: ignore[arg-type]
    assert probe.rounds[0][0].target == "http://web.lab-clusterip.svc.cluster.local:8080/hostname"


@pytest.mark.parametrize(
    ("service", "pod_list", "words"),
    [
        (None, pods(), "Service web is not in namespace lab-clusterip"),
        (web_service(type="ExternalName", selector=None), pods(), "is an ExternalName alias"),
        (web_service(selector=None), pods(), "has no selector"),
        (web_service(clusterIP="None"), pods(), "is headless"),
        (web_service(), [web_pod(n, ip, owned=False) for n, ip, _ in BEFORE], "is owned by a ReplicaSet"),
    ],
)
def test_what_cannot_be_replaced_is_refused_and_nothing_deleted(
    service: dict[str, Any] | None, pod_list: list[dict[str, Any]], words: str
) -> None:
    cluster = FakeCluster(service, pod_list)
    with pytest.raises(tryit.Refused) as info:
        tryit.replace_one_pod(cluster, NS, "web", timeout_s=5)  # type: ignore[arg-type]
    assert words in str(info.value)
    assert "Fix: " in str(info.value)
    assert "\n" not in str(info.value)
    assert cluster.deleted == []


def test_no_ready_endpoint_is_refused() -> None:
    cluster = FakeCluster(web_service(), pods())
    cluster.backends = [(p, ip, False) for p, ip, _ in BEFORE]
    with pytest.raises(tryit.Refused, match="no ready endpoint"):
        tryit.replace_one_pod(cluster, NS, "web", timeout_s=5)  # type: ignore[arg-type]
    assert cluster.deleted == []


def test_a_pod_being_deleted_is_not_picked() -> None:
    listed = pods()
    listed[0]["metadata"]["deletionTimestamp"] = "2026-12-07T14:00:00Z"
    cluster = FakeCluster(web_service(), listed)
    tryit.replace_one_pod(cluster, NS, "web", timeout_s=5)  # type: ignore[arg-type]
    assert cluster.deleted == [("pod", "web-b", NS)]


def test_no_replacement_by_the_deadline_is_an_env_error_with_the_last_state() -> None:
    cluster = FakeCluster(web_service(), pods(), lag=None)
    with pytest.raises(EnvError) as info:
        tryit.replace_one_pod(cluster, NS, "web", timeout_s=0.3)  # type: ignore[arg-type]
    said = str(info.value)
    assert "a ready replacement for pod web-a behind Service web" in said
    assert "2 ready endpoint(s): web-b 10.244.2.6, web-c 10.244.1.4" in said
    assert "kubectl -n lab-clusterip get pods" in said


# --- outbound_source: which address the partner sees -------------------------------------------------------------


def client_pod(name: str = "client-1", ip: str = "10.244.1.6", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {"nodeName": "w1"},
        "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]} | status,
    }


def partner_says(body: str, asked: list[tuple[str, Op]] | None = None) -> Any:
    def make(pod: str) -> ScriptedVantage:
        def respond(op: Op, n: int) -> Outcome:
            if asked is not None:
                asked.append((pod, op))
            return http_ok(body)

        return ScriptedVantage(respond)

    return make


def test_the_partner_seeing_the_nodes_address_is_shown_as_snat() -> None:
    asked: list[tuple[str, Op]] = []
    cluster = FakeCluster(None, [client_pod("client-2", "10.244.2.3"), client_pod()])
    seen = tryit.outbound_source(cluster, NS, partner_says("172.18.0.6:41234", asked))  # type: ignore[arg-type]
    assert asked == [("client-1", Op("http", "http://api.partner.example/cgi-bin/clientip"))]  # first by name
    assert (seen.pod, seen.pod_ip, seen.node, seen.node_ip, seen.seen) == (
        "client-1",
        "10.244.1.6",
        "w1",
        "172.18.0.6",
        "172.18.0.6",
    )
    assert "the node rewrote the source address (SNAT)" in seen.verdict
    markdown, text = tryit.outbound_view(seen)
    assert "| client-1 | 10.244.1.6 | w1 | 172.18.0.6 | 172.18.0.6 |" in markdown
    assert "source address the partner saw: 172.18.0.6" in text


@pytest.mark.parametrize(
    ("body", "seen", "words"),
    [
        ("10.244.1.6:5000", "10.244.1.6", "nothing rewrote it"),
        ("[fd00::5]:5000", "fd00::5", "neither the pod's address"),
        ("192.0.2.1:80", "192.0.2.1", "something on the way rewrote it"),
    ],
)
def test_other_answers_are_told_apart(body: str, seen: str, words: str) -> None:
    found = tryit.outbound_source(FakeCluster(None, [client_pod()]), NS, partner_says(body))  # type: ignore[arg-type]
    assert found.seen == seen
    assert words in found.verdict


def test_no_running_pod_to_call_from_is_refused() -> None:
    waiting = client_pod(phase="Pending", conditions=[])
    host = client_pod("host-1")
    host["spec"]["hostNetwork"] = True
    with pytest.raises(tryit.Refused, match=r"no running pod in namespace lab-clusterip.*Fix: run the explore cell"):
        tryit.outbound_source(FakeCluster(None, [waiting, host]), NS, partner_says("x"))  # type: ignore[arg-type]


def test_a_partner_that_does_not_answer_is_an_env_error() -> None:
    def silent(pod: str) -> ScriptedVantage:
        return ScriptedVantage(lambda op, n: Outcome(1, "wget: can't connect to remote host: Connection refused", ""))

    with pytest.raises(EnvError, match=re.escape("got no answer from http://api.partner.example/cgi-bin/clientip")):
        tryit.outbound_source(FakeCluster(None, [client_pod()]), NS, silent, deadline_s=0.2)  # type: ignore[arg-type]


# --- the notebook functions: their output, and a refusal as one line -------------------------------------------


@pytest.fixture
def own_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICELAB_NAMESPACE", NS)


@pytest.mark.usefixtures("own_namespace")
def test_replace_a_pod_shows_the_table_and_refuses_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = FakeCluster(web_service(), pods())
    probe = hostnames("web-new")

    class Env:
        kube = cluster

        def pod_vantages(self) -> tuple[ScriptedVantage, ScriptedVantage]:
            return probe, probe

    @contextlib.contextmanager
    def environment(context: str | None = None) -> Iterator[Env]:
        yield Env()

    monkeypatch.setattr(notebook, "environment", environment)
    notebook.replace_a_pod("clusterip")
    out = capsys.readouterr().out
    assert "ClusterIP                 before: 10.96.7.7" in out
    assert "the replacement web-new answered" in out
    cluster.service = None
    notebook.replace_a_pod("clusterip")
    out = capsys.readouterr().out
    assert out.startswith("error: Service web is not in namespace lab-clusterip")
    assert out.count("\n") == 1


@pytest.mark.usefixtures("own_namespace")
def test_outbound_address_asks_from_a_pod_of_the_lab_namespace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = FakeCluster(None, [client_pod()])
    made: list[tuple[str, str]] = []

    def vantage(name: str, kube: Any, namespace: str, pod: str) -> ScriptedVantage:
        made.append((namespace, pod))
        return ScriptedVantage(lambda op, n: http_ok("172.18.0.6:40000"))

    monkeypatch.setattr(notebook, "Kube", lambda context=None: cluster)
    monkeypatch.setattr(notebook, "PodVantage", vantage)
    notebook.outbound_address("externalname")
    assert made == [(NS, "client-1")]
    assert "(SNAT)" in capsys.readouterr().out
