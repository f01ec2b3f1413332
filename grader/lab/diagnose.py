"""Name the learner's mistake from the cluster's state: selector vs pod labels, ports, pending load balancers."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from grader.base.outcomes import Diagnosis
from grader.cluster.aks import AZURE_IPV4
from grader.cluster.metallb import ADVERTISEMENT_RESOURCE, CONTROLLER, IPS_ANNOTATION, POOL_ANNOTATION, POOL_RESOURCE
from grader.kube.client import Kube, KubeError, Obj
from grader.lab.services import Service


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in pod.get("status", {}).get("conditions", [])
    )


def pod_labels(pod: Obj) -> dict[str, str]:
    return dict(pod.get("metadata", {}).get("labels") or {})


def container_ports(pod: Obj) -> list[tuple[str, int]]:
    return [
        (p.get("name", ""), int(p.get("containerPort", 0)))
        for c in pod.get("spec", {}).get("containers", [])
        for p in c.get("ports", []) or []
    ]


def _labels_text(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "pod-template-hash") or "(no labels)"


def endpoints_diagnosis(svc: Service, pods: list[Obj], ready: int, wanted: int) -> Diagnosis:
    """Why a Service has fewer ready endpoints than wanted, in the learner's terms."""
    if svc.type == "ExternalName":
        return Diagnosis(
            "endpoints/externalname-has-none", f"Service {svc.name} is type ExternalName: it has no endpoints at all."
        )
    if not svc.selector:
        return Diagnosis(
            "endpoints/no-selector",
            f"Service {svc.name} has no selector, so Kubernetes creates no endpoints for it: "
            "add spec.selector with the labels of the backend pods.",
        )
    live = [p for p in pods if not p.get("metadata", {}).get("deletionTimestamp")]
    selected = [p for p in live if matches(svc.selector, pod_labels(p))]
    if not selected:
        seen = "; ".join(f"{p['metadata']['name']}: {_labels_text(pod_labels(p))}" for p in live[:6])
        return Diagnosis(
            "endpoints/selector-matches-no-pod",
            f"The selector {svc.selector_text} of Service {svc.name} matches no pod in namespace "
            f"{svc.namespace}. Pods there carry: {seen or 'no pods at all'}.",
        )
    ready_pods = [p for p in selected if pod_ready(p)]
    if len(ready_pods) < wanted:
        return Diagnosis(
            "endpoints/pods-not-ready",
            f"The selector {svc.selector_text} matches {len(selected)} pod(s) but only {len(ready_pods)} "
            f"are Ready (wanted {wanted}).",
        )
    named = port_mismatch(svc, selected)
    if named:
        return named
    return Diagnosis("endpoints/too-few-ready", f"Service {svc.name} has {ready} ready endpoint(s), wanted {wanted}.")


def port_mismatch(svc: Service, pods: list[Obj]) -> Diagnosis:
    """A targetPort no selected pod declares (named port missing, or number not among containerPorts)."""
    declared = [cp for p in pods for cp in container_ports(p)]
    if not declared:
        return Diagnosis()
    names = {n for n, _ in declared if n}
    numbers = {n for _, n in declared}
    shown = ", ".join(sorted({f"{n}:{num}" if n else str(num) for n, num in declared}))
    for sp in svc.ports:
        tp = sp.target_port
        if isinstance(tp, str) and not tp.isdigit() and tp not in names:
            return Diagnosis(
                "endpoints/targetport-name-unknown",
                f"targetPort '{tp}' of Service {svc.name} names no container port of the selected pods "
                f"(they declare {shown}): nothing can answer, connections are refused.",
            )
        if (isinstance(tp, int) or str(tp).isdigit()) and int(tp) not in numbers:
            return Diagnosis(
                "endpoints/targetport-not-declared",
                f"targetPort {tp} of Service {svc.name} matches no containerPort of the selected pods "
                f"(they declare {shown}): connections there are refused.",
            )
    return Diagnosis()


def _metallb_broken(kube: Kube, pools: list[Obj], l2: list[Obj]) -> str:
    """What in MetalLB keeps every Service from an address (not the learner's fault), or ''."""
    if not pools:
        return "MetalLB has no IPAddressPool: the environment is not ready (run 'servicelab up')."
    if not l2:
        return "MetalLB has no L2Advertisement: addresses are never announced (run 'servicelab up')."
    namespace, kind, name = CONTROLLER
    try:
        controller = kube.get(kind, name, namespace)
    except KubeError:
        return ""
    if controller is None:
        return "MetalLB's controller Deployment is missing: no Service can get an address (run 'servicelab up')."
    available = controller.get("status", {}).get("availableReplicas") or 0
    if available < 1:
        return (
            "MetalLB's controller is not running (0 available replicas): no Service can get an address. Fix: "
            f"kubectl -n {namespace} scale {kind}/{name} --replicas=1 (then 'servicelab doctor')."
        )
    return ""


