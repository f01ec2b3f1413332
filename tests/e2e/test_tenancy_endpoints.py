"""Walls between tenants: from one learner's pod, no command reaches another learner's pods, the partner container
outside the cluster or Traefik's API.

agnhost netexec, which every starter and the partner used to run, serves /shell?cmd=, /exit, /shutdown and
/upload to whoever connects. Three tenants are set up as grading sets them up (fenced namespace, the lab's
starter, a learner answer): `clusterip` (agnhost serve-hostname pods), `external-traffic-local` (busybox httpd)
and `pod-networking`, whose busybox toolbox plays the attacker. Every command path must get 404, no connection,
or (serve-hostname answers every path with its name) the pod's own name; afterwards no pod has restarted, the
partner still runs from the same start, and no answer holds what the command would have printed. Where a
NetworkPolicy keeps the attacker out, the same requests come from the grader's probe pod, which reaches every
namespace: the servers themselves must have no command endpoint. Traefik's API answers no pod, and the grader
still reads it (through the pod's portforward).

Run: pytest --e2e tests/e2e/test_tenancy_endpoints.py
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.base import names
from grader.base.wait import wait_for
from grader.catalogue.labs import load_lab
from grader.cluster import docker
from grader.grading.deploy import apply_into, delete_namespace, ensure_namespace, wait_deployments
from grader.grading.environment import Environment, environment
from grader.kube.client import Kube
from grader.lab import traefik_view
from grader.probes.shell import Op, Outcome, build_script, http_status, new_nonce, parse_output

pytestmark = pytest.mark.e2e

LABS = Path(__file__).resolve().parents[2] / "labs"
MARK = "sl-$((6*7))-e2e"  # printed by a shell as sl-42-e2e: an answer holding that ran the command
RAN = "sl-42-e2e"
ATTACKS = (
    f"/shell?cmd=echo%20{MARK}",
    f"/shell?shellCommand=echo%20{MARK}",
    "/exit?code=3&timeout=0",
    "/shutdown",
    "/upload",
)
SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: http
"""
OBSERVATIONS = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: observations
data:
  pod-cidr: 10.244.0.0/16
"""
PER_TRY_S = 4.0


@dataclass(frozen=True)
class Tenant:
    namespace: str
    deployments: tuple[str, ...]


@pytest.fixture(scope="module")
def env(context: str) -> Iterator[Environment]:
    with environment(context) as opened:
        yield opened


def _tenant(env: Environment, lab_id: str, answer: str, deployments: tuple[str, ...]) -> Iterator[Tenant]:
    lab = load_lab(str(LABS / lab_id))
    ns = f"e2e-walls-{lab_id}-{env.run_id}"[:63]
    ensure_namespace(env.kube, ns, env.run_id, must_be_new=True, facts=env.facts, policy=lab.policy)
    try:
        apply_into(env.kube, lab, ns, env.facts, env.run_id, text=answer)
        wait_deployments(env.kube, ns, list(deployments), 120)
        yield Tenant(ns, deployments)
    finally:
        delete_namespace(env.kube, ns)


@pytest.fixture(scope="module")
def serve_hostname(env: Environment) -> Iterator[Tenant]:
    yield from _tenant(env, "clusterip", SERVICE, ("web",))


@pytest.fixture(scope="module")
def httpd(env: Environment) -> Iterator[Tenant]:
    yield from _tenant(env, "external-traffic-local", SERVICE, ("web",))


@pytest.fixture(scope="module")
def attacker(env: Environment) -> Iterator[Tenant]:
    yield from _tenant(env, "pod-networking", OBSERVATIONS, ("toolbox", "web"))


def _pods(kube: Kube, tenant: Tenant) -> dict[str, tuple[str, str, int]]:
    """Running pod name -> (uid, IP, restarts) of the tenant's Deployments."""
    found = {}
    for pod in kube.list("pods", tenant.namespace):
        labels = pod["metadata"].get("labels") or {}
        if labels.get("app") in tenant.deployments and pod["status"].get("phase") == "Running":
            restarts = sum(int(s.get("restartCount") or 0) for s in pod["status"].get("containerStatuses") or [])
            found[pod["metadata"]["name"]] = (pod["metadata"]["uid"], pod["status"].get("podIP") or "", restarts)
    return found


def _from_pod(kube: Kube, namespace: str, pod: str, urls: list[str]) -> list[Outcome]:
    """GET each URL from a tenant's own busybox pod, with the grader's probe script."""
    nonce = new_nonce()
    script = build_script([Op("http", url) for url in urls], PER_TRY_S, nonce)
    result = kube.exec(pod, namespace, ["sh", "-c", script], timeout=PER_TRY_S * 3 + 30)
    outcomes = parse_output(result.stdout, len(urls), nonce)
    assert outcomes is not None, f"the probe script in {namespace}/{pod} did not finish: {result.stderr[-300:]}"
    return outcomes


def _toolbox(kube: Kube, attacker: Tenant) -> str:
    (name,) = [
        p["metadata"]["name"]
        for p in kube.list("pods", attacker.namespace, "app=toolbox")
        if p["status"].get("phase") == "Running"
    ]
    return str(name)


def _harmless(url: str, status: int | None, body: str, own_name: str | None) -> str:
    """'' when the answer to a command path ran nothing; else what is wrong with it."""
    if RAN in body:
        return f"{url} ran the command: {body[:200]!r}"
    if status is None or status == 404:
        return ""
    if status == 200 and own_name is not None and body.strip() == own_name:
        return ""  # agnhost serve-hostname: its name on every path
    return f"{url} answered HTTP {status}: {body[:200]!r}"


