"""The classroom's host wall on the real lab cluster: in a student namespace an Ingress, an HTTPRoute and a Gateway
may name the namespace's own HTTP host, and neither another host nor none (which takes every host).

The wall is made by grader.classroom.manifests.host_wall under a test name (servicelab-test-hosts-*) bound to a
test role, so it selects only the throwaway namespace (hosts-test-*) made here; all of it is deleted afterwards.
Every object is tried with a dry-run create: the API server runs admission and stores nothing.
Run: pytest --e2e tests/e2e/test_host_wall_e2e.py
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
from _admission import enforced, refusal

from grader.base.wait import wait_for
from grader.classroom.manifests import SHOP_HOST_KEY, host_wall
from grader.cluster import podguard
from grader.kube.client import Kube, Obj, managed_labels

pytestmark = pytest.mark.e2e

WALL = "servicelab-test-hosts-wall"
ROLE = "hosts-test-wall"
OWN = "ada.shop.example"
ACTIVE_S = 60.0  # the API server type-checks a new policy and starts enforcing it within seconds


def _ingress(*hosts: str | None, default_backend: bool = False) -> Obj:
    backend = {"service": {"name": "store", "port": {"number": 80}}}
    paths = [{"path": "/store", "pathType": "Prefix", "backend": backend}]
    spec: Obj = {"rules": [{**({"host": h} if h else {}), "http": {"paths": paths}} for h in hosts]}
    if default_backend:
        spec["defaultBackend"] = backend
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "shop"}, "spec": spec}


def _route(*hostnames: str) -> Obj:
    spec: Obj = {"parentRefs": [{"name": "shop-gateway"}], **({"hostnames": list(hostnames)} if hostnames else {})}
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "shop"},
        "spec": spec,
    }


def _gateway(*hostnames: str | None) -> Obj:
    listeners = [
        {"name": f"l{i}", "protocol": "HTTP", "port": 80 + i, **({"hostname": h} if h else {})}
        for i, h in enumerate(hostnames)
    ]
    spec = {"gatewayClassName": "approuting-istio", "listeners": listeners}
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "g"}, "spec": spec}


@pytest.fixture(scope="module")
def walled(kube: Kube) -> Iterator[str]:
    """A namespace whose own host is OWN, behind the host wall; its name."""
    ns = f"hosts-test-{secrets.token_hex(2)}"
    made = host_wall(name=WALL, role=ROLE)
    policies = [o["metadata"]["name"] for o in made if o["kind"] == "ValidatingAdmissionPolicy"]
    try:
        labels = {**managed_labels(), podguard.ROLE_KEY: ROLE, SHOP_HOST_KEY: OWN}
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}})
        for obj in made:
            kube.apply(json.dumps(obj))
        canaries = [_ingress("bob.shop.example"), _route("bob.shop.example"), _gateway("bob.shop.example")]

        wait_for(lambda: enforced(kube, policies, ns, canaries), what=f"{WALL}-* enforced in {ns}", timeout_s=ACTIVE_S)
        yield ns
    finally:
        for obj in reversed(made):
            kube.delete(obj["kind"].lower(), obj["metadata"]["name"])
        kube.delete("namespace", ns, wait=True)
        assert all(kube.get("validatingadmissionpolicy", name) is None for name in policies)
        assert kube.get("namespace", ns) is None


def test_the_namespaces_own_host_is_admitted(kube: Kube, walled: str) -> None:
    for obj in (_ingress(OWN), _ingress(OWN, OWN), _route(OWN), _gateway(OWN, OWN)):
        assert refusal(kube, walled, obj) is None, obj["kind"]


@pytest.mark.parametrize(
    ("obj", "said"),
    [
        (_ingress("bob.shop.example"), f"host bob.shop.example is not yours: yours is {OWN}; write host: {OWN}"),
        (_ingress(OWN, "shop.example"), f"host shop.example is not yours: yours is {OWN}"),
        (_ingress(None), "an Ingress rule without host (or a defaultBackend) takes every host, other students' too"),
        (_ingress(OWN, default_backend=True), "an Ingress rule without host (or a defaultBackend) takes every host"),
        (_route("bob.shop.example"), f"yours is {OWN}; write hostnames: [{OWN}]"),
        (_route(), f"a route without hostnames takes every host, other students' too: name yours, hostnames: [{OWN}]"),
        (_gateway("*.shop.example"), f"host *.shop.example is not yours: yours is {OWN}; write hostname: {OWN}"),
        (_gateway(OWN, None), "a Gateway listener without hostname takes every host, other students' too"),
    ],
)
def test_another_host_or_none_is_refused_with_the_walls_message(kube: Kube, walled: str, obj: Obj, said: str) -> None:
    err = refusal(kube, walled, obj)
    assert err is not None, f"{obj['kind']} was admitted"
    assert (err.status, err.reason) == (403, "Forbidden"), err
    assert f"http-host: {said}" in str(err) or said in str(err), err


def test_outside_the_walled_namespaces_nothing_changes(kube: Kube, walled: str) -> None:
    ns = f"hosts-free-{secrets.token_hex(2)}"
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": managed_labels()}})
    try:
        assert refusal(kube, ns, _ingress("bob.shop.example")) is None
        assert refusal(kube, ns, _ingress(None)) is None
    finally:
        kube.delete("namespace", ns, wait=True)
