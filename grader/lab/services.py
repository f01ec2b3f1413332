"""A learner's Service as checks see it (typed view of the API object)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.kube.client import Obj


@dataclass(frozen=True)
class ServicePort:
    port: int
    target_port: int | str
    protocol: str = "TCP"
    name: str = ""
    node_port: int | None = None


@dataclass
class Service:
    name: str
    namespace: str
    type: str
    cluster_ip: str | None
    ports: list[ServicePort] = field(default_factory=list)
    selector: dict[str, str] = field(default_factory=dict)
    external_name: str | None = None
    lb_ips: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    external_traffic_policy: str = "Cluster"
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_obj(cls, obj: Obj) -> Service:
        spec = obj.get("spec", {})
        meta = obj.get("metadata", {})
        ports = [
            ServicePort(
                port=int(p.get("port", 0)),
                target_port=p.get("targetPort", p.get("port", 0)),
                protocol=p.get("protocol", "TCP"),
                name=p.get("name", ""),
                node_port=p.get("nodePort"),
            )
            for p in spec.get("ports", []) or []
        ]
        ingress = obj.get("status", {}).get("loadBalancer", {}).get("ingress", []) or []
        cluster_ip = spec.get("clusterIP")
        return cls(
            name=meta.get("name", ""),
            namespace=meta.get("namespace", ""),
            type=spec.get("type", "ClusterIP"),
            cluster_ip=None if cluster_ip in (None, "", "None") else cluster_ip,
            ports=ports,
            selector=dict(spec.get("selector") or {}),
            external_name=spec.get("externalName"),
            lb_ips=[i["ip"] for i in ingress if i.get("ip")],
            annotations=dict(meta.get("annotations") or {}),
            external_traffic_policy=spec.get("externalTrafficPolicy", "Cluster"),
            raw=obj,
        )

    @property
    def dns(self) -> str:
        """Fully qualified DNS name (busybox nslookup needs it)."""
        return f"{self.name}.{self.namespace}.svc.cluster.local"

    @property
    def headless(self) -> bool:
        return bool(self.raw.get("spec", {}).get("clusterIP") == "None")

    @property
    def source_ranges(self) -> list[str]:
        """The networks spec.loadBalancerSourceRanges lets reach the load-balancer address (empty: every source).
        kube-proxy enforces the field only: the older service.beta.kubernetes.io/load-balancer-source-ranges
        annotation is left to cloud providers (a kind cluster lets every source in with it)."""
        return [str(r).strip() for r in self.raw.get("spec", {}).get("loadBalancerSourceRanges") or []]

    def port(self, name: str | None = None) -> ServicePort:
        """The port called name, or the first port. KeyError names the ports there are."""
        if not self.ports:
            raise KeyError(f"Service {self.name} has no ports")
        if name is None:
            return self.ports[0]
        for p in self.ports:
            if p.name == name or str(p.port) == name:
                return p
        raise KeyError(f"Service {self.name} has no port {name!r}")

    def url(self, path: str = "/", *, host: str | None = None, port: int | None = None) -> str:
        """http://<host or ClusterIP>:<port><path>; the default port is the first one."""
        return f"http://{host or self.cluster_ip}:{port or self.port().port}{path}"

    def matrix_names(self, node_ips: dict[str, str]) -> list[tuple[str, str]]:
        """How the reachability matrix names this Service's addresses: (address, label) pairs."""
        names = [(self.cluster_ip, f"{self.name} ClusterIP")] if self.cluster_ip else []
        names += [(ip, f"{self.name} LB") for ip in self.lb_ips]
        names += [(self.dns, f"{self.name} DNS"), (f"{self.name}.{self.namespace}", f"{self.name} DNS")]
        for port in self.ports:
            if port.node_port:
                names += [(f"{ip}:{port.node_port}", f"{self.name} NodePort @{node}") for node, ip in node_ips.items()]
        return names

    @property
    def selector_text(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.selector.items()))


@dataclass(frozen=True)
class Endpoints:
    ready: int
    addresses: list[str]
    pod_names: list[str]  # the backends' pod names: what the starters' /hostname answers


def ready_endpoints(slices: list[Obj]) -> Endpoints:
    """The ready endpoints of a Service's EndpointSlices, each address once (dual slices repeat them)."""
    addresses: list[str] = []
    pods: list[str] = []
    for sl in slices:
        for ep in sl.get("endpoints", []) or []:
            if ep.get("conditions", {}).get("ready", True) is False:
                continue
            for addr in ep.get("addresses", []):
                if addr not in addresses:
                    addresses.append(addr)
                    ref = ep.get("targetRef") or {}
                    if ref.get("kind") == "Pod":
                        pods.append(ref.get("name", ""))
    return Endpoints(len(addresses), addresses, pods)
