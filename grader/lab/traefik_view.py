"""What Traefik serves right now, read from its own API (the raw runtime configuration, which Traefik serves on
its pod's loopback only, read through the pod's portforward subresource): whether its running routers and
servers already hold a namespace's route objects as they are now. When they do, an L7 answer is final: no
settle time to wait out (docs/DESIGN.md, early verdicts).

Anything this module does not understand (another controller, a match on headers, a back end not ready yet)
answers "not known to be live", and the caller keeps its clocks: a miss costs seconds, never a verdict.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from grader.base.names import TRAEFIK_API_PORT, TRAEFIK_NAMESPACE, TRAEFIK_POD_LABELS
from grader.kube.client import Kube, KubeError, KubeUnreachable, Obj
from grader.lab import traefik_expect

READ_S = 5.0  # one read of the API; a miss costs a round's early verdict, never a verdict
_PODS = ",".join(f"{key}={value}" for key, value in TRAEFIK_POD_LABELS.items())
INGRESS_PROVIDER = "kubernetes"
GATEWAY_PROVIDER = "kubernetesgateway"
_MATCHER = re.compile(r'(\w+)\("([^"]*)"\)')


class Reader:
    """Traefik's API as one poll reads it, round after round: the serving pod is found once (again only after a
    read failed), and each round reads the configuration and what decides the namespace's routes."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._pod: str | None = None

    def configuration(self) -> Obj | None:
        """The runtime configuration (`/api/rawdata`), or None: no single ready Traefik pod, no API, no right."""
        try:
            if self._pod is None:
                pods = serving_pods(self.kube)
                if len(pods) != 1:  # during a rollout two configurations answer
                    return None
                self._pod = pods[0]
            answer = self.kube.pod_http_get(
                self._pod, TRAEFIK_NAMESPACE, TRAEFIK_API_PORT, "/api/rawdata", timeout=READ_S
            )
        except (KubeError, KubeUnreachable):
            self._pod = None
            return None
        if answer.status != 200:
            self._pod = None
            return None
        try:
            config = json.loads(answer.body)
        except ValueError:
            return None
        return config if isinstance(config, dict) else None

    def fingerprint(self, namespace: str, kind: str, routes: list[Obj]) -> str:
        """live_fingerprint of the configuration now for these route objects of the namespace ('' when there are
        none, or when the API or the namespace cannot be read: the clocks decide then)."""
        config = self.configuration() if routes else None
        if config is None:
            return ""
        try:
            kinds = ("services", "endpointslices", "deployments")
            read = Namespace(kind, routes, *(self.kube.list(k, namespace) for k in kinds))
        except (KubeError, KubeUnreachable):
            return ""
        return live_fingerprint(config, read)


@dataclass(frozen=True)
class Namespace:
    """One read of what decides a namespace's routes: its route objects (ingresses or httproutes), Services,
    EndpointSlices and Deployments."""

    kind: str
    routes: list[Obj]
    services: list[Obj]
    slices: list[Obj]
    deployments: list[Obj]


def live_fingerprint(config: Obj | None, ns: Namespace) -> str:
    """A fingerprint of Traefik's routers and servers for the namespace's route objects when they hold them as
    they are and every endpoint of their back ends, all ready, and no Deployment is still rolling out; '' when
    they do not, or when that cannot be known. Two equal fingerprints around a round of requests: those
    requests were answered by this configuration, and it has nothing left to take in."""
    if config is None or not ns.routes or not all(map(_rolled_out, ns.deployments)):
        return ""
    kind, routes, services, slices = ns.kind, ns.routes, ns.services, ns.slices
    try:
        held = [_held(config, kind, route, services, slices) for route in routes]
    except traefik_expect.Unknown:
        return ""
    if any(h is None for h in held):
        return ""
    return json.dumps(held, sort_keys=True)


