"""Session affinity lab: one client always reaches the same web pod."""

from __future__ import annotations

import pytest

from grader.lab import (
    Diagnosis,
    LabContext,
    port_mismatch,
    remember_route,
    require_route,
    route_endpoints,
    selected_pods,
)


@pytest.mark.check(points=2, title="web answers on its ClusterIP from the 3 pods")
def test_answers_on_cluster_ip(lab: LabContext) -> None:
    svc = lab.service("web")
    eps = route_endpoints(lab, svc, 3, "Service web should select the three web pods (app=web).")
    ports = [p.port for p in svc.ports]
    lab.expect(80 in ports, f"Service web listens on {ports}, but clients use port 80.", diagnosis="route/port-not-80")
    result = lab.probe.http_get(svc.url("/hostname", port=80))
    remember_route(lab, svc, works=result.ok)  # the sticky check after this one need not probe it again
    answered = result.ok and result.body.strip() in eps.pod_names
    why = Diagnosis() if answered else port_mismatch(svc, selected_pods(lab, svc))
    result.must_contain(  # also records the answer: this check's evidence
        "web-",
        f"Service web does not answer on {svc.cluster_ip}:80. "
        + (why.text or "Check that targetPort is the port the containers listen on."),
        diagnosis=why.id or "route/pods-do-not-answer",
    )


@pytest.mark.check(points=3, title="20 requests from one client all reach the same pod")
def test_sticky_sessions(lab: LabContext) -> None:
    svc = lab.service("web")
    affinity = svc.raw.get("spec", {}).get("sessionAffinity", "None")
    as_annotation = "sessionAffinity" in svc.annotations
    note = " (an annotation named sessionAffinity does nothing: it is a spec field)" if as_annotation else ""
    hint = f"sessionAffinity is {affinity}{note}: set sessionAffinity: ClientIP."
    lab.expect(  # visible in the API even when the route is broken
        affinity == "ClientIP",
        hint,
        diagnosis="session-affinity/annotation-not-field"
        if as_annotation
        else "session-affinity/affinity-not-clientip",
    )
    require_route(lab, svc, "answers_on_cluster_ip")
    url = svc.url("/hostname", port=80)
    lab.probe.http_get(url).must_succeed(  # pins this client before the burst
        "web stopped answering.", diagnosis="session-affinity/route-stopped"
    )
    bodies: list[str] = []
    for _ in range(3):  # up to 3 bursts: stickiness is judged on 20 answered requests, not on timeouts
        bodies += [r.body.strip() for r in lab.probe.http_batch([url] * 20) if r.ok and r.body.strip()]
        if len(bodies) >= 20:
            break
    lab.expect(
        len(bodies) >= 20,
        f"web answered only {len(bodies)} of 60 requests: too few to judge affinity.",
        diagnosis="session-affinity/too-few-answers",
    )
    answers = set(bodies[:20])
    lab.matrix.record(  # the observation this check is about: one pod answered all 20
        lab.probe.name,
        "web ClusterIP (20 requests, one pod)",
        expected=True,
        observed=len(answers) == 1,
        detail=f"{len(answers)} pod(s) answered",
    )
    lab.expect(
        len(answers) == 1,
        f"20 requests from one client reached {len(answers)} pods ({', '.join(sorted(answers))}): {hint}",
        diagnosis="session-affinity/not-sticky",
    )
