"""What a lab case holds cluster-wide while it is graded, so two cases that would collide never run at once.

A namespace isolates almost everything a case applies. What it does not isolate, derived from the objects:

    nodeport:<n>      a Service's fixed spec.ports[].nodePort or spec.healthCheckNodePort (one per cluster)
    ip:<address>      a requested LoadBalancer address: spec.loadBalancerIP, spec.externalIPs, or the
                      annotations the lab cluster honours (AKS ipv4/ipv6, MetalLB loadBalancerIPs)
    http-host:<host>  a host on the shared Traefik entrypoint: Ingress rules (no host: "*"), an Ingress
                      defaultBackend ("*"), HTTPRoute/GRPCRoute hostnames and Gateway listener hostnames
                      (none: "*")

A lab can add what cannot be derived with `claims:` in lab.yaml. A LoadBalancer Service without a
requested address claims nothing: the pool's size is shared through the number of parallel jobs.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Iterable
from typing import Any

from grader.base.errors import BadInput
from grader.catalogue.cases import Case
from grader.catalogue.labs import Lab, lab_values
from grader.cluster.aks import AZURE_IPV4
from grader.cluster.facts import KNOWN_VARIABLES, ClusterFacts
from grader.cluster.metallb import IPS_ANNOTATION
from grader.intake.manifests import Doc, fill, load_rendered, manifest_files

WILDCARD = "*"
WILDCARD_KINDS = ("http-host",)
STATIC_IP_ANNOTATIONS = (
    AZURE_IPV4,
    "service.beta.kubernetes.io/azure-load-balancer-ipv6",
    IPS_ANNOTATION,
    "metallb.universe.tf/loadBalancerIPs",
)
_ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")
_HTTP_CARRIERS = (
    "ingresses.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
    "grpcroutes.gateway.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
)
_CARRIERS = {"nodeport": ("services",), "ip": ("services",), "http-host": _HTTP_CARRIERS}


def claims_of(docs: Iterable[Doc]) -> frozenset[str]:
    """Every cluster-wide claim of these documents (placeholders already substituted; starter included)."""
    found: set[str] = set()
    for doc in docs:
        if doc.kind == "Service":
            found |= _service_claims(doc.obj)
        elif doc.kind == "Ingress":
            found |= _ingress_claims(doc.obj)
        elif doc.kind in _ROUTE_KINDS:
            found |= {_host(h) for h in _list(_spec(doc.obj).get("hostnames"))} or {_host(None)}
        elif doc.kind == "Gateway":
            found |= {_host(_mapping(listener).get("hostname")) for listener in _list(_spec(doc.obj).get("listeners"))}
    return frozenset(found)


def case_claims(lab: Lab, case: Case, values: dict[str, str]) -> frozenset[str]:
    """What grading case holds: its documents with the lab's starter (placeholders filled with values, the lab's
    own values over them), plus the lab's declared `claims`."""
    files = [(f, str(f)) for f in [*lab.starter_files, *manifest_files(case.path)]]
    values = {**values, **lab_values(lab)}
    try:
        docs = load_rendered(files, values, {}, values.get("NAMESPACE", ""))
    except BadInput:
        docs = []  # the grading rejects these files before applying anything: they hold nothing
    return claims_of(docs) | frozenset(lab.claims)


def submission_claims(lab: Lab, docs: Iterable[Doc], values: dict[str, str]) -> frozenset[str]:
    """What grading these judged documents (starter and learner's, placeholders unfilled) holds, with the lab's
    declared `claims`."""
    values = {**values, **lab_values(lab)}
    return claims_of(fill(doc, values, {}) for doc in docs) | frozenset(lab.claims)


def placeholder_values(facts: ClusterFacts | None, namespace: str) -> dict[str, str]:
    """Placeholder values for claims: the cluster's where known, else the placeholder's own text (one address
    either way). namespace is unique per case, as the namespace it is graded in is."""
    values = {var: f"${{{var}}}" for var in KNOWN_VARIABLES}
    return {**values, **(facts.values_for(namespace) if facts else {}), "NAMESPACE": namespace}


