"""After every other test (pass, fail, refusals, SIGINT, SIGTERM, a kill -9'd run and the next one, faults):
nothing the grader made for one run is left on the cluster.

What may stay is what outlives runs by design: the cluster's own set-up (`servicelab up`), the warm probe
pods (role probe-warm, one namespace each, pods only), the claims namespace (role claims) without Leases and
the pod guard's check namespace (role policy-check, empty: `up` only dry-runs pods there).
A run still alive on this host is not a leftover, nor is what existed before the suite began (a learner's
workspace on a reused cluster): `nox -s tests` says when it began in SERVICELAB_SUITE_START (ISO 8601, UTC),
and runs this module once more after check-solutions; alone, the module's own start is used.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from grader.base.wait import wait_for
from grader.classroom.manifests import HUB_ROLE, STUDENT_ROLE
from grader.cluster import podguard
from grader.cluster.netpol import DAEMONSET as ENGINE
from grader.cluster.netpol import NAMESPACE as ENGINE_NAMESPACE
from grader.cluster.netpol import WITNESS_NAMESPACE
from grader.kube.client import MANAGED_BY_KEY, MANAGED_BY_VALUE, OWNER_KEY, Kube, Obj
from grader.parallel.leases import NAMESPACE as CLAIMS_NAMESPACE
from grader.probes.pod import WARM_ROLE

pytestmark = [pytest.mark.e2e, pytest.mark.last]

MANAGED = f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}"
ROLE_KEY = "servicelab.dev/role"
CLASSROOM_ROLES = (HUB_ROLE, STUDENT_ROLE)
SETUP_NAMESPACES = ("metallb-system", "traefik", WITNESS_NAMESPACE)  # `servicelab up` labels what it installs there
SETUP_OBJECTS = {("serviceaccounts", ENGINE_NAMESPACE, ENGINE)}  # and what it adds to kube-system
SUITE_START = datetime.fromisoformat(os.environ.get("SERVICELAB_SUITE_START") or datetime.now(UTC).isoformat())
PER_RUN_KINDS = (
    "services",
    "deployments",
    "replicasets",
    "pods",
    "configmaps",
    "serviceaccounts",
    "roles",
    "rolebindings",
    "resourcequotas",
    "limitranges",
    "ingresses.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
    "leases.coordination.k8s.io",
    "networkpolicies.networking.k8s.io",
)


def test_nothing_of_a_finished_run_is_left(kube: Kube) -> None:
    def clear() -> tuple[bool | None, str]:
        left = _leftovers(kube)  # a namespace still terminating gets the time it needs
        return (True if not left else None), "; ".join(left)

    wait_for(clear, what="no grader-made object of a finished run left", timeout_s=180, interval_s=1, max_interval_s=5)


def _leftovers(kube: Kube) -> list[str]:
    found: list[str] = []
    kept: set[str] = set(SETUP_NAMESPACES)  # outlive runs by design
    skipped: set[str] = set()  # a live run's, or already reported whole
    for ns in kube.list("namespaces", selector=MANAGED):
        meta = ns["metadata"]
        if _before_the_suite(meta):
            continue
        role = meta.get("labels", {}).get(ROLE_KEY)
        if role in CLASSROOM_ROLES:  # a classroom is no run: it lives until `servicelab classroom down`
            skipped.add(meta["name"])
            continue
        if role in (WARM_ROLE, "claims", podguard.CHECK_ROLE) or meta["name"] in SETUP_NAMESPACES:
            kept.add(meta["name"])
            continue
        skipped.add(meta["name"])
        if not _alive_here(meta):
            found.append(f"namespace {meta['name']} (role {role}, {ns.get('status', {}).get('phase')})")
    for kind in PER_RUN_KINDS:  # grader-labelled objects in the kept namespaces and in everybody else's
        for obj in kube.list(kind, selector=MANAGED, all_namespaces=True):
            namespace = obj["metadata"].get("namespace", "")
            if namespace in skipped or namespace in SETUP_NAMESPACES or _before_the_suite(obj["metadata"]):
                continue
            if (kind, namespace, obj["metadata"]["name"]) in SETUP_OBJECTS:
                continue
            if namespace not in kept or not _allowed_in_kept(kind, namespace, kube):
                found.append(f"{kind} {namespace}/{obj['metadata']['name']}")
    return found


def _allowed_in_kept(kind: str, namespace: str, kube: Kube) -> bool:
    """Warm probe namespaces hold their pods; the claims namespace holds no Lease between runs."""
    if namespace == CLAIMS_NAMESPACE:
        return False
    labels = (kube.get("namespace", namespace) or {}).get("metadata", {}).get("labels", {})
    return labels.get(ROLE_KEY) == WARM_ROLE and kind in ("pods", "serviceaccounts")


def _before_the_suite(meta: Obj) -> bool:
    created = str(meta.get("creationTimestamp") or "")
    return bool(created) and datetime.fromisoformat(created.replace("Z", "+00:00")) < SUITE_START.replace(microsecond=0)


def _alive_here(meta: Obj) -> bool:
    """Owned by a process still running on this host: a run in progress, not a leftover."""
    owner = str((meta.get("annotations") or {}).get(OWNER_KEY, ""))
    host, _, pid = owner.rpartition("/")
    if not pid.isdigit() or host != os.uname().nodename:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
