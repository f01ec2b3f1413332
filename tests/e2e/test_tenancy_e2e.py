"""Walls between tenants on the real lab cluster: NetworkPolicy enforced, and the grader still sees every cell.

Two tenant namespaces are made as the grader makes a grading namespace (fence and walls, grader.grading.walls),
a third without walls; each runs a web pod and a busybox client. The clients are probed with the grader's own
probe scripts (a PodVantage on the client pod). Addresses are used, never names, so a failure is the network's
(connection refused or timed out), not DNS. Run: pytest --e2e tests/e2e/test_tenancy_e2e.py
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from grader.base import images
from grader.base.wait import wait_for
from grader.catalogue.labs import Lab, load_lab
from grader.catalogue.locate import all_labs
from grader.cluster import netpol
from grader.grading.deploy import GRADING, delete_namespace, ensure_namespace, wait_deployments
from grader.grading.environment import Environment, environment
from grader.grading.fence import namespace_object
from grader.grading.results import Verdict
from grader.grading.session import grade
from grader.grading.walls import walls
from grader.intake.manifests import manifest_files
from grader.kube.client import Kube, Obj, managed_labels
from grader.probes.observed import TcpResult
from grader.probes.pod import PodVantage
from grader.probes.policy import ProbePolicy

pytestmark = pytest.mark.e2e

WEB_PORT = 8080
WALL_S = 60.0  # kube-router programs a new pod's rules on its next sync, within seconds
SHORT = ProbePolicy(per_try_s=2.0, deadline_s=3.0)  # a wall answers at once (refused) or never (dropped)
READY_S = 15.0  # what must answer gets a grader probe's usual deadline


@dataclass(frozen=True)
class Tenant:
    namespace: str
    web_ip: str
    client: PodVantage


def _deployment(name: str, run_id: str, container: Obj) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": managed_labels(run_id)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": name, "imagePullPolicy": "IfNotPresent", **container}],
                },
            },
        },
    }


def _workload(run_id: str) -> list[Obj]:
    """A web pod behind Service web, and a busybox client to probe from."""
    web = {
        "image": images.AGNHOST,
        "args": ["netexec", f"--http-port={WEB_PORT}"],
        "ports": [{"containerPort": WEB_PORT}],
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "labels": managed_labels(run_id)},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": WEB_PORT}]},
    }
    client = {"image": images.BUSYBOX, "command": ["sleep", "86400"]}
    return [_deployment("web", run_id, web), _deployment("client", run_id, client), service]


def _tenant(env: Environment, namespace: str) -> Tenant:
    wait_deployments(env.kube, namespace, ["web", "client"], 120)
    pods = {p["metadata"]["labels"]["app"]: p for p in env.kube.list("pods", namespace) if p["status"].get("podIP")}
    client = PodVantage(f"{namespace} client", env.kube, namespace, pods["client"]["metadata"]["name"], SHORT)
    return Tenant(namespace, pods["web"]["status"]["podIP"], client)


@pytest.fixture(scope="module")
def env(context: str) -> Iterator[Environment]:
    with environment(context) as opened:
        yield opened


@pytest.fixture(scope="module")
def tenants(env: Environment) -> Iterator[dict[str, Tenant]]:
    """a and b: walled as a clusterip grading; partner: walled as an externalname grading (it may call the
    partner); open: no walls at all."""
    names = {key: f"walls-{key}-{env.run_id}" for key in ("a", "b", "partner", "open")}
    labs = {"a": "clusterip", "b": "clusterip", "partner": "externalname"}
    try:
        for key, namespace in names.items():
            if key in labs:
                lab = load_lab(labs[key])
                ensure_namespace(env.kube, namespace, env.run_id, must_be_new=True, facts=env.facts, policy=lab.policy)
            else:
                env.kube.create(namespace_object(namespace, env.run_id, GRADING))
            workload = {"apiVersion": "v1", "kind": "List", "items": _workload(env.run_id)}
            env.kube.apply(json.dumps(workload), namespace)
        yield {key: _tenant(env, namespace) for key, namespace in names.items()}
    finally:
        for namespace in names.values():
            delete_namespace(env.kube, namespace)


def _refused(result: TcpResult) -> bool:
    """Not connected, and for a reason of the network: refused (kube-router rejects) or timed out (dropped)."""
    return not result.connected and (result.error == "connection refused" or result.error.startswith("timed out"))


def _walled(vantage: PodVantage, ip: str) -> tuple[bool | None, str]:
    result = vantage.tcp_connect(ip, WEB_PORT)
    return (True if _refused(result) else None), f"{vantage.name} -> {ip}:{WEB_PORT}: {result.observed}"


def test_a_tenants_pods_reach_nothing_of_another_tenant(env: Environment, tenants: dict[str, Tenant]) -> None:
    a, b = tenants["a"], tenants["b"]
    wait_for(lambda: _walled(b.client, a.web_ip), what="the wall between two tenants", timeout_s=WALL_S)
    assert _walled(a.client, b.web_ip)[0], "the wall holds both ways"
    cluster_ip = (env.kube.get("service", "web", a.namespace) or {})["spec"]["clusterIP"]
    assert _refused(b.client.tcp_connect(cluster_ip, 80)), "nor through the other tenant's Service"
    # Controls: the pods serve, and their own namespace reaches them, directly and through the Service.
    assert a.client.tcp_connect(a.web_ip, WEB_PORT, deadline_s=READY_S).connected
    assert a.client.http_get(f"http://{cluster_ip}/hostname", deadline_s=READY_S).ok


def test_the_way_in_alone_keeps_an_unwalled_pod_out(tenants: dict[str, Tenant]) -> None:
    outsider, a = tenants["open"].client, tenants["a"]
    wait_for(lambda: _walled(outsider, a.web_ip), what="a tenant's way in", timeout_s=WALL_S)
    assert outsider.tcp_connect(tenants["open"].web_ip, WEB_PORT, deadline_s=READY_S).connected  # no walls there


def test_the_way_out_alone_keeps_a_tenants_pod_in(env: Environment, tenants: dict[str, Tenant]) -> None:
    a, unwalled = tenants["a"], tenants["open"]
    wait_for(lambda: _walled(a.client, unwalled.web_ip), what="a tenant's way out", timeout_s=WALL_S)
    probe, _ = env.pod_vantages()
    assert probe.tcp_connect(unwalled.web_ip, WEB_PORT).connected  # the pod it could not reach does serve


def test_the_graders_probe_pods_reach_every_tenant(env: Environment, tenants: dict[str, Tenant]) -> None:
    probe, other = env.pod_vantages()
    for tenant in (tenants["a"], tenants["b"], tenants["partner"]):
        for vantage in (probe, other):
            assert vantage.tcp_connect(tenant.web_ip, WEB_PORT).connected, f"{vantage.name} -> {tenant.namespace}"


def test_a_tenant_resolves_cluster_names(tenants: dict[str, Tenant]) -> None:
    a = tenants["a"]
    found = a.client.dns(f"web.{a.namespace}.svc.cluster.local", deadline_s=READY_S)
    assert found.addresses, found.error


def test_only_a_lab_that_declares_the_partner_may_call_it(env: Environment, tenants: dict[str, Tenant]) -> None:
    partner_ip = env.facts.partner_ip
    if partner_ip is None:
        pytest.skip("no partner container on this cluster")
    assert tenants["partner"].client.http_get(f"http://{partner_ip}/hostname", deadline_s=READY_S).ok
    assert _refused(tenants["a"].client.tcp_connect(partner_ip, 80)), "clusterip declares no partner"


def test_the_walls_are_what_the_grader_builds(env: Environment, tenants: dict[str, Tenant]) -> None:
    lab = load_lab("externalname")
    namespace = tenants["partner"].namespace
    stored = {p["metadata"]["name"]: p["spec"] for p in env.kube.list("networkpolicies", namespace)}
    built = {p["metadata"]["name"]: p["spec"] for p in walls(namespace, env.run_id, lab.policy, env.facts)}
    assert set(stored) == set(built)
    assert all(stored[name]["policyTypes"] == built[name]["policyTypes"] for name in built)


def test_the_engine_witness_holds(kube: Kube) -> None:
    seen, why = netpol.enforced(kube)
    assert seen is not None, why


@pytest.mark.parametrize("lab", [load_lab(path) for path in all_labs()], ids=lambda lab: lab.id)
def test_behind_the_walls_every_solution_gets_full_marks_and_every_cell_is_as_expected(
    env: Environment, lab: Lab
) -> None:
    files = [(f, str(f)) for f in manifest_files(lab.solution.path)]
    result = grade(lab, env, case_files=files)
    assert result.verdict is Verdict.PASS, [(c.id, c.status, c.message) for c in result.checks]
    wrong = [cell for cell in result.matrix.cells if cell.ok is False]
    assert not wrong, wrong
