"""Readiness lab: the Service routes only to Ready pods, and the learner's pods earn Ready with a probe."""

from __future__ import annotations

from typing import Any

import pytest

from grader.lab import (
    Diagnosis,
    LabContext,
    matches,
    port_mismatch,
    remember_route,
    require_route,
    route_endpoints,
)

REQUESTS = 24  # through the Service: with 3 ready pods, a warming pod in the mix would answer some of them


def _deployment(lab: LabContext) -> dict[str, Any]:
    return lab.require("deployment", "web", "There is no Deployment 'web': create it with three replicas.")


@pytest.mark.check(points=3, title="web answers on its ClusterIP from all 3 ready pods of Deployment web")
def test_ready_pods_answer(lab: LabContext) -> None:
    _deployment(lab)
    svc = lab.service("web")
    eps = route_endpoints(
        lab,
        svc,
        3,
        "Service web should have the three pods of Deployment web as ready endpoints; pods that never turn "
        "Ready have a readinessProbe that fails (wrong port or path?).",
        timeout_s=90,
    )
    ports = [p.port for p in svc.ports]
    lab.expect(80 in ports, f"Service web listens on {ports}, but clients use port 80.", diagnosis="route/port-not-80")
    seen = lab.probe.collect_hostnames(svc.url("/hostname", port=80), eps.pod_names)
    remember_route(lab, svc, works=bool(seen.seen))
    why = Diagnosis()
    if not seen.ok:
        pods = [p for p in lab.objects("pods") if matches(svc.selector, p["metadata"].get("labels") or {})]
        why = port_mismatch(svc, pods)
    seen.must_cover(  # also records the answers: this check's evidence
        f"Not every ready pod answered on {svc.cluster_ip}:80. "
        + (why.text or "Check targetPort against the container port."),
        diagnosis=why.id or "route/pods-do-not-answer",
    )


@pytest.mark.check(points=2, title="the unready web-warming pod receives no traffic")
def test_unready_pod_gets_no_traffic(lab: LabContext) -> None:
    svc = lab.service("web")
    warming = {
        p["metadata"]["name"]: p["status"].get("podIP") for p in lab.objects("pods", selector="app=web,track=warming")
    }
    published = bool(svc.raw.get("spec", {}).get("publishNotReadyAddresses"))
    hint = "The web-warming pod is not Ready, yet Service web sends it traffic" + (
        ": publishNotReadyAddresses: true publishes pods before they are ready; remove it." if published else "."
    )
    gets_traffic = "readiness/unready-pod-published" if published else "readiness/unready-pod-gets-traffic"
    slices = lab.objects("endpointslices", selector="kubernetes.io/service-name=web")
    ready = [e for s in slices for e in s.get("endpoints") or [] if e.get("conditions", {}).get("ready")]
    if any(set(endpoint.get("addresses", [])) & set(warming.values()) for endpoint in ready):
        lab.fail(hint, diagnosis=gets_traffic)
    # No traffic reaches any pod when the route is broken: that no request reaches web-warming then says nothing.
    require_route(lab, svc, "ready_pods_answer")
    url = svc.url("/hostname", port=80)
    answers = {r.body.strip() for r in lab.probe.http_batch([url] * REQUESTS, deadline_s=6) if r.ok and r.body.strip()}
    if not answers:
        lab.blocked("ready_pods_answer", f"web gave no answer to {REQUESTS} requests, so none can reach web-warming")
    address = f"{svc.cluster_ip}:80"
    lab.matrix.record(
        lab.probe.name,
        f"{lab.matrix.label_for(svc.cluster_ip or '', 80)} ({REQUESTS} requests)",
        expected=True,
        observed=True,
        detail=f"answered by {', '.join(sorted(answers))}",
        address=address,
    )
    lab.matrix.record(  # the observation this check is about, beside its positive control just above
        lab.probe.name,
        "web-warming through web",
        expected=False,
        observed=bool(answers & set(warming)),
        detail=f"{len(answers & set(warming))} of {len(answers)} answering pods were web-warming",
        control=address,
    )
    lab.expect(not answers & set(warming), hint, diagnosis=gets_traffic)


@pytest.mark.check(points=2, title="the pods of Deployment web declare a readiness probe", evidence="object")
def test_pods_have_readiness_probe(lab: LabContext) -> None:
    # The one structural check here: we cannot make the learner's application unhealthy on demand, so the
    # gate is judged from the pod template (its effect is probed by the two checks above).
    deploy = _deployment(lab)
    count = len(lab.read_field(deploy, "spec.template.spec.containers") or [])
    field = "spec.template.spec.containers.{}.{}"
    if any(lab.read_field(deploy, field.format(i, "readinessProbe")) for i in range(count)):
        return
    if any(lab.read_field(deploy, field.format(i, "livenessProbe")) for i in range(count)):
        lab.fail(
            "Deployment web has a livenessProbe but no readinessProbe: liveness restarts a hung container, "
            "readiness decides whether it receives traffic. Add a readinessProbe (HTTP GET /healthz on http).",
            diagnosis="readiness/liveness-instead-of-readiness",
        )
    lab.fail(
        "Deployment web has no readinessProbe: its pods count as ready the moment the container starts. "
        "Add one (HTTP GET /healthz on port http).",
        diagnosis="readiness/no-readiness-probe",
    )
