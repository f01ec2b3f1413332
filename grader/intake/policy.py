"""What a submission may ask of a shared cluster, judged on the documents before any cluster contact.

Each lab declares in lab.yaml (`policy:`) the kinds a learner creates and the node ports it may name;
everything else here holds for every lab: no object that reaches outside its namespace (externalIPs,
hand-written endpoints, host access from pods, cross-namespace routes), nothing that outlives the grading
(finalizers, owner references), nothing dressed as the grader's own, nothing that replaces the lab's
starter. A refusal names the file, the line, the rule and what to do instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from grader.base.errors import BadInput
from grader.intake.labpolicy import LabPolicy
from grader.intake.manifests import GRADER_PREFIXES, Doc, refusal
from grader.intake.podpolicy import judge_pod_spec
from grader.intake.schema import ROOT_TYPES, check_fields

INGRESS_ANNOTATIONS = frozenset(
    {
        # Not Traefik's router.entrypoints or router.priority: the one picks the shared Traefik's internal ports
        # (its API), the other lets a route outrank another tenant's for the same request.
        "kubernetes.io/ingress.class",
        "nginx.ingress.kubernetes.io/rewrite-target",
        "nginx.ingress.kubernetes.io/ssl-redirect",
    }
)
# Annotations read by the lab cluster's MetalLB and Traefik, not by AKS: an address from another pool, an address
# shared with another tenant's Service, Traefik's routing of a Service. Nothing a learner's answer needs.
CONTROLLER_PREFIXES = ("metallb.io/", "metallb.universe.tf/", "traefik.ingress.kubernetes.io/", "traefik.io/")
MAX_OBJECTS = 20
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_HAND_WRITTEN_ENDPOINTS = {"EndpointSlice", "Endpoints"}
GATEWAY_GROUP = "gateway.networking.k8s.io"


def judge(learner: list[Doc], starter: list[Doc], policy: LabPolicy, variables: set[str]) -> None:
    """BadInput at the first document that breaks a rule; nothing is sent anywhere."""
    if not learner:
        raise BadInput(
            "there is nothing to grade: no Kubernetes object in your manifests",
            rule="give at least one object",
            fix="write the objects the task asks for",
        )
    if len(learner) > MAX_OBJECTS:
        raise refusal(
            learner[MAX_OBJECTS],
            f"more than {MAX_OBJECTS} objects",
            f"a submission holds at most {MAX_OBJECTS} objects",
        )
    starter_refs = {d.ref: d for d in starter}
    seen: dict[str, Doc] = {}
    for doc in learner:
        _judge_kind(doc, policy)
        if doc.ref in starter_refs:
            raise refusal(
                doc,
                f"{doc.ref} is one of the lab's own starter objects",
                "your manifests add to the lab's starter, never replace it",
                f"give your {doc.kind} another name, or remove it",
            )
        if doc.ref in seen:
            raise refusal(
                doc,
                f"{doc.ref} is defined twice (also in {seen[doc.ref].file}:{seen[doc.ref].line})",
                "each object once",
                "remove one of them",
            )
        seen[doc.ref] = doc
        _judge_metadata(doc)
        _judge_placeholders(doc, variables)
        {
            "Service": _judge_service,
            "Ingress": _judge_ingress,
            "HTTPRoute": _judge_route,
            "Gateway": _judge_gateway,
            "Deployment": _judge_workload,
            "Pod": _judge_workload,
        }.get(doc.kind, _no_more)(doc, policy)
    _judge_service_counts(learner, policy)


def _judge_kind(doc: Doc, policy: LabPolicy) -> None:
    api = str(doc.obj.get("apiVersion"))
    allowed = ", ".join(policy.kinds)
    if doc.kind in _HAND_WRITTEN_ENDPOINTS:
        raise refusal(
            doc,
            f"{doc.kind} objects are not accepted",
            "endpoints are written by Kubernetes from a Service's selector: a hand-written one can "
            "point a Service at any address, inside the cluster or out",
            "give your Service a selector that matches the pods' labels",
        )
    if doc.kind not in policy.kinds:
        raise refusal(
            doc,
            f"{doc.kind} is not part of this lab's answer",
            f"this lab's answer is made of: {allowed}",
            f"remove the {doc.kind}",
        )
    root = ROOT_TYPES.get((api, doc.kind))
    if root is None:
        versions = sorted(a for a, k in ROOT_TYPES if k == doc.kind)
        raise refusal(
            doc,
            f"apiVersion {api} is not the one for {doc.kind}",
            "use the stable API version",
            f"apiVersion: {versions[0]}" if versions else None,
            at=("apiVersion",),
        )
    if doc.node is not None:
        check_fields(doc.obj, doc.node, doc.file, root)
    name = doc.name
    pattern = _DNS_LABEL if doc.kind == "Service" else _DNS_SUBDOMAIN
    if not pattern.match(name):
        raise refusal(
            doc,
            f"'{name}' is not a valid {doc.kind} name",
            "lowercase letters, digits and '-', starting with a letter (Services) and at most 63 long",
            at=("metadata", "name"),
        )


def _judge_metadata(doc: Doc) -> None:
    meta = doc.obj["metadata"]
    for key, why in (
        ("finalizers", "a finalizer keeps the object, and its namespace, alive after grading"),
        ("ownerReferences", "owner references hand the object's lifetime to another object"),
        ("generateName", "the grader finds your objects by the names the task gives"),
    ):
        if meta.get(key):
            raise refusal(doc, f"metadata.{key} is not accepted", why, f"remove metadata.{key}", at=("metadata", key))
    for section in ("labels", "annotations"):
        for key in meta.get(section) or {}:
            if str(key).startswith(GRADER_PREFIXES):
                raise refusal(
                    doc,
                    f"the {section[:-1]} '{key}' belongs to the grader",
                    f"keys under {', '.join(GRADER_PREFIXES)} are the grader's own",
                    "remove it",
                    at=("metadata", section, str(key)),
                )


def _judge_placeholders(doc: Doc, variables: set[str]) -> None:
    for text in _strings(doc.obj):
        for var in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text):
            if var not in variables:
                raise refusal(
                    doc, f"unknown placeholder ${{{var}}}", f"this lab's placeholders: {', '.join(sorted(variables))}"
                )


def _service_type(doc: Doc) -> str:
    return str((doc.obj.get("spec") or {}).get("type") or "ClusterIP")


def _judge_service_counts(learner: list[Doc], policy: LabPolicy) -> None:
    rules = policy.services
    services = [d for d in learner if d.kind == "Service"]
    if len(services) > rules.most:
        raise refusal(
            services[rules.most],
            f"more than {rules.most} Service(s)",
            f"this lab's answer needs at most {rules.most} Service(s): the cluster is shared by the class",
            "remove the Services the task does not ask for",
        )
    balancers = [d for d in services if _service_type(d) == "LoadBalancer"]
    if len(balancers) > rules.load_balancers:
        allowed = f"at most {rules.load_balancers}" if rules.load_balancers else "no"
        raise refusal(
            balancers[rules.load_balancers],
            f"more than {rules.load_balancers} LoadBalancer Service(s)",
            f"this lab takes {allowed} load balancer address(es) from the class's shared pool",
            "keep the one Service the task asks for" if rules.load_balancers else "use the type the task asks for",
            at=("spec", "type"),
        )


def _judge_service(doc: Doc, policy: LabPolicy) -> None:
    spec = doc.obj.get("spec") or {}
    kind = _service_type(doc)
    if kind not in policy.services.types:
        raise refusal(
            doc,
            f"type: {kind} is not part of this lab",
            f"this lab's Services are {', '.join(policy.services.types)}",
            "use the type the task asks for",
            at=("spec", "type"),
        )
    for key in doc.obj["metadata"].get("annotations") or {}:
        if str(key).startswith(CONTROLLER_PREFIXES):
            raise refusal(
                doc,
                f"the annotation '{key}' is not accepted",
                "it talks to the lab cluster's own load balancer or proxy, which the class shares; an AKS answer "
                "uses the service.beta.kubernetes.io/azure-* annotations, which work here unchanged",
                "remove it",
                at=("metadata", "annotations", str(key)),
            )
    if spec.get("externalIPs"):
        raise refusal(
            doc,
            "spec.externalIPs is not accepted",
            "externalIPs lets a Service capture traffic for any address (CVE-2020-8554)",
            "use type: LoadBalancer; the load balancer gives the address",
            at=("spec", "externalIPs"),
        )
    cluster_ip = spec.get("clusterIP")
    if cluster_ip not in (None, "", "None"):
        raise refusal(
            doc,
            f"spec.clusterIP: {cluster_ip} is not accepted",
            "Kubernetes assigns the ClusterIP; only 'None' (headless) may be written",
            "remove spec.clusterIP",
            at=("spec", "clusterIP"),
        )
    ports = [p.get("nodePort") for p in spec.get("ports") or [] if isinstance(p, dict)]
    for port in [*ports, spec.get("healthCheckNodePort")]:
        if port is None:
            continue
        low, high = policy.node_ports or (0, -1)
        if not low <= port <= high:
            allowed = (
                f"this lab allows node ports {low}-{high}"
                if policy.node_ports
                else "this lab lets Kubernetes pick node ports"
            )
            raise refusal(
                doc,
                f"node port {port} is not accepted",
                f"node ports are shared by the whole cluster: {allowed}",
                "remove the nodePort line" if not policy.node_ports else f"pick a port from {low}-{high}",
                at=("spec", "ports"),
            )


def _judge_ingress(doc: Doc, policy: LabPolicy) -> None:
    allowed = INGRESS_ANNOTATIONS | policy.ingress_annotations
    for key in doc.obj["metadata"].get("annotations") or {}:
        if key not in allowed:
            raise refusal(
                doc,
                f"the Ingress annotation '{key}' is not accepted",
                f"Ingress annotations configure the shared Traefik; allowed: {', '.join(sorted(allowed))}",
                "remove it: the lab needs only rules",
                at=("metadata", "annotations", str(key)),
            )
    for at, backend in _ingress_backends(doc.obj.get("spec") or {}):
        if isinstance(backend, dict) and backend.get("resource"):
            raise refusal(
                doc,
                "an Ingress backend that is a resource, not a Service, is not accepted",
                "a resource backend hands traffic to an object of the controller's (any kind, chosen by the learner)",
                "name a Service in backend.service",
                at=("spec", at),
            )


def _ingress_backends(spec: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(the spec field it is under, backend) for the default backend and every path's."""
    yield "defaultBackend", spec.get("defaultBackend")
    for rule in spec.get("rules") or []:
        for path in ((rule.get("http") or {}).get("paths") or []) if isinstance(rule, dict) else []:
            yield "rules", path.get("backend") if isinstance(path, dict) else None