def lb_pending_diagnosis(kube: Kube, svc: Service, events: list[str]) -> tuple[Diagnosis, bool]:
    """(why the load balancer has no address, whether that is the environment's fault)."""
    if svc.type != "LoadBalancer":
        why = f"Service {svc.name} is type {svc.type}, not LoadBalancer: it gets no external address."
        return Diagnosis("lb/not-type-loadbalancer", why), False
    try:
        pools = kube.list(POOL_RESOURCE, all_namespaces=True)
        l2 = kube.list(ADVERTISEMENT_RESOURCE, all_namespaces=True)
    except KubeError:
        pools, l2 = [], []
        metallb = False
    else:
        metallb = True
    tail = f" Events: {' | '.join(events[-3:])}" if events else ""
    if metallb:
        broken = _metallb_broken(kube, pools, l2)
        if broken:
            return Diagnosis("lb/environment", broken + tail), True
        names = sorted(p["metadata"]["name"] for p in pools)
        wanted = svc.annotations.get(POOL_ANNOTATION)
        if wanted and wanted not in names:
            why = f"The annotation {POOL_ANNOTATION} names pool '{wanted}', but the pools are {', '.join(names)}."
            return Diagnosis("lb/unknown-pool", why + tail), False
    requested = (
        svc.annotations.get(AZURE_IPV4)
        or svc.annotations.get(IPS_ANNOTATION)
        or svc.raw.get("spec", {}).get("loadBalancerIP")
    )
    if requested:
        why = (
            f"Service {svc.name} requests the address {requested}, which the load balancer did not assign "
            f"(outside every pool, or already used by another Service?).{tail}"
        )
        return Diagnosis("lb/requested-address-not-assigned", why), False
    why = f"Service {svc.name} still has no external address (EXTERNAL-IP pending).{tail}"
    return Diagnosis("lb/address-pending", why), False


def all_pods_made(pods: list[Obj], deployments: list[Obj]) -> bool:
    """Whether every Deployment has made all the pods of its current spec: no pod is still to come whose
    labels could change what a selector matches (existing pods keep their labels)."""

    def made(dep: Obj) -> bool:
        spec, status = dep.get("spec", {}), dep.get("status", {})
        wanted = spec.get("replicas", 1)
        return bool(
            status.get("observedGeneration", 0) >= dep.get("metadata", {}).get("generation", 1)
            and status.get("replicas", 0) == wanted
            and status.get("updatedReplicas", 0) == wanted
        )

    return bool(pods) and all(map(made, deployments))


def pods_refused(replicasets: list[Obj]) -> str:
    """Why a ReplicaSet could not create its pods (Pod Security, quota), in the learner's terms, or ''."""
    for rs in replicasets:
        for cond in rs.get("status", {}).get("conditions") or []:
            if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
                message = str(cond.get("message", ""))
                cause = (
                    "rejected by Pod Security (baseline)"
                    if "PodSecurity" in message
                    else "refused by the namespace's quota"
                    if "exceeded quota" in message
                    else "refused"
                )
                return f"The pods of {rs['metadata']['name']} were {cause}: {message[:300]}."
    return ""


def events_about(events: list[Obj], kind: str, name: str) -> list[str]:
    """The events of one object, oldest first, as 'Reason: message'."""
    mine = [
        e
        for e in events
        if (e.get("involvedObject", {}).get("kind"), e.get("involvedObject", {}).get("name")) == (kind, name)
    ]
    mine.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return [f"{e.get('reason', '')}: {e.get('message', '')}".strip() for e in mine]


def port_hint(host: str, services: list[Service], node_ips: list[str], pods: Callable[[], list[Obj]]) -> Diagnosis:
    """A targetPort no selected pod declares, when host is one of the known Services' addresses (else empty)."""
    for svc in services:
        if host in {svc.cluster_ip, svc.dns, *svc.lb_ips, *node_ips}:
            found = port_mismatch(svc, [p for p in pods() if matches(svc.selector, pod_labels(p))])
            if found:
                return found
    return Diagnosis()


def source_left_out(host: str, services: list[Service], source: str) -> str:
    """Why host never answers source: it is a known Service's load-balancer address whose source ranges
    leave source out (kube-proxy drops those packets for as long as the Service says so), or ''."""
    for svc in services:
        ranges = svc.source_ranges
        if host not in svc.lb_ips or not ranges:
            continue
        try:
            allowed = any(ipaddress.ip_address(source) in ipaddress.ip_network(r, strict=False) for r in ranges)
        except ValueError:
            return ""  # a range we cannot read: no explanation, the probe keeps its deadline
        if not allowed:
            return f"loadBalancerSourceRanges {', '.join(ranges)} leave out this client ({source})"
    return ""