def _held(config: Obj, kind: str, route: Obj, services: list[Obj], slices: list[Obj]) -> list[Obj] | None:
    """The running routers of one route object and their back ends' servers, when they are exactly the expected
    ones (no router at all, maybe); None when not."""
    provider = INGRESS_PROVIDER if kind == "ingresses" else GATEWAY_PROVIDER
    namespace = route["metadata"].get("namespace", "")
    expected = list(
        traefik_expect.ingress_routers(route) if kind == "ingresses" else traefik_expect.httproute_routers(route)
    )
    ports = {b: _service_port(b, namespace, kind, services) for want in expected for b in want.backends}
    if kind == "ingresses":  # Traefik makes no router for a path whose Service port does not exist
        expected = [want for want in expected if all(ports[b] for b in want.backends)]
    running = _running(config, provider, traefik_expect.router_prefix(kind, route))
    if len(running) != len(expected):
        return None
    unmatched = list(running)
    for want in expected:
        found = next((r for r in unmatched if _same(config, provider, r, want)), None)
        if found is None:
            return None
        unmatched.remove(found)
    held = list(running)
    for backend, port in sorted(ports.items()):
        loaded = (config.get("services") or {}).get(f"{backend}@{provider}")
        if port is None:  # an HTTPRoute's missing back end: Traefik answers 500 for it, with no service
            if loaded is not None:
                return None
            continue
        have = sorted(
            s.get("url", "").split("://")[-1] for s in ((loaded or {}).get("loadBalancer") or {}).get("servers") or []
        )
        if not have or have != _addresses(*port, slices):
            return None
        held.append({"service": backend, "servers": have})
    return held


def _running(config: Obj, provider: str, prefix: str) -> list[Obj]:
    return [
        {"name": name, **router}
        for name, router in sorted((config.get("routers") or {}).items())
        if name.endswith(f"@{provider}") and traefik_expect.normalize(name.rsplit("@", 1)[0]).startswith(prefix)
    ]


def _same(config: Obj, provider: str, router: Obj, want: traefik_expect.Router) -> bool:
    if router.get("status") != "enabled":
        return False
    if frozenset(_MATCHER.findall(str(router.get("rule", "")))) != want.matchers:
        return False
    if want.priority is not None and router.get("priority") != want.priority:
        return False
    if want.entry_points is not None and tuple(sorted(router.get("entryPoints") or [])) != want.entry_points:
        return False
    service = str(router.get("service", ""))
    if provider == INGRESS_PROVIDER:
        return frozenset({service}) == want.backends
    weighted = ((config.get("services") or {}).get(f"{service}@{provider}") or {}).get("weighted") or {}
    return frozenset(str(s.get("name")) for s in weighted.get("services") or []) == want.backends


def _service_port(backend: str, namespace: str, kind: str, services: list[Obj]) -> tuple[str, str] | None:
    """(Service, port name) behind Traefik's name for a back end; None when the Service has no such port."""
    for svc in services:
        name = svc["metadata"]["name"]
        for port in (svc.get("spec") or {}).get("ports") or []:
            refs = {str(port.get("port")), str(port.get("name", ""))} - {""}
            if any(backend == f"{namespace}-{name}-{'http-' if kind != 'ingresses' else ''}{ref}" for ref in refs):
                return name, str(port.get("name") or "")
    return None


def _addresses(service: str, port_name: str, slices: list[Obj]) -> list[str]:
    """ip:port of every endpoint of that Service port, when all of them are ready; [] otherwise."""
    found: list[str] = []
    for piece in slices:
        if (piece.get("metadata", {}).get("labels") or {}).get("kubernetes.io/service-name") != service:
            continue
        number = next((p.get("port") for p in piece.get("ports") or [] if (p.get("name") or "") == port_name), None)
        if number is None:
            return []
        for endpoint in piece.get("endpoints") or []:
            if not (endpoint.get("conditions") or {}).get("ready"):
                return []  # one still starting (or stopping): the configuration will change again
            found += [f"{address}:{number}" for address in endpoint.get("addresses") or []]
    return sorted(found)


def _rolled_out(deployment: Obj) -> bool:
    """Every pod of the current template ready, no other left: the endpoints will not change on their own."""
    meta, spec, status = deployment.get("metadata") or {}, deployment.get("spec") or {}, deployment.get("status") or {}
    want = spec.get("replicas", 1)
    counts = [status.get(k, 0) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")]
    return status.get("observedGeneration") == meta.get("generation") and counts == [want] * 4


def serving_pods(kube: Kube) -> list[str]:
    """The names of Traefik's ready pods (not being deleted)."""
    return [p["metadata"]["name"] for p in kube.list("pods", TRAEFIK_NAMESPACE, _PODS) if _serving(p)]


def _serving(pod: Obj) -> bool:
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
