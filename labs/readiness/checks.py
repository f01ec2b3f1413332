"""Readiness lab: the Service routes only to Ready pods, and the learner's pods earn Ready with a probe."""

from __future__ import annotations

from typing import Any

import pytest

from grader.lab import LabContext, matches, port_mismatch, remember_route, route_known_broken


def _containers(lab: LabContext) -> list[dict[str, Any]]:
    deploy = lab.require("deployment", "web", "There is no Deployment 'web': create it with three replicas.")
    return list(deploy["spec"]["template"]["spec"].get("containers", []))


@pytest.mark.check(points=3, title="web answers on its ClusterIP from all 3 ready pods of Deployment web")
def test_ready_pods_answer(lab: LabContext) -> None:
    _containers(lab)
    svc = lab.service("web")
    eps = lab.wait_ready_endpoints(
        svc,
        count=3,
        timeout_s=90,
        hint=(
            "Service web should have the three pods of Deployment web as ready endpoints; pods that never turn "
            "Ready have a readinessProbe that fails (wrong port or path?)."
        ),
    )
    ports = [p.port for p in svc.ports]
    lab.expect(80 in ports, f"Service web listens on {ports}, but clients use port 80.")
    seen = lab.probe.collect_hostnames(svc.url("/hostname", port=80), eps.pod_names)
    remember_route(lab, svc, works=bool(seen.seen))
    if not seen.ok:
        pods = [p for p in lab.objects("pods") if matches(svc.selector, p["metadata"].get("labels") or {})]
        seen.must_cover(
            f"Not every ready pod answered on {svc.cluster_ip}:80. "
            + (port_mismatch(svc, pods) or "Check targetPort against the container port.")
        )


@pytest.mark.check(points=2, title="the unready web-warming pod receives no traffic")
def test_unready_pod_gets_no_traffic(lab: LabContext) -> None:
    svc = lab.service("web")
    warming = {
        p["metadata"]["name"]: p["status"].get("podIP") for p in lab.objects("pods", selector="app=web,track=warming")
    }
    hint = "The web-warming pod is not Ready, yet Service web sends it traffic" + (
        ": publishNotReadyAddresses: true publishes pods before they are ready; remove it."
        if svc.raw.get("spec", {}).get("publishNotReadyAddresses")
        else "."
    )
    slices = lab.objects("endpointslices", selector="kubernetes.io/service-name=web")
    ready = [e for s in slices for e in s.get("endpoints") or [] if e.get("conditions", {}).get("ready")]
    if any(set(endpoint.get("addresses", [])) & set(warming.values()) for endpoint in ready):
        lab.fail(hint)
    # No ready endpoint, or a route that reached no pod at all: no traffic reaches any pod, none to probe for.
    if svc.cluster_ip and ready and not route_known_broken(lab, svc):
        answers = {r.body.strip() for r in lab.probe.http_batch([svc.url("/hostname", port=80)] * 24, deadline_s=6)}
        lab.expect(not answers & set(warming), hint)


@pytest.mark.check(points=2, title="the pods of Deployment web declare a readiness probe")
def test_pods_have_readiness_probe(lab: LabContext) -> None:
    # The one structural check here: we cannot make the learner's application unhealthy on demand, so the
    # gate is judged from the pod template (its effect is probed by the two checks above).
    containers = _containers(lab)
    if any(c.get("readinessProbe") for c in containers):
        return
    if any(c.get("livenessProbe") for c in containers):
        lab.fail(
            "Deployment web has a livenessProbe but no readinessProbe: liveness restarts a hung container, "
            "readiness decides whether it receives traffic. Add a readinessProbe (HTTP GET /healthz on http)."
        )
    lab.fail(
        "Deployment web has no readinessProbe: its pods count as ready the moment the container starts. "
        "Add one (HTTP GET /healthz on port http)."
    )