def overlaps(a: str, b: str) -> bool:
    """Two claims collide: the same thing, or a wildcard value covering the other (`http-host:*.shop` ~ `a.shop`)."""
    kind_a, _, value_a = a.partition(":")
    kind_b, _, value_b = b.partition(":")
    if kind_a != kind_b:
        return False
    return value_a == value_b or fnmatch.fnmatchcase(value_a, value_b) or fnmatch.fnmatchcase(value_b, value_a)


def carriers(claims: Iterable[str]) -> tuple[str, ...] | None:
    """The resources whose objects carry these claims (they are released when those are gone); None when a
    claim's kind is not derived here (a lab.yaml claim): then only the whole namespace gone releases it."""
    kinds: list[str] = []
    for claim in claims:
        carried = _CARRIERS.get(claim.partition(":")[0])
        if carried is None:
            return None
        kinds += [k for k in carried if k not in kinds]
    return tuple(kinds)


def lease_key(claim: str) -> str:
    """What a claim locks across processes (grader.parallel.leases): the claim itself; for kinds whose values can be
    wildcards, a wildcard value (a hostless route: `*`, or `*.shop.example`) locks the kind's gate `http-host:*`
    instead, which leases.holding keeps apart from every exact host of that kind (two exact hosts collide only when
    they are the same host, so those lock their own keys: two students' hosts never wait on each other)."""
    kind, _, value = claim.partition(":")
    if kind in WILDCARD_KINDS and is_wildcard(value):
        return gate_key(kind)
    return claim


def gate_key(kind: str) -> str:
    """The one key every wildcard claim of kind locks (lease_key)."""
    return f"{kind}:{WILDCARD}"


def is_wildcard(value: str) -> bool:
    """A claim value that may cover others (fnmatch's special characters)."""
    return any(c in value for c in "*?[")


def _service_claims(obj: dict[str, Any]) -> set[str]:
    spec = _spec(obj)
    ports = [p.get("nodePort") for p in map(_mapping, _list(spec.get("ports")))]
    found = {f"nodeport:{_port(p)}" for p in [*ports, spec.get("healthCheckNodePort")] if p}
    addresses = [spec.get("loadBalancerIP"), *_list(spec.get("externalIPs"))]
    annotations = _mapping(_mapping(obj.get("metadata")).get("annotations"))
    for key in STATIC_IP_ANNOTATIONS:
        addresses += str(annotations.get(key) or "").split(",")  # MetalLB's take a comma-separated list
    found |= {f"ip:{_address(str(a))}" for a in addresses if a and str(a).strip()}
    return found


def _ingress_claims(obj: dict[str, Any]) -> set[str]:
    spec = _spec(obj)
    found = {_host(_mapping(rule).get("host")) for rule in _list(spec.get("rules"))}
    if spec.get("defaultBackend"):
        found.add(_host(None))  # serves every host no rule names
    return found


def _host(host: object) -> str:
    name = str(host).strip().lower().rstrip(".") if host else ""  # DNS names ignore case and the root's dot
    return f"http-host:{name or WILDCARD}"


def _address(text: str) -> str:
    """One spelling per address, whatever form it was written in: an IPv4 address written as IPv4-mapped IPv6
    (::ffff:a.b.c.d) or with zero-padded octets is the IPv4 address; IPv6 in its compressed lower-case form."""
    value = text.strip().strip("[]")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        octets = value.split(".")
        if len(octets) == 4 and all(o.isdigit() and len(o) <= 4 for o in octets) and all(int(o) < 256 for o in octets):
            return str(ipaddress.IPv4Address(".".join(str(int(o)) for o in octets)))  # 010.0.0.1 is 10.0.0.1
        return value  # an unsubstituted placeholder or a typo: still one exact claim
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _port(value: object) -> str:
    text = str(value).strip()
    return str(int(text)) if text.isdigit() else text  # 030007 and 30007 are one port


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return _mapping(obj.get("spec"))


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
