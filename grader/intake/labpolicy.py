"""A lab's `policy:` in lab.yaml: the kinds its learners create, the node ports they may name, the Ingress
annotations it allows beyond the common ones, and what outside the namespace its pods may call. grader.intake.policy
judges submissions against it; grader.grading.walls builds the namespace's NetworkPolicies from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.base import images
from grader.base.errors import BadInput
from grader.base.names import PARTNER_HOST, PARTNER_PORT
from grader.intake.schema import ROOT_TYPES


@dataclass(frozen=True)
class ServiceRules:
    """`policy.services`: the Service types a learner may write (the lab's own and the mistakes worth grading
    by behaviour), how many Services and how many LoadBalancers: a shared cluster's addresses and node ports
    are the class's, not one answer's."""

    types: tuple[str, ...] = ("ClusterIP",)
    most: int = 2
    load_balancers: int = 0


@dataclass(frozen=True)
class LabPolicy:
    kinds: tuple[str, ...] = ("Service",)
    node_ports: tuple[int, int] | None = None  # inclusive range a learner may name; None: none
    ingress_annotations: frozenset[str] = field(default_factory=frozenset)
    images: tuple[str, ...] = images.LAB_IMAGES
    egress: tuple[str, ...] = ()  # names in EGRESS: what outside the namespace (and cluster DNS) its pods may call
    services: ServiceRules = field(default_factory=ServiceRules)


SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
POLICY_KEYS = {"kinds", "node_ports", "ingress_annotations", "egress", "services"}
# What a lab may let its pods call beyond its own namespace and cluster DNS (the walls, grader.grading.walls).
EGRESS = {"partner": f"the partner API server outside the cluster ({PARTNER_HOST}, TCP {PARTNER_PORT})"}


def policy_from_yaml(data: Any, file: str, line: int | None) -> LabPolicy:
    """lab.yaml's `policy:` mapping; absent means a Service-only lab without chosen node ports."""
    if data is None:
        return LabPolicy()
    rule = (
        "policy: {kinds: [Service, ...], node_ports: [low, high], ingress_annotations: [...], egress: [...], "
        "services: {types: [ClusterIP, ...], most: N, load_balancers: N}}"
    )
    if not isinstance(data, dict) or set(data) - POLICY_KEYS:
        raise BadInput("policy has unknown keys or is not a mapping", file=file, line=line, rule=rule)
    kinds = _names(data, "kinds", "Service", sorted({kind for _, kind in ROOT_TYPES}), (file, line, rule))
    ports = data.get("node_ports")
    if ports is not None and not (
        isinstance(ports, list)
        and len(ports) == 2
        and all(isinstance(p, int) and 30000 <= p <= 32767 for p in ports)
        and ports[0] <= ports[1]
    ):
        raise BadInput(
            f"policy.node_ports {ports!r} is not a range",
            file=file,
            line=line,
            rule=rule,
            fix="node_ports: [30000, 30099] (inside 30000-32767)",
        )
    annotations = data.get("ingress_annotations", [])
    if not isinstance(annotations, list) or not all(isinstance(a, str) for a in annotations):
        raise BadInput("policy.ingress_annotations is not a list of strings", file=file, line=line, rule=rule)
    egress = data.get("egress", [])
    if not isinstance(egress, list) or not all(isinstance(e, str) and e in EGRESS for e in egress):
        raise BadInput(
            f"policy.egress {egress!r} names something the walls do not know",
            file=file,
            line=line,
            rule=rule,
            fix="egress: " + "; ".join(f"{name} ({what})" for name, what in EGRESS.items()),
        )
    return LabPolicy(
        tuple(kinds),
        (ports[0], ports[1]) if ports else None,
        frozenset(annotations),
        egress=tuple(dict.fromkeys(egress)),
        services=_service_rules(data.get("services"), file, line),
    )


def _names(
    data: dict[str, Any],
    key: str,
    default: str,
    known: list[str],
    where: tuple[str, int | None, str],
    *,
    within: str = "",
) -> list[str]:
    """A non-empty list of names, each one of known (the default: [default])."""
    names = data.get(key, [default])
    if not isinstance(names, list) or not names or not all(n in known for n in names):
        file, line, rule = where
        raise BadInput(
            f"{within or 'policy.'}{key} {names!r} names an unknown one",
            file=file,
            line=line,
            rule=rule,
            fix=f"{key}: {', '.join(known)}",
        )
    return names


def _service_rules(data: Any, file: str, line: int | None) -> ServiceRules:
    if data is None:
        return ServiceRules()
    rule = "services: {types: [ClusterIP, NodePort, LoadBalancer, ExternalName], most: N, load_balancers: N}"
    if not isinstance(data, dict) or set(data) - {"types", "most", "load_balancers"}:
        raise BadInput("policy.services has unknown keys or is not a mapping", file=file, line=line, rule=rule)
    types = _names(data, "types", "ClusterIP", list(SERVICE_TYPES), (file, line, rule), within="policy.services.")
    counts = {key: data.get(key, default) for key, default in (("most", 2), ("load_balancers", 0))}
    for key, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 8:
            raise BadInput(
                f"policy.services.{key} {value!r} is not a count from 0 to 8", file=file, line=line, rule=rule
            )
    if counts["load_balancers"] and "LoadBalancer" not in types:
        raise BadInput(
            "policy.services.load_balancers is above 0 but LoadBalancer is not in types",
            file=file,
            line=line,
            rule=rule,
        )
    return ServiceRules(tuple(types), counts["most"], counts["load_balancers"])