# Route filters that act on the request inside this route; RequestMirror is judged by its backendRef, and
# ExtensionRef (a controller's own object) or any newer filter is refused until a lab needs it.
ROUTE_FILTERS = frozenset({"RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite"})


def _judge_route(doc: Doc, policy: LabPolicy) -> None:
    spec = doc.obj.get("spec") or {}
    for parent in spec.get("parentRefs") or []:
        if not isinstance(parent, dict):
            continue
        if parent.get("kind", "Gateway") != "Gateway" or parent.get("group", GATEWAY_GROUP) != GATEWAY_GROUP:
            raise refusal(
                doc,
                f"parentRef {parent.get('name')} is a {parent.get('kind')}, not a Gateway",
                "a route attaches to a Gateway; attached to a Service it would steer other clients' traffic",
                "remove parentRefs[].kind and group",
                at=("spec", "parentRefs"),
            )
        if parent.get("namespace"):
            raise refusal(
                doc,
                f"parentRef {parent.get('name')} names namespace {parent.get('namespace')}",
                "a route attaches to a Gateway of its own namespace: you write the Gateway too, as on AKS with "
                "app routing; a Gateway elsewhere belongs to another team",
                "remove parentRefs[].namespace and name your own Gateway",
                at=("spec", "parentRefs"),
            )
    for rule in spec.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        _judge_filters(doc, rule.get("filters"))
        for backend in rule.get("backendRefs") or []:
            if not isinstance(backend, dict):
                continue
            _judge_backend_ref(doc, backend)
            _judge_filters(doc, backend.get("filters"))


