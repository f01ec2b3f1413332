"""`servicelab doctor`: every part the labs rely on, checked in the order they depend on each other,
each problem with the command that fixes it. Exit 0 only when all is well.

A part that cannot be checked because one it depends on is broken is reported as skipped, not as a
second problem: the first broken part is the one to fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from grader.base import images
from grader.base.errors import EnvError
from grader.base.names import HELPER_CONTAINERS, KIND_CLUSTER, TRAEFIK_CLASS, TRAEFIK_GATEWAY, TRAEFIK_NAMESPACE
from grader.base.run import RunError, ToolMissing
from grader.cluster import aks, docker, metallb, netpol, nodeports, podguard, traefik, vantage
from grader.cluster.kindcli import Kind
from grader.cluster.readiness import condition_true, rollout_ready
from grader.cluster.tools import find_kind
from grader.cluster.up import CLUSTER_DNS, node_has_image
from grader.kube.client import Kube, KubeError, KubeUnreachable

UP = "servicelab up"


@dataclass(frozen=True)
class Finding:
    part: str
    ok: bool | None  # None: skipped, a part it needs is broken
    detail: str
    fix: str = ""


@dataclass
class _Doctor:
    name: str
    findings: list[Finding]
    kind: Kind | None = None
    kube: Kube | None = None

    def note(self, part: str, ok: bool, detail: str, fix: str = "") -> bool:
        self.findings.append(Finding(part, ok, detail, "" if ok else fix))
        return ok

    def skip(self, *parts: str) -> None:
        self.findings += [Finding(p, None, "skipped: fix the problem above first") for p in parts]


CLUSTER_PARTS = (
    "nodes",
    "cluster DNS",
    "MetalLB",
    "MetalLB pools",
    "AKS annotation policies",
    "pod guard",
    "Traefik (Ingress)",
    "Traefik (Gateway API)",
    "NetworkPolicy",
    "lab images",
    "outside containers",
    "node ports",
)


def examine(name: str = KIND_CLUSTER) -> list[Finding]:
    doc = _Doctor(name, [])
    answers, detail = docker.engine_answers()
    if not doc.note("docker", answers, f"engine {detail}", docker.docker_fix()):
        doc.skip("kind", "cluster", *CLUSTER_PARTS)
        return doc.findings
    try:
        doc.kind = Kind(find_kind(allow_download=False), name)
        doc.note("kind", True, doc.kind.binary)
    except (EnvError, ToolMissing) as err:
        doc.note("kind", False, str(err), f"{UP} (it provides kind)")
        doc.skip("cluster", *CLUSTER_PARTS)
        return doc.findings
    if not doc.note("cluster", doc.kind.exists(), f"kind cluster '{name}'", UP):
        doc.skip(*CLUSTER_PARTS)
        return doc.findings
    doc.kube = Kube(context=doc.kind.context, request_timeout_s=10)
    try:
        version = doc.kube.server_version()
    except (KubeError, KubeUnreachable) as err:
        doc.note("API server", False, str(err).splitlines()[0][:200], f"{UP} (restarts stopped node containers)")
        doc.skip(*CLUSTER_PARTS)
        return doc.findings
    doc.note("API server", True, f"Kubernetes {version}")
    for part, check in _CLUSTER_CHECKS:
        try:
            check(doc)
        except (KubeError, KubeUnreachable, RunError) as err:
            doc.note(part, False, f"could not be read: {str(err).splitlines()[0][:200]}", UP)
    return doc.findings


def _nodes(doc: _Doctor) -> None:
    assert doc.kube is not None
    nodes = doc.kube.list("nodes")
    unready = [
        n["metadata"]["name"]
        for n in nodes
        if not any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
    ]
    doc.note(
        "nodes",
        bool(nodes) and not unready,
        f"{len(nodes)} nodes, not Ready: {', '.join(unready) or 'none'}",
        f"docker restart {' '.join(unready)}; then {UP}",
    )


def _rollouts(doc: _Doctor, part: str, targets: list[tuple[str, str, str]]) -> bool:
    assert doc.kube is not None
    states = [rollout_ready(doc.kube, ns, kind, name) for ns, kind, name in targets]
    bad = [state for ok, state in states if not ok]
    fixes = "; ".join(
        _fix(doc.kube, ns, kind, name) for (ns, kind, name), (ok, _) in zip(targets, states, strict=True) if not ok
    )
    return doc.note(part, not bad, "; ".join(bad) or "; ".join(s for _, s in states), fixes)


def _fix(kube: Kube, namespace: str, kind: str, name: str) -> str:
    """Scale up what was scaled to zero; restart what is stuck."""
    current = kube.get(kind, name, namespace) or {}
    if kind == "deployment" and current.get("spec", {}).get("replicas") == 0:
        return f"kubectl -n {namespace} scale deployment/{name} --replicas=1"
    return f"kubectl -n {namespace} rollout restart {kind}/{name}"


def _dns(doc: _Doctor) -> None:
    assert doc.kube is not None
    if _rollouts(doc, "cluster DNS", [CLUSTER_DNS]):
        namespace, kind, name = CLUSTER_DNS
        slices = doc.kube.list("endpointslices", namespace, selector="kubernetes.io/service-name=kube-dns")
        ready = sum(1 for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready"))
        doc.findings[-1] = Finding(
            "cluster DNS",
            ready > 0,
            f"kube-dns has {ready} ready endpoint(s)",
            "" if ready else f"kubectl -n {namespace} rollout restart {kind}/{name}",
        )


def _metallb(doc: _Doctor) -> None:
    assert doc.kube is not None
    _rollouts(doc, "MetalLB", [metallb.CONTROLLER, metallb.SPEAKERS])
    pools = {p["metadata"]["name"] for p in doc.kube.list(metallb.POOL_RESOURCE, metallb.NAMESPACE)}
    adverts = doc.kube.list(metallb.ADVERTISEMENT_RESOURCE, metallb.NAMESPACE)
    missing = sorted(set(metallb.POOLS) - pools)
    doc.note(
        "MetalLB pools",
        not missing and bool(adverts),
        f"pools {', '.join(sorted(pools)) or 'none'}; {len(adverts)} L2Advertisement(s)"
        + (f"; missing {', '.join(missing)}" if missing else ""),
        f"{UP} (re-applies the pools)",
    )


def _aks_policies(doc: _Doctor) -> None:
    assert doc.kube is not None
    ok, state = aks.translated(doc.kube)
    doc.note(
        "AKS annotation policies",
        bool(ok),
        "a dry-run annotated Service is translated" if ok else state,
        f"{UP} (re-applies fixtures/aks/annotations.yaml)",
    )


def _pod_guard(doc: _Doctor) -> None:
    assert doc.kube is not None
    doc.note("pod guard", *podguard.examine(doc.kube), f"{UP} (re-applies {podguard.FIXTURE})")


def _traefik(doc: _Doctor) -> None:
    assert doc.kube is not None
    if not _rollouts(doc, "Traefik (Ingress)", [traefik.ROLLOUT]):
        doc.skip("Traefik (Gateway API)")
        return
    classes = {c["metadata"]["name"] for c in doc.kube.list("ingressclasses")}
    doc.findings[-1] = Finding(
        "Traefik (Ingress)",
        TRAEFIK_CLASS in classes,
        f"IngressClasses: {', '.join(classes)}",
        "" if TRAEFIK_CLASS in classes else UP,
    )
    ok, state = condition_true(doc.kube, "gateway", TRAEFIK_GATEWAY, TRAEFIK_NAMESPACE, "Programmed")
    namespace, kind, name = traefik.ROLLOUT
    doc.note(
        "Traefik (Gateway API)",
        bool(ok),
        f"Gateway {TRAEFIK_NAMESPACE}/{TRAEFIK_GATEWAY}: {state}",
        f"kubectl -n {namespace} rollout restart {kind}/{name}",
    )


def _walls(doc: _Doctor) -> None:
    assert doc.kube is not None
    doc.note("NetworkPolicy", *netpol.examine(doc.kube, UP))


def _images(doc: _Doctor) -> None:
    assert doc.kind is not None
    missing = [
        f"{image} on {node}"
        for node in doc.kind.node_containers()
        for image in images.LAB_IMAGES
        if not node_has_image(node, image)
    ]
    doc.note(
        "lab images",
        not missing,
        f"missing: {', '.join(missing)}" if missing else "on every node",
        f"{UP} (loads them), or 'servicelab images load FILE' offline",
    )


def _containers(doc: _Doctor) -> None:
    problems = []
    for name in HELPER_CONTAINERS:
        state = docker.container_state(name)
        if not ((state or {}).get("State") or {}).get("Running"):
            problems.append(f"{name} not running")
        elif not vantage.current(name, state):
            problems.append(f"{name} made from an older spec")
    fix = f"{UP} (starts them; makes one from an older spec again)"
    doc.note("outside containers", not problems, "; ".join(problems) or ", ".join(HELPER_CONTAINERS), fix)


def _node_ports(doc: _Doctor) -> None:
    assert doc.kube is not None
    if any(f.part in ("Traefik (Ingress)", "outside containers") and not f.ok for f in doc.findings):
        doc.skip("node ports")  # the witness port needs both
        return
    doc.note("node ports", *nodeports.examine(doc.kube, UP))


_CLUSTER_CHECKS: list[tuple[str, Callable[[_Doctor], None]]] = [
    ("nodes", _nodes),
    ("cluster DNS", _dns),
    ("MetalLB", _metallb),
    ("AKS annotation policies", _aks_policies),
    ("pod guard", _pod_guard),
    ("Traefik (Ingress)", _traefik),
    ("NetworkPolicy", _walls),
    ("lab images", _images),
    ("outside containers", _containers),
    ("node ports", _node_ports),
]


def render(findings: list[Finding]) -> str:
    marks = {True: "ok  ", False: "FAIL", None: "skip"}
    lines = [f"{marks[f.ok]} {f.part}: {f.detail}" + (f"\n       fix: {f.fix}" if f.fix else "") for f in findings]
    bad = sum(1 for f in findings if f.ok is False)
    lines.append("All is well." if not bad else f"{bad} problem(s): fix the first one, then run 'servicelab doctor'")
    return "\n".join(lines)


def as_json(findings: list[Finding]) -> str:
    return json.dumps([f.__dict__ for f in findings], indent=1)
