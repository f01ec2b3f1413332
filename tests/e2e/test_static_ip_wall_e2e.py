"""A classroom's static IPs on the real lab cluster: an address of a class pool is admitted in the student namespace
it was given to and refused in another with the wall's message; MetalLB hands it out and announces it, so the
static-ip lab's reference solution graded with that student's STATIC_IP gets full marks (the outside vantage
point reaches it).

The pools are made by grader.classroom.manifests.address_pools and the wall by address_wall, under test names
(servicelab-test-ips-*) so they never meet a real classroom's: the wall bound to a test role, so it selects only
the two throwaway namespaces (ips-test-*) made here. Everything is deleted afterwards.
Run: pytest --e2e tests/e2e/test_static_ip_wall_e2e.py
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml
from _admission import enforced, refusal

from grader.base.wait import wait_for
from grader.catalogue.labs import load_lab
from grader.classroom import manifests as m
from grader.classroom.assignment import INTERNAL_STATIC_IP, STATIC_IP
from grader.cluster import docker, metallb, podguard
from grader.cluster.net import class_bands
from grader.cluster.sources import fixture
from grader.grading.environment import environment
from grader.grading.results import Status, Verdict
from grader.grading.session import grade
from grader.intake.labpolicy import LabPolicy
from grader.intake.manifests import manifest_files
from grader.kube.client import Kube, KubeError, Obj, managed_labels

pytestmark = pytest.mark.e2e

STEM = f"servicelab-test-ips-{secrets.token_hex(2)}"
ROLE = "ips-test-wall"
ACTIVE_S = 60.0  # the API server type-checks a new policy and starts enforcing it within seconds
IPV4 = "service.beta.kubernetes.io/azure-load-balancer-ipv4"


@dataclass(frozen=True)
class Class:
    kube: Kube
    own: dict[str, dict[str, str]]  # namespace -> its variables (STATIC_IP, INTERNAL_STATIC_IP)


def _service(name: str, annotations: dict[str, str], namespace: str | None = None) -> Obj:
    meta: Obj = {"name": name, "labels": managed_labels(), "annotations": annotations}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {**meta, **({"namespace": namespace} if namespace else {})},
        "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"port": 80}]},
    }


def _free_addresses(kube: Kube) -> tuple[list[str], list[str]]:
    """Addresses of the class bands that no pool and no container on the kind network holds now, from the top."""
    subnet = docker.kind_ipv4_subnet()
    assert subnet, "the kind docker network has no IPv4 subnet: is the lab cluster up?"
    bands = class_bands(subnet)
    pooled = metallb.in_pools(kube.list(metallb.POOL_RESOURCE, metallb.NAMESPACE), [*bands.static, *bands.internal])
    taken = pooled | docker.kind_network_addresses()
    return [a for a in reversed(bands.static) if a not in taken], [
        a for a in reversed(bands.internal) if a not in taken
    ]


def _pools(variables: dict[str, dict[str, str]]) -> list[Obj]:
    """The classroom's pools and L2Advertisement for these variables, renamed so no real classroom's are touched."""
    room = m.Classroom(
        students=tuple(variables), instructors=(), policy=LabPolicy(), hub_image="", singleuser_image="",
        cpu_request="", cpu_limit="", memory_request="", memory_limit="", proxy_type="NodePort", node_port=0,
        hub_state="emptyDir", storage_class="", api_server=((), 0), variables=variables, class_pools=True,
    )  # fmt: skip
    objects = m.address_pools(room)
    renamed = {obj["metadata"]["name"]: f"{STEM}-{obj['kind'].lower()}-{i}" for i, obj in enumerate(objects)}
    for obj in objects:
        obj["metadata"]["name"] = renamed[obj["metadata"]["name"]]
        obj["metadata"]["labels"] = managed_labels()
        if obj["kind"] == "L2Advertisement":
            obj["spec"]["ipAddressPools"] = [renamed[name] for name in obj["spec"]["ipAddressPools"]]
    return objects


@pytest.fixture(scope="module")
def klass(kube: Kube) -> Iterator[Class]:
    stem = f"ips-test-{secrets.token_hex(2)}"
    names = [f"{stem}-a", f"{stem}-b"]
    public, internal = _free_addresses(kube)
    own = {ns: {STATIC_IP: public[i], INTERNAL_STATIC_IP: internal[i]} for i, ns in enumerate(names)}
    pools = _pools(own)
    policy, binding = m.address_wall(name=f"{STEM}-wall", role=ROLE)
    try:
        for ns, variables in own.items():
            annotations = {m.ADDRESS_KEYS[var]: value for var, value in variables.items()}
            labels = {**managed_labels(), podguard.ROLE_KEY: ROLE}
            kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": ns, "labels": labels, "annotations": annotations},
                }
            )
        for obj in (*pools, policy, binding):
            kube.apply(json.dumps(obj))
        first, second = names
        canary = _service("canary", {IPV4: own[second][STATIC_IP]})

        wait_for(
            lambda: enforced(kube, [policy["metadata"]["name"]], first, [canary]),
            what=f"{policy['metadata']['name']} enforced in {first}",
            timeout_s=ACTIVE_S,
        )
        yield Class(kube, own)
    finally:
        kube.delete("validatingadmissionpolicybinding", binding["metadata"]["name"])
        kube.delete("validatingadmissionpolicy", policy["metadata"]["name"])
        for ns in names:
            kube.delete("namespace", ns, wait=True)
        for obj in reversed(pools):  # the advertisement, then the pools (their addresses released with the namespaces)
            kube.delete(obj["kind"].lower() + "s.metallb.io", obj["metadata"]["name"], metallb.NAMESPACE, wait=True)
        assert kube.get("validatingadmissionpolicy", policy["metadata"]["name"]) is None
        assert all(kube.get("namespace", ns) is None for ns in names)
        left = [
            o for o in kube.list(metallb.POOL_RESOURCE, metallb.NAMESPACE) if o["metadata"]["name"].startswith(STEM)
        ]
        assert not left, [o["metadata"]["name"] for o in left]


def _assigned(kube: Kube, namespace: str, name: str) -> tuple[str | None, str]:
    svc = kube.get("service", name, namespace) or {}
    ips = [i.get("ip") for i in (svc.get("status") or {}).get("loadBalancer", {}).get("ingress") or []]
    events = [
        e.get("message", "")
        for e in kube.list("events", namespace)
        if e["involvedObject"].get("name") == name and e.get("type") == "Warning"
    ]
    return (ips[0] if ips else None), f"addresses {ips}; warnings {events[-1:]}"


def test_a_class_address_is_admitted_and_handed_out_in_its_own_namespace(klass: Class) -> None:
    (first, mine), _ = klass.own.items()
    for var in (STATIC_IP, INTERNAL_STATIC_IP):
        name = f"mine-{var.lower().replace('_', '-')}"
        klass.kube.create(_service(name, {IPV4: mine[var]}, first))
        got = wait_for(lambda n=name: _assigned(klass.kube, first, n), what=f"{name} given its address", timeout_s=60)
        assert got == mine[var]
        klass.kube.delete("service", name, first, wait=True)  # the grading below asks for the same address


def test_a_class_address_is_refused_in_another_namespace_with_the_walls_message(klass: Class) -> None:
    (first, mine), (_, theirs) = klass.own.items()
    yours = f"yours are STATIC_IP {mine[STATIC_IP]} and INTERNAL_STATIC_IP {mine[INTERNAL_STATIC_IP]}"
    legacy = _service("legacy", {})
    legacy["spec"]["loadBalancerIP"] = theirs[STATIC_IP]
    for service, asked in (
        (_service("theirs", {IPV4: theirs[STATIC_IP]}), theirs[STATIC_IP]),
        (_service("theirs-internal", {metallb.IPS_ANNOTATION: theirs[INTERNAL_STATIC_IP]}), theirs[INTERNAL_STATIC_IP]),
        (legacy, theirs[STATIC_IP]),
    ):
        err = refusal(klass.kube, first, service)
        assert err is not None, f"{service['metadata']['name']} was admitted"
        assert (err.status, err.reason) == (403, "Forbidden"), err
        assert f"static-ip: {asked} is not your address to ask for: {yours}" in str(err)
    by_pool = _service("by-pool", {metallb.POOL_ANNOTATION: metallb.CLASS_STATIC_POOL})
    err = refusal(klass.kube, first, by_pool)
    assert err is not None
    assert f"static-ip: pool {metallb.CLASS_STATIC_POOL} hands out static IPs" in str(err)
    assert refusal(klass.kube, first, _service("auto", {})) is None  # asking for nothing is no one's business
    assert klass.kube.get("service", "theirs", first) is None


def test_the_static_ip_solution_graded_with_a_students_class_address_gets_full_marks(
    klass: Class, context: str
) -> None:
    _, mine = next(iter(klass.own.items()))
    lab = load_lab("static-ip")
    files = [(f, str(f)) for f in manifest_files(lab.solution.path)]
    with environment(context) as env:
        assert env.facts.variables["STATIC_IP"] != mine[STATIC_IP]  # the cluster's own is another address
        result = grade(lab, env, case_files=files, variables=mine)
    assert result.verdict is Verdict.PASS, [(c.id, c.status, c.message, c.detail) for c in result.checks]
    assert result.fraction == 1.0
    # passed only if azure-load-balancer got exactly the student's address and the outside vantage reached it there
    (exact,) = [c for c in result.checks if c.id.endswith("gets_exactly_static_ip")]
    assert exact.status is Status.PASS


def test_the_aks_translation_sends_an_internal_service_asking_for_the_students_own_address_to_the_class_pool(
    kube: Kube, context: str
) -> None:
    """The fixture's translation as the API server runs it, under a test name, bound to a namespace of its own and
    writing a test annotation instead of MetalLB's (the cluster's own translation stays as it is)."""
    with environment(context) as env:
        cluster_internal = env.facts.variables["INTERNAL_STATIC_IP"]
    text = fixture("aks/annotations.yaml", INTERNAL_STATIC_IP=cluster_internal)
    policy, binding = [d for d in yaml.safe_load_all(text) if d["metadata"]["name"] == "servicelab-aks-internal-lb"]
    written = "servicelab.dev/test-address-pool"
    name, ns = f"{STEM}-aks", f"ips-test-{secrets.token_hex(2)}-aks"
    mine = "172.18.253.77"
    policy["metadata"]["name"] = binding["metadata"]["name"] = binding["spec"]["policyName"] = name
    expression = policy["spec"]["mutations"][0]["applyConfiguration"]["expression"]
    assert f'"{metallb.POOL_ANNOTATION}"' in expression
    policy["spec"]["mutations"][0]["applyConfiguration"]["expression"] = expression.replace(
        f'"{metallb.POOL_ANNOTATION}"', f'"{written}"'
    )
    binding["spec"]["matchResources"] = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
    annotations = {m.ADDRESS_KEYS[INTERNAL_STATIC_IP]: mine, m.INTERNAL_POOL_KEY: metallb.CLASS_INTERNAL_STATIC_POOL}
    internal = "service.beta.kubernetes.io/azure-load-balancer-internal"
    try:
        meta = {"name": ns, "labels": managed_labels(), "annotations": annotations}
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
        for obj in (policy, binding):
            kube.apply(json.dumps(obj))

        def pool_for(asked: str) -> tuple[str | None, str]:
            service = _service("probe", {internal: "true", **({IPV4: asked} if asked else {})})
            try:
                stored = kube.apply(json.dumps(service), ns, dry_run=True)
            except KubeError as err:
                return None, str(err)[:200]
            got = (stored[0]["metadata"].get("annotations") or {}).get(written) if stored else None
            return got, f"{written}: {got}"

        first = wait_for(lambda: pool_for(mine), what=f"{name} active", timeout_s=ACTIVE_S)
        assert first == metallb.CLASS_INTERNAL_STATIC_POOL
        assert pool_for("172.18.253.78")[0] == metallb.INTERNAL_POOL  # not hers: the shared internal pool
        assert pool_for("")[0] == metallb.INTERNAL_POOL
        assert pool_for(cluster_internal)[0] == metallb.INTERNAL_STATIC_POOL
    finally:
        kube.delete("mutatingadmissionpolicybinding", name)
        kube.delete("mutatingadmissionpolicy", name)
        kube.delete("namespace", ns, wait=True)
        assert kube.get("mutatingadmissionpolicy", name) is None