def _judge_gateway(doc: Doc, policy: LabPolicy) -> None:
    spec = doc.obj.get("spec") or {}
    for field, why in (
        (
            "addresses",
            "every Gateway here gets the address its implementation gives it; one asked for by hand "
            "could be another tenant's",
        ),
        (
            "infrastructure",
            "it labels and configures the proxy the implementation runs for the Gateway, which the platform owns",
        ),
    ):
        if spec.get(field):
            raise refusal(doc, f"spec.{field} is not accepted", why, f"remove spec.{field}", at=("spec", field))
    for listener in spec.get("listeners") or []:
        if not isinstance(listener, dict):
            continue
        name = listener.get("name")
        namespaces = (
            ((listener.get("allowedRoutes") or {}).get("namespaces") or {})
            if isinstance(listener.get("allowedRoutes"), dict)
            else {}
        )
        source = namespaces.get("from", "Same") if isinstance(namespaces, dict) else "Same"
        if source != "Same":
            raise refusal(
                doc,
                f"listener {name} takes routes from {source} namespaces",
                "a Gateway takes routes from its own namespace: from All or Selector would let other tenants' "
                "routes onto your address",
                "remove allowedRoutes.namespaces (Same is the default) or set from: Same",
                at=("spec", "listeners"),
            )
        tls = listener.get("tls") if isinstance(listener.get("tls"), dict) else {}
        for ref in (tls or {}).get("certificateRefs") or []:
            if isinstance(ref, dict) and (
                ref.get("namespace") or ref.get("kind", "Secret") != "Secret" or ref.get("group", "")
            ):
                raise refusal(
                    doc,
                    f"listener {name} takes its certificate from {ref.get('namespace') or ref.get('kind')}",
                    "a listener's certificate is a Secret of the Gateway's own namespace",
                    "remove certificateRefs[].namespace, kind and group",
                    at=("spec", "listeners"),
                )


