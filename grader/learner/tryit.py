"""The notebooks' hands-on steps beside the graded task (notebook.yaml `try_it`): observations on the lab cluster.

- `replace_one_pod`: a pod behind a Service is deleted and its ReplicaSet makes a new one with a new IP, while the
  Service keeps its ClusterIP and DNS name; then, through the Service, the replacement answers. Only in the
  learner's own lab namespace, and only a pod a ReplicaSet owns (one that comes back).
- `outbound_source`: a pod of the lab namespace asks the partner server outside the cluster which address called
  it, shown beside the pod's own IP and its node's InternalIP (on kind the node rewrites the source: SNAT).

A refusal (nothing to replace, nothing to call from) is an InputError whose one line names the fix; a wait that
runs out or a server that does not answer is an EnvError (grader.learner.boundary prints either as one line).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from grader.base.errors import EnvError, InputError
from grader.base.names import PARTNER_HOST
from grader.base.wait import WaitTimeout, wait_for
from grader.cluster.readiness import internal_ip
from grader.kube.client import Obj
from grader.learner.display import markdown_table
from grader.probes.base import Vantage

REPLACE_TIMEOUT_S = 90.0  # a new pod of an image the node already holds is ready in seconds
ANSWER_DEADLINE_S = 20.0  # how long the Service is asked for the replacement's answer
PARTNER_DEADLINE_S = 15.0
CLIENTIP_URL = f"http://{PARTNER_HOST}/cgi-bin/clientip"
NO_CLUSTER_IP = ("", "None")


class Cluster(Protocol):
    """The calls of grader.kube.client.Kube these steps make."""

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj | None: ...

    def list(
        self, kind: str, namespace: str | None = None, selector: str | None = None, all_namespaces: bool = False
    ) -> list[Obj]: ...

    def delete(self, kind: str, name: str, namespace: str | None = None, *, wait: bool = False) -> None: ...


class Refused(InputError):
    """The step cannot run on what the namespace holds; the message says what to do first."""


@dataclass(frozen=True)
class Backend:
    """A ready endpoint of a Service: the pod behind it and its address."""

    pod: str
    ip: str


def backends(kube: Cluster, namespace: str, service: str) -> list[Backend]:
    """The ready endpoints of the Service's EndpointSlices that point at pods, each pod once, by pod name."""
    slices = kube.list("endpointslices", namespace, selector=f"kubernetes.io/service-name={service}")
    found: dict[str, Backend] = {}
    for piece in slices:
        for ep in piece.get("endpoints") or []:
            ref = ep.get("targetRef") or {}
            if (ep.get("conditions") or {}).get("ready", True) is False or ref.get("kind") != "Pod":
                continue
            addresses = ep.get("addresses") or []
            if addresses and ref.get("name"):
                found.setdefault(ref["name"], Backend(ref["name"], addresses[0]))
    return sorted(found.values(), key=lambda b: b.pod)


def replica_set_of(pod: Obj) -> str:
    """The name of the ReplicaSet that controls the pod ('' when none does)."""
    owners = pod.get("metadata", {}).get("ownerReferences") or []
    return next((o.get("name", "") for o in owners if o.get("controller") and o.get("kind") == "ReplicaSet"), "")


@dataclass(frozen=True)
class Replaced:
    service: str
    namespace: str
    dns: str
    cluster_ip_before: str
    cluster_ip_after: str
    before: list[Backend]
    after: list[Backend]
    deleted: Backend
    replica_set: str
    replacement: Backend
    seconds: float
    answered: str  # what asking the Service for the replacement showed ('' when it was not asked)


def _service(kube: Cluster, namespace: str, name: str) -> Obj:
    svc = kube.get("services", name, namespace)
    if svc is None:
        raise Refused(
            f"Service {name} is not in namespace {namespace}, so there is nothing to watch. "
            "Fix: run your manifest cell (it applies the Service), then this cell again."
        )
    return svc


