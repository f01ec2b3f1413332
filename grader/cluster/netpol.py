"""The walls between tenants, on the cluster's side: its NetworkPolicy engine, and a witness that it enforces.

The engine is kube-router's network policy controller alone (fixtures/netpol/kube-router.yaml): it turns the
NetworkPolicies every tenant namespace gets (grader.grading.walls) into iptables rules and ipsets on each node.
A running engine is not yet an enforcing one (an engine whose rules the kernel refuses keeps running and filters
nothing), so `up` and `doctor` ask a witness (fixtures/netpol/witness.yaml): the API server, through its pod proxy,
must get an answer from pod `open` and none from pod `walled`, which a NetworkPolicy closes to all ingress.
"""

from __future__ import annotations

from dataclasses import replace

from grader.base import images
from grader.base.wait import wait_for
from grader.cluster import versions
from grader.cluster.readiness import SYSTEM_ROLLOUT_S, api_errors_are_state, rollout_ready
from grader.cluster.sources import fixture
from grader.kube.client import Kube, KubeError, KubeUnreachable, Obj

NAMESPACE = "kube-system"
DAEMONSET = "kube-router"
ROLLOUT = (NAMESPACE, "daemonset", DAEMONSET)
WITNESS_NAMESPACE = "servicelab-walls"
OPEN, WALLED = "open", "walled"
WITNESS_PORT = 8080
# An answer through the pod proxy takes milliseconds; a refused connection comes back as fast, a dropped one
# never (the API server's own dial would wait 30 s): this long, after `open` has answered, is "no answer".
PROBE_S = 5.0


def install(kube: Kube) -> str:
    """Install the engine, then wait until the witness shows it enforcing; returns what was seen."""
    kube.apply(fixture("netpol/kube-router.yaml", KUBE_ROUTER_IMAGE=versions.KUBE_ROUTER_IMAGE))
    wait_for(lambda: rollout_ready(kube, *ROLLOUT), what="kube-router ready on every node", timeout_s=SYSTEM_ROLLOUT_S)
    kube.apply(fixture("netpol/witness.yaml", AGNHOST_IMAGE=images.AGNHOST))
    for name in (OPEN, WALLED):
        wait_for(
            lambda name=name: rollout_ready(kube, WITNESS_NAMESPACE, "deployment", name),  # type: ignore[misc]
            what=f"witness pod {WITNESS_NAMESPACE}/{name} ready",
            timeout_s=120,
        )
    # the engine programs a new pod's rules within its sync (seconds): until then `walled` still answers
    return wait_for(lambda: enforced(kube), what="NetworkPolicy enforced on the witness", timeout_s=90)


@api_errors_are_state
def enforced(kube: Kube) -> tuple[str | None, str]:
    """For wait_for: a description once `open` answers and `walled` does not; else what was seen."""
    pods = {name: _ready_pod(kube, name) for name in (OPEN, WALLED)}
    missing = [name for name, pod in pods.items() if pod is None]
    if missing:
        return None, f"no ready witness pod {', '.join(missing)} in namespace {WITNESS_NAMESPACE}"
    quick = replace(kube, request_timeout_s=PROBE_S)
    opened = _ask(quick, pods[OPEN])
    if opened is not None:  # without a control that answers, silence from `walled` proves nothing
        return None, f"the API server gets no answer from the open witness pod either ({opened}): no verdict"
    walled = _ask(quick, pods[WALLED])
    if walled is None:
        return None, (
            f"the API server reached pod {WITNESS_NAMESPACE}/{WALLED}, which NetworkPolicy no-ingress closes to "
            "all ingress: NetworkPolicy is not enforced"
        )
    node = (pods[WALLED] or {}).get("spec", {}).get("nodeName", "?")
    return f"{WITNESS_NAMESPACE}/{WALLED} on {node} refuses what {OPEN} answers ({walled})", ""


def _ready_pod(kube: Kube, app: str) -> Obj | None:
    for pod in kube.list("pods", WITNESS_NAMESPACE, selector=f"app={app}"):
        conditions = pod.get("status", {}).get("conditions") or []
        if not pod["metadata"].get("deletionTimestamp") and any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
        ):
            return pod
    return None


def _ask(kube: Kube, pod: Obj | None) -> str | None:
    """None when the pod answered through the API server's pod proxy; else how it did not."""
    name = (pod or {}).get("metadata", {}).get("name", "")
    path = f"/api/v1/namespaces/{WITNESS_NAMESPACE}/pods/{name}:{WITNESS_PORT}/proxy/hostname"
    try:
        kube.get_text(path)
    except KubeUnreachable:
        return f"no answer within {PROBE_S:.0f}s"
    except KubeError as err:
        if err.status is not None and err.status >= 500:  # the proxy could not connect to the pod
            return f"HTTP {err.status} {err.reason}".strip()
        raise  # 403, 404: the question itself failed (rights, a pod just replaced): no verdict either way
    return None


def examine(kube: Kube, up: str) -> tuple[bool, str, str]:
    """For doctor: whether the engine runs on every node and the witness shows it enforcing; what was seen; the
    fix."""
    nodes = len(kube.list("nodes"))
    daemonset = kube.get("daemonset", DAEMONSET, NAMESPACE)
    if daemonset is None:
        return False, f"no daemonset {NAMESPACE}/{DAEMONSET}", f"{up} (installs it)"
    ok, state = rollout_ready(kube, *ROLLOUT)
    desired = daemonset.get("status", {}).get("desiredNumberScheduled", 0)
    if not ok or desired != nodes:
        return False, f"{state} ({nodes} nodes)", f"kubectl -n {NAMESPACE} rollout restart daemonset/{DAEMONSET}"
    if kube.get("namespace", WITNESS_NAMESPACE) is None:
        return False, f"{state}; no witness namespace {WITNESS_NAMESPACE}", f"{up} (makes the witness again)"
    seen, why = enforced(kube)
    if seen is None:
        return False, f"{state}; {why}", f"{up}; if it persists: kubectl -n {NAMESPACE} logs daemonset/{DAEMONSET}"
    return True, f"{state}; {seen}", ""