def _judge_backend_ref(doc: Doc, backend: dict[str, Any]) -> None:
    if backend.get("namespace") or backend.get("kind", "Service") != "Service" or backend.get("group", ""):
        raise refusal(
            doc,
            f"backendRef {backend.get('name')} leaves this namespace or is not a Service",
            "a route sends traffic to Services in its own namespace",
            "remove backendRefs[].namespace, kind and group",
            at=("spec", "rules"),
        )


def _judge_filters(doc: Doc, filters: Any) -> None:
    for item in filters or []:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("type"))
        if kind == "RequestMirror":
            mirror = item.get("requestMirror") or {}
            _judge_backend_ref(doc, mirror.get("backendRef") or {} if isinstance(mirror, dict) else {})
        elif kind not in ROUTE_FILTERS:
            raise refusal(
                doc,
                f"the route filter {kind} is not accepted",
                f"filters here act on the request inside the route: {', '.join(sorted(ROUTE_FILTERS))}, "
                "and RequestMirror to a Service of this namespace",
                "remove the filter",
                at=("spec", "rules"),
            )


def _judge_workload(doc: Doc, policy: LabPolicy) -> None:
    judge_pod_spec(doc, policy.images)


def _no_more(doc: Doc, policy: LabPolicy) -> None:
    return None  # ConfigMap: the schema and metadata rules are all it needs


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