def replace_one_pod(
    kube: Cluster,
    namespace: str,
    service: str,
    *,
    timeout_s: float = REPLACE_TIMEOUT_S,
    probe: Vantage | None = None,
    answer_deadline_s: float = ANSWER_DEADLINE_S,
) -> Replaced:
    """Delete one pod behind the Service (one a ReplicaSet owns) and wait until the Service's EndpointSlices hold
    a ready replacement with a new IP; with probe, then ask the Service's /hostname until the replacement answers."""
    svc = _service(kube, namespace, service)
    spec = svc.get("spec") or {}
    selector = spec.get("selector") or {}
    if spec.get("type") == "ExternalName":
        raise Refused(
            f"Service {service} is an ExternalName alias: no pod is behind it to replace. "
            'Fix: run this on a Service that selects pods, e.g. replace_a_pod("clusterip").'
        )
    if not selector:
        raise Refused(
            f"Service {service} has no selector, so no pod is behind it to replace. "
            "Fix: give it the selector the task asks for, run your manifest cell again, then this cell."
        )
    cluster_ip = spec.get("clusterIP") or ""
    if cluster_ip in NO_CLUSTER_IP:
        raise Refused(
            f"Service {service} is headless (clusterIP: None): it has no stable address to watch. "
            "Fix: leave clusterIP out of your manifest, run it again, then this cell."
        )
    before = backends(kube, namespace, service)
    if not before:
        raise Refused(
            f"Service {service} has no ready endpoint, so there is no pod behind it to replace. "
            "Fix: make check() pass first; its hints say why no pod is selected."
        )
    behind = {b.pod for b in before}
    pods = kube.list("pods", namespace, selector=",".join(f"{k}={v}" for k, v in sorted(selector.items())))
    owned = sorted(
        (p for p in pods if p["metadata"]["name"] in behind and replica_set_of(p)),
        key=lambda p: p["metadata"]["name"],
    )
    owned = [p for p in owned if not p["metadata"].get("deletionTimestamp")]
    if not owned:
        raise Refused(
            f"no pod behind Service {service} is owned by a ReplicaSet (a Deployment's pods are), so a deleted "
            "one would not come back; nothing was deleted. Fix: run the explore cell, which applies the lab's "
            "Deployment, then this cell again."
        )
    victim = next(b for b in before if b.pod == owned[0]["metadata"]["name"])
    replica_set = replica_set_of(owned[0])
    old_ips = {b.ip for b in before}
    started = time.monotonic()
    kube.delete("pod", victim.pod, namespace)

    def replaced() -> tuple[tuple[list[Backend], Backend] | None, str]:
        now = backends(kube, namespace, service)
        new = [b for b in now if b.pod not in behind and b.ip not in old_ips]
        still = any(b.pod == victim.pod for b in now)
        state = f"{len(now)} ready endpoint(s): {', '.join(f'{b.pod} {b.ip}' for b in now) or 'none'}" + (
            "; the deleted pod still listed as ready" if still else ""
        )
        return ((now, new[0]) if new and not still else None), state

    try:
        after, replacement = wait_for(
            replaced,
            what=f"a ready replacement for pod {victim.pod} behind Service {service}",
            timeout_s=timeout_s,
            interval_s=0.2,
            max_interval_s=1.0,
        )
    except WaitTimeout as err:
        raise EnvError(
            f"{err}. `kubectl -n {namespace} get pods -o wide` and `kubectl -n {namespace} describe pod` "
            "show why the new pod is not ready"
        ) from err
    seconds = time.monotonic() - started
    cluster_ip_after = (_service(kube, namespace, service).get("spec") or {}).get("clusterIP") or ""
    dns = f"{service}.{namespace}.svc.cluster.local"
    answered = ""
    if probe is not None:
        port = ((spec.get("ports") or [{}])[0]).get("port", 80)
        url = f"http://{dns}{'' if port == 80 else f':{port}'}/hostname"
        asked = probe.collect_hostnames(url, {replacement.pod}, deadline_s=answer_deadline_s)
        seen = ", ".join(sorted(asked.seen)) or "none"
        answered = (
            f"Asked through the Service ({asked.url}) from the grader's probe pod: the replacement "
            f"{replacement.pod} answered; pods that answered in {asked.requests} requests: {seen}."
            if not asked.missing
            else f"Asked through the Service ({asked.url}) from the grader's probe pod: the replacement "
            f"{replacement.pod} had not answered after {asked.requests} requests (pods that answered: {seen})."
        )
    return Replaced(
        service,
        namespace,
        dns,
        cluster_ip,
        cluster_ip_after,
        before,
        after,
        victim,
        replica_set,
        replacement,
        seconds,
        answered,
    )


def _same(before: str, after: str) -> str:
    return f"{after} (unchanged)" if after == before else f"{after} (changed: was {before})"


def _listed(found: list[Backend], new: Backend | None = None) -> str:
    return ", ".join(f"{b.pod} {b.ip}" + (" (new)" if b == new else "") for b in found) or "none"


