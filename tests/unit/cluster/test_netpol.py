"""The NetworkPolicy engine of the lab cluster (grader.cluster.netpol): its manifest, its witness, its checks."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from _kube_fakes import FakeHttp, Sent, fake_kube

from grader.base import images
from grader.cluster import doctor, netpol, status, up, versions
from grader.cluster.sources import fixture
from grader.kube.client import Kube

PODS = f"/api/v1/namespaces/{netpol.WITNESS_NAMESPACE}/pods"


def _docs(relative: str, **values: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(fixture(relative, **values)) if doc]


def test_the_engine_runs_only_its_policy_controller_on_every_node() -> None:
    docs = _docs("netpol/kube-router.yaml", KUBE_ROUTER_IMAGE=versions.KUBE_ROUTER_IMAGE)
    daemonset = next(d for d in docs if d["kind"] == "DaemonSet")
    assert (daemonset["metadata"]["namespace"], daemonset["metadata"]["name"]) == (netpol.NAMESPACE, netpol.DAEMONSET)
    pod = daemonset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"docker.io/cloudnativelabs/kube-router:{versions.KUBE_ROUTER}"
    assert {"--run-firewall=true", "--run-router=false", "--run-service-proxy=false"} <= set(container["args"])
    assert pod["hostNetwork"] is True
    assert pod["tolerations"] == [{"operator": "Exists"}]  # the control-plane node's pods are guarded too
    account = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    binding = next(d for d in docs if d["kind"] == "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kube-router", "namespace": netpol.NAMESPACE}]
    rules = next(d for d in docs if d["kind"] == "ClusterRole")["rules"]
    readable = {(group, resource) for rule in rules for group in rule["apiGroups"] for resource in rule["resources"]}
    assert ("networking.k8s.io", "networkpolicies") in readable
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in rules)  # it reads, never writes


def test_the_witness_walls_off_one_of_two_equal_pods_away_from_the_control_plane() -> None:
    docs = _docs("netpol/witness.yaml", AGNHOST_IMAGE=images.AGNHOST)
    assert all(d["metadata"].get("namespace", netpol.WITNESS_NAMESPACE) == netpol.WITNESS_NAMESPACE for d in docs)
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {netpol.OPEN, netpol.WALLED}
    labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}
    assert labels == {netpol.OPEN: {"app": netpol.OPEN}, netpol.WALLED: {"app": netpol.WALLED}}
    for deployment in deployments.values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == images.AGNHOST
        assert container["ports"] == [{"name": "http", "containerPort": netpol.WITNESS_PORT}]
    (policy,) = [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert policy["spec"] == {"podSelector": {"matchLabels": labels[netpol.WALLED]}, "policyTypes": ["Ingress"]}
    terms = deployments[netpol.WALLED]["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    (term,) = terms["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"}]


def _pod(app: str, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{app}-7d9f"},
        "spec": {"nodeName": "servicelab-worker"},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def _witness(
    monkeypatch: pytest.MonkeyPatch, walled: tuple[int, Any], opened: tuple[int, Any] = (200, b"open-7d9f")
) -> Kube:
    def pods(sent: Sent) -> tuple[int, Any]:
        app = dict(sent.query)["labelSelector"].removeprefix("app=")
        return 200, {"items": [_pod(app)]}

    http = FakeHttp(
        {
            ("GET", PODS): pods,
            ("GET", f"{PODS}/open-7d9f:8080/proxy/hostname"): opened,
            ("GET", f"{PODS}/walled-7d9f:8080/proxy/hostname"): walled,
        }
    )
    return fake_kube(monkeypatch, http)


REFUSED = (503, {"kind": "Status", "reason": "ServiceUnavailable", "message": "error trying to reach service"})


def test_the_witness_says_enforced_when_open_answers_and_walled_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    seen, _ = netpol.enforced(_witness(monkeypatch, walled=REFUSED))
    assert (
        seen == "servicelab-walls/walled on servicelab-worker refuses what open answers (HTTP 503 ServiceUnavailable)"
    )


def test_the_witness_says_not_enforced_when_walled_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    seen, why = netpol.enforced(_witness(monkeypatch, walled=(200, b"walled-7d9f")))
    assert seen is None
    assert why.endswith("NetworkPolicy is not enforced")


def test_the_witness_gives_no_verdict_when_even_open_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    seen, why = netpol.enforced(_witness(monkeypatch, walled=REFUSED, opened=REFUSED))
    assert seen is None
    assert "no verdict" in why


def test_a_forbidden_proxy_is_no_verdict_either(monkeypatch: pytest.MonkeyPatch) -> None:
    forbidden = (403, {"kind": "Status", "reason": "Forbidden", "message": "pods/proxy is forbidden"})
    seen, why = netpol.enforced(_witness(monkeypatch, walled=forbidden))
    assert seen is None
    assert "Forbidden" in why


def test_the_witness_waits_for_ready_pods(monkeypatch: pytest.MonkeyPatch) -> None:
    http = FakeHttp({("GET", PODS): (200, {"items": [_pod("walled", ready=False)]})})
    seen, why = netpol.enforced(fake_kube(monkeypatch, http))
    assert seen is None
    assert why == "no ready witness pod open, walled in namespace servicelab-walls"


def test_up_raises_the_walls_once_the_lab_images_are_on_the_nodes() -> None:
    titles = [title for title, _ in up.ACTIONS]
    walls_at = titles.index("Walls between tenants (NetworkPolicy)")
    assert walls_at > titles.index("Lab images on nodes")  # the witness pods run agnhost


def test_doctor_and_status_look_at_the_engine() -> None:
    assert "NetworkPolicy" in doctor.CLUSTER_PARTS
    assert "NetworkPolicy" in [part for part, _ in doctor._CLUSTER_CHECKS]
    assert (netpol.NAMESPACE, "daemonset", netpol.DAEMONSET) in status.CONTROLLERS
