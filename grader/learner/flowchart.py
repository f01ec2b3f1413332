"""The live traffic diagram of a learner's Service, drawn from the cluster as a mermaid flowchart.

Paths as the packets take them: kube-proxy DNATs a ClusterIP, node port or load-balancer address straight to a
pod (no ClusterIP hop in between); behind a load balancer the node receives the packet still addressed to the LB
IP (floating IP on AKS, MetalLB on kind) and the node port is what the health probe checks; with
externalTrafficPolicy Local a node sends only to its own ready pods. Traefik sends to the pods' addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grader.cluster.readiness import internal_ip
from grader.kube.client import Kube

Obj = dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    pod: str
    address: str
    node: str
    ready: bool


def _label(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def _node_ips(nodes: list[Obj]) -> dict[str, str]:
    return {n["metadata"]["name"]: internal_ip(n) or "?" for n in nodes}


def endpoints(slices: list[Obj]) -> list[Endpoint]:
    return [
        Endpoint(
            e.get("targetRef", {}).get("name", "?"),
            a,
            e.get("nodeName", "?"),
            e.get("conditions", {}).get("ready") is not False,
        )
        for s in slices
        for e in s.get("endpoints") or []
        for a in e.get("addresses", [])
    ]


def _target_port(port: Obj, slices: list[Obj]) -> str:
    """The pod port a Service port lands on, numeric as the EndpointSlice resolved it (a name otherwise)."""
    for s in slices:
        for p in s.get("ports") or []:
            if (p.get("name") or "") == (port.get("name") or ""):
                return str(p.get("port"))
    return str(port.get("targetPort", port.get("port")))


def service_chart(
    svc: Obj, slices: list[Obj], nodes: list[Obj], *, via_traefik: bool = False, key: str = "s"
) -> list[str]:
    """Mermaid lines (no header) for one Service: entry, nodes, pods; node ids are prefixed with `key`."""
    name, ns = svc["metadata"]["name"], svc["metadata"].get("namespace", "default")
    spec, status = svc.get("spec", {}), svc.get("status", {})
    if spec.get("type") == "ExternalName":
        return [
            f"  {key}c[{_label('client pod')}] -->|DNS| {key}d[{_label(f'{name}.{ns}.svc.cluster.local')}]",
            f"  {key}d -->|CNAME| {key}x[{_label(str(spec.get('externalName')))}]",
            f"  {key}c -.->|connects itself, no proxying| {key}x",
        ]
    eps, ips = endpoints(slices), _node_ips(nodes)
    ports = spec.get("ports") or [{"port": "?"}]
    port, target = ports[0], _target_port(ports[0], slices)
    lines: list[str] = []
    for i, ep in enumerate(eps):
        state = "ready" if ep.ready else "NOT ready: no traffic"
        lines.append(f"  {key}p{i}[{_label(f'pod {ep.pod} {ep.address}:{target} on {ep.node}, {state}')}]")
    if not eps:
        lines.append(f"  {key}none[{_label('no endpoints: the selector matches no pod')}]")
    ready = [i for i, ep in enumerate(eps) if ep.ready]
    cluster_ip = spec.get("clusterIP")
    if via_traefik:
        lines.append(f"  t[{_label('Traefik pod')}]")
        lines += [f"  t -->|{_label(f'Service {name}: to the pod address')}| {key}p{i}" for i in ready]
        return lines
    if cluster_ip in (None, "None"):
        records = _label(f"{name}.{ns}: A record per ready pod")
        lines.append(f"  {key}c[{_label('client pod')}] -->|DNS| {key}d[{records}]")
        lines += [f"  {key}d -.->|{ep.address}| {key}p{i}" for i, ep in enumerate(eps) if ep.ready]
        lines += [f"  {key}c -->|straight to the pod IP :{target}| {key}p{i}" for i in ready]
        return lines
    lb = [i.get("ip") or i.get("hostname") for i in status.get("loadBalancer", {}).get("ingress", [])]
    node_port = port.get("nodePort")
    local = spec.get("externalTrafficPolicy") == "Local"
    front = _label(f"ClusterIP {cluster_ip}:{port['port']}")
    lines.append(
        f"  {key}c[{_label('client pod in the cluster')}] -->|{front}| "
        f"{key}k[{_label('kube-proxy rules on the client pod node: DNAT to one pod')}]"
    )
    lines += [f"  {key}k --> {key}p{i}" for i in ready]
    if not node_port:
        return lines
    outside = "internet client" if lb else "client on the nodes' network"
    lines.append(f"  {key}o[{_label(outside)}]")
    if lb:
        addresses = ", ".join(a for a in lb if a)
        lines.append(f"  {key}lb[{_label('load balancer ' + addresses + ':' + str(port['port']))}]")
        lines.append(f"  {key}o --> {key}lb")
    for n, (node, ip) in enumerate(sorted(ips.items())):
        nid = f"{key}n{n}"
        lines.append(f"  {nid}[{_label(f'node {node} {ip}')}]")
        if lb:
            to_lb = _label(f"still to {lb[0]}:{port['port']} (floating IP)")
            lines.append(f"  {key}lb -->|{to_lb}| {nid}")
            probe = spec.get("healthCheckNodePort") if local else node_port
            lines.append(f"  {key}lb -.->|{_label(f'health probe :{probe}')}| {nid}")
        else:
            lines.append(f"  {key}o -->|{_label(f'{ip}:{node_port}')}| {nid}")
        mine = [i for i in ready if eps[i].node == node] if local else ready
        lines += [f"  {nid} -->|DNAT| {key}p{i}" for i in mine]
        if local and not mine:
            lines.append(f"  {nid} -.-x|{_label('no local ready pod: drops, probe fails')}| {nid}")
    return lines


def pod_network_chart(nodes: list[Obj], pods: list[Obj]) -> list[str]:
    """Mermaid lines: each node with its pod range and the pods it runs; nodes route pod ranges to each other."""
    lines = []
    for n, node in enumerate(sorted(nodes, key=lambda x: x["metadata"]["name"])):
        name, ip = node["metadata"]["name"], _node_ips([node])[node["metadata"]["name"]]
        cidr = node.get("spec", {}).get("podCIDR", "?")
        lines.append(f"  subgraph n{n}[{_label(f'node {name} {ip}, pod range {cidr}')}]")
        for i, pod in enumerate(pods):
            if pod.get("spec", {}).get("nodeName") == name:
                label = _label(f"pod {pod['metadata']['name']} {pod.get('status', {}).get('podIP', '?')}")
                lines.append(f"    n{n}p{i}[{label}]")
        lines.append("  end")
    lines += [f"  n{a} <-->|{_label('route to the other pod range')}| n{a + 1}" for a in range(len(nodes) - 1)]
    return lines


def chart(kube: Kube, namespace: str, names: list[str], *, via_traefik: bool = False) -> str:
    """The mermaid source of the live flow to Services `names` in `namespace`."""
    nodes = kube.list("nodes")
    lines = ["flowchart LR"]
    if via_traefik:
        traefik = [
            s
            for s in kube.list("services", all_namespaces=True, selector="app.kubernetes.io/name=traefik")
            if s.get("spec", {}).get("type") == "LoadBalancer"
        ]
        lb = [i.get("ip") for s in traefik for i in s.get("status", {}).get("loadBalancer", {}).get("ingress", [])]
        entry = _label(f"{', '.join(a for a in lb if a) or 'Traefik LB'}:80")
        lines.append(f"  o[{_label('client, Host: shop.example')}] -->|{entry}| t[{_label('Traefik pod')}]")
    if not names:
        return "\n".join([*lines, *pod_network_chart(nodes, kube.list("pods", namespace))])
    for n, name in enumerate(names):
        svc = kube.get("services", name, namespace)
        if svc is None:
            lines.append(f"  m{n}[{_label(f'Service {name}: not there yet')}]")
            continue
        slices = kube.list("endpointslices", namespace, selector=f"kubernetes.io/service-name={name}")
        lines += service_chart(svc, slices, nodes, via_traefik=via_traefik, key=f"s{n}")
    return "\n".join(lines)