def replaced_view(r: Replaced) -> tuple[str, str]:
    """The before/after of a replacement as (markdown, plain text)."""
    head = ("", "before", "after")
    rows: list[tuple[str, ...]] = [
        ("ClusterIP", r.cluster_ip_before, _same(r.cluster_ip_before, r.cluster_ip_after)),
        ("DNS name", r.dns, _same(r.dns, r.dns)),
        ("replaced pod", f"{r.deleted.pod} {r.deleted.ip}", f"{r.replacement.pod} {r.replacement.ip}"),
        ("ready endpoints (pod IP)", _listed(r.before), _listed(r.after, r.replacement)),
    ]
    said = (
        f"Deleted pod {r.deleted.pod} ({r.deleted.ip}); ReplicaSet {r.replica_set} made {r.replacement.pod} "
        f"({r.replacement.ip}), a ready endpoint of Service {r.service} {r.seconds:.1f} s later."
    )
    lines = [said, *([r.answered] if r.answered else [])]
    markdown = "\n".join([f"**Service {r.service} in {r.namespace}**", "", *markdown_table(head, rows), "", *lines])
    width = max(len(row[0]) for row in rows)
    text = "\n".join(
        [
            *(f"{name:<{width}}  before: {b}\n{'':<{width}}  after:  {a}" for name, b, a in rows),
            "",
            *lines,
        ]
    )
    return markdown, text


@dataclass(frozen=True)
class Outbound:
    pod: str
    pod_ip: str
    node: str
    node_ip: str
    seen: str  # the source address the partner reported (without the port)
    url: str

    @property
    def verdict(self) -> str:
        if self.seen == self.node_ip:
            return (
                f"The partner saw {self.seen}, the InternalIP of node {self.node}, not the pod's {self.pod_ip}: "
                "the node rewrote the source address (SNAT) as the request left the pod network."
            )
        if self.seen == self.pod_ip:
            return f"The partner saw the pod's own address {self.pod_ip}: nothing rewrote it on the way."
        return (
            f"The partner saw {self.seen}: neither the pod's address ({self.pod_ip}) nor its node's "
            f"({self.node_ip or 'unknown'}); something on the way rewrote it."
        )


def _caller_address(body: str) -> str:
    """The address of the partner's "address:port" answer ("[v6]:port" for IPv6)."""
    address = body.strip().rsplit(":", 1)[0] if ":" in body.strip() else body.strip()
    return address.removeprefix("[").removesuffix("]")


def _running(pod: Obj) -> bool:
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return (
        ready
        and status.get("phase") == "Running"
        and bool(status.get("podIP"))
        and not (pod.get("spec") or {}).get("hostNetwork")
        and not pod["metadata"].get("deletionTimestamp")
    )


def outbound_source(
    kube: Cluster,
    namespace: str,
    vantage: Callable[[str], Vantage],
    *,
    url: str = CLIENTIP_URL,
    deadline_s: float = PARTNER_DEADLINE_S,
) -> Outbound:
    """From the first running pod of the namespace (by name), ask the partner which address called it; vantage
    makes the vantage point that runs the request in a pod of that name."""
    pods = sorted((p for p in kube.list("pods", namespace) if _running(p)), key=lambda p: p["metadata"]["name"])
    if not pods:
        raise Refused(
            f"no running pod in namespace {namespace} to call from. Fix: run the explore cell (it applies the "
            "lab's starter Deployment), then this cell again."
        )
    pod = pods[0]
    name, pod_ip, node = pod["metadata"]["name"], pod["status"]["podIP"], pod["spec"].get("nodeName", "")
    node_obj = kube.get("nodes", node) if node else None
    node_ip = internal_ip(node_obj) if node_obj else ""
    result = vantage(name).http_get(url, deadline_s=deadline_s, target=f"partner {url}")
    if result.status != 200 or not result.body.strip():
        raise EnvError(
            f"pod {namespace}/{name} got no answer from {url} ({result.observed}): the lab's walls let only "
            "a namespace made by the explore cell reach the partner, so run that cell first; if it still fails, "
            "the partner container is down"
        )
    return Outbound(name, pod_ip, node, node_ip, _caller_address(result.body), url)


def outbound_view(o: Outbound) -> tuple[str, str]:
    """What the partner saw, beside the pod's and the node's addresses, as (markdown, plain text)."""
    head = ("pod", "pod IP", "node", "node InternalIP", "source address the partner saw")
    row = (o.pod, o.pod_ip, o.node or "-", o.node_ip or "-", o.seen)
    markdown = "\n".join([f"**{o.url} asked from pod {o.pod}**", "", *markdown_table(head, [row]), "", o.verdict])
    text = "\n".join(f"{h}: {v}" for h, v in zip(head, row, strict=True)) + "\n\n" + o.verdict
    return markdown, text