def _attack_urls(base: str) -> list[str]:
    return [f"{base}{path}" for path in ATTACKS]


def test_no_tenant_pod_runs_a_command_in_another_tenants_pods_or_in_the_partner(
    env: Environment, serve_hostname: Tenant, httpd: Tenant, attacker: Tenant
) -> None:
    kube = env.kube
    toolbox = _toolbox(kube, attacker)
    before = {t.namespace: _pods(kube, t) for t in (serve_hostname, httpd)}
    partner_before = (docker.container_state(names.PARTNER_CONTAINER) or {}).get("State") or {}
    assert partner_before.get("Running"), "the partner container is not running: run 'servicelab up'"

    # serve-hostname answers its own name; the httpd pod and the partner have their own name only at /hostname
    targets = [
        (f"http://{ip}:8080", name, name if t is serve_hostname else None)
        for t in (serve_hostname, httpd)
        for name, (_, ip, _) in before[t.namespace].items()
    ]
    partner = f"http://{names.PARTNER_HOST}"
    controls = _from_pod(kube, attacker.namespace, toolbox, [f"{base}/hostname" for base, _, _ in targets])
    controls += _from_pod(kube, attacker.namespace, toolbox, [f"{partner}/hostname"])
    assert http_status(controls[-1]) == 200, (
        f"a tenant pod must reach the partner (pod-networking asks it): {controls[-1]}"
    )

    wrong: list[str] = []
    walled = []
    for (base, name, own), control in zip([*targets, (partner, "partner", None)], controls, strict=True):
        outcomes = _from_pod(kube, attacker.namespace, toolbox, _attack_urls(base))
        wrong += [
            _harmless(url, http_status(o), o.body, own) for url, o in zip(_attack_urls(base), outcomes, strict=True)
        ]
        if http_status(control) != 200:
            walled.append((base, name, own))  # a NetworkPolicy keeps the attacker out: ask as the grader too
    if walled:
        probe = env.context(attacker.namespace).probe
        for base, _, own in walled:
            urls = _attack_urls(base)
            results = probe.http_batch([f"{base}/hostname", *urls], deadline_s=PER_TRY_S * 2)
            assert results[0].status == 200, f"the grader's probe pod does not reach {base}: {results[0].observed}"
            wrong += [_harmless(u, r.status, r.body, own) for u, r in zip(urls, results[1:], strict=True)]
    assert [w for w in wrong if w] == []

    after = {t.namespace: _pods(kube, t) for t in (serve_hostname, httpd)}
    assert after == before, "a pod was restarted or replaced: /exit or /shutdown stopped it"
    partner_after = (docker.container_state(names.PARTNER_CONTAINER) or {}).get("State") or {}
    assert partner_after.get("Running")
    assert partner_after.get("StartedAt") == partner_before.get("StartedAt")


def test_the_partner_and_the_lab_pod_still_tell_the_clients_address(
    env: Environment, httpd: Tenant, attacker: Tenant
) -> None:
    kube = env.kube
    toolbox = _toolbox(kube, attacker)
    (toolbox_ip,) = [
        p["status"]["podIP"] for p in kube.list("pods", attacker.namespace) if p["metadata"]["name"] == toolbox
    ]
    ((web, (_, ip, _)),) = _pods(kube, httpd).items()
    partner, lab_pod = _from_pod(
        kube,
        attacker.namespace,
        toolbox,
        [f"http://{names.PARTNER_HOST}/cgi-bin/clientip", f"http://{ip}:8080/cgi-bin/clientip"],
    )
    assert http_status(partner) == 200, partner
    node_ips = {a["address"] for n in kube.list("nodes") for a in n["status"]["addresses"]}
    assert partner.body.strip().rsplit(":", 1)[0] in node_ips  # NATed to the node's address, as the lab teaches
    if http_status(lab_pod) is not None:  # None: a NetworkPolicy keeps tenants apart
        assert (http_status(lab_pod), lab_pod.body.strip().rsplit(":", 1)[0]) == (200, toolbox_ip)  # pod to pod
    # inside the lab pod, with the image this cluster runs (upstream busybox, or the offline build's)
    (inside,) = _from_pod(kube, httpd.namespace, web, ["http://127.0.0.1:8080/cgi-bin/clientip"])
    assert http_status(inside) == 200, inside
    assert inside.body.startswith("127.0.0.1:"), inside


def test_traefik_api_answers_no_pod_and_the_grader_still_reads_it(env: Environment, attacker: Tenant) -> None:
    kube = env.kube
    (traefik,) = [p for p in kube.list("pods", "traefik", "app=traefik") if p["status"].get("podIP")]
    api = f"http://{traefik['status']['podIP']}:8080/api/rawdata"
    from_tenant, from_probe = (
        _from_pod(kube, attacker.namespace, _toolbox(kube, attacker), [api])[0],
        env.context(attacker.namespace).probe.http_get(api, deadline_s=PER_TRY_S),
    )
    assert http_status(from_tenant) is None, f"a tenant pod read Traefik's API: {from_tenant.body[:200]!r}"
    assert from_probe.status is None, f"a pod read Traefik's API: {from_probe.body[:200]!r}"
    config = wait_for(
        lambda: (traefik_view.Reader(kube).configuration(), "Traefik's API through the pod's portforward"),
        what="the grader reads Traefik's API",
        timeout_s=30,
    )
    assert "routers" in config
