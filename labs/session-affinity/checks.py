"""Session affinity lab: one client always reaches the same web pod."""

from __future__ import annotations

from typing import Any

import pytest

from grader.checks import LabContext, Service
from grader.diagnose import matches, port_mismatch
from grader.verdicts import Fail


# --- shared by the Service labs (copied per lab: each checks.py is imported on its own) -----------------
def _selected_pods(lab: LabContext, svc: Service) -> list[dict[str, Any]]:
    return [p for p in lab.objects("pods") if matches(svc.selector, p["metadata"].get("labels") or {})]


def _inside_route(lab: LabContext, name: str, count: int, what: str) -> list[str]:
    """The in-cluster route (selector, port 80, targetPort) works and reaches all `count` pods; their names."""
    svc = lab.service(name)
    eps = lab.wait_ready_endpoints(svc, count=count, hint=f"Service {name} should send traffic to {what}.")
    ports = [p.port for p in svc.ports]
    lab.expect(80 in ports, f"Service {name} listens on port {', '.join(map(str, ports)) or 'none'}, but clients "
               "use port 80: set port: 80 (targetPort stays the port the pods listen on).")
    protocol = svc.port("80").protocol
    lab.expect(protocol == "TCP", f"Port 80 of Service {name} uses protocol {protocol}: HTTP needs protocol TCP.")
    lab.expect(svc.cluster_ip is not None, f"Service {name} has no ClusterIP: remove clusterIP: None.")
    seen = lab.probe.collect_hostnames(svc.url("/hostname", port=80), eps.pod_names)
    if not seen.ok:
        why = port_mismatch(svc, _selected_pods(lab, svc))
        seen.must_cover(f"Not every pod behind Service {name} answered on {svc.cluster_ip}:80. "
                        + (why or "Check that targetPort is the port the containers listen on."))
    return eps.pod_names


def _route_works(lab: LabContext, svc: Service) -> bool:
    """Whether the in-cluster route works. When it does not, the ClusterIP check already charges that mistake,
    so exposure checks judge their own concern from the API instead of failing a second time."""
    try:
        lab.wait_ready_endpoints(svc, count=1, timeout_s=20)
    except Fail:
        return False
    if svc.cluster_ip is None or all(p.port != 80 or p.protocol != "TCP" for p in svc.ports):
        return False
    return lab.probe.http_get(svc.url("/hostname", port=80), deadline_s=8).ok


@pytest.mark.check(points=2, title="web answers on its ClusterIP from the 3 pods")
def test_answers_on_cluster_ip(lab: LabContext) -> None:
    svc = lab.service("web")
    eps = lab.wait_ready_endpoints(svc, count=3, hint="Service web should select the three web pods (app=web).")
    ports = [p.port for p in svc.ports]
    lab.expect(80 in ports, f"Service web listens on {ports}, but clients use port 80.")
    result = lab.probe.http_get(svc.url("/hostname", port=80))
    if not result.ok or result.body.strip() not in eps.pod_names:
        why = port_mismatch(svc, _selected_pods(lab, svc))
        result.must_contain("web-", f"Service web does not answer on {svc.cluster_ip}:80. "
                            + (why or "Check that targetPort is the port the containers listen on."))


@pytest.mark.check(points=3, title="20 requests from one client all reach the same pod")
def test_sticky_sessions(lab: LabContext) -> None:
    svc = lab.service("web")
    affinity = svc.raw.get("spec", {}).get("sessionAffinity", "None")
    note = (" (an annotation named sessionAffinity does nothing: it is a spec field)"
            if "sessionAffinity" in svc.annotations else "")
    hint = f"sessionAffinity is {affinity}{note}: set sessionAffinity: ClientIP."
    if not _route_works(lab, svc):
        lab.expect(affinity == "ClientIP", hint)  # the route is charged above; judge affinity from the API
        return
    url = svc.url("/hostname", port=80)
    lab.probe.http_get(url).must_succeed("web stopped answering.")  # pins this client before the burst
    bodies: list[str] = []
    for _ in range(3):  # up to 3 bursts: stickiness is judged on 20 answered requests, not on timeouts
        bodies += [r.body.strip() for r in lab.probe.http_batch([url] * 20) if r.ok and r.body.strip()]
        if len(bodies) >= 20:
            break
    lab.expect(len(bodies) >= 20, f"web answered only {len(bodies)} of 60 requests: too few to judge affinity.")
    answers = set(bodies[:20])
    lab.matrix.record(lab.probe.name, "web ClusterIP (20 requests)", expected=None, observed=bool(answers),
                      detail=f"{len(answers)} pod(s) answered")
    lab.expect(len(answers) == 1, f"20 requests from one client reached {len(answers)} pods "
               f"({', '.join(sorted(answers))}): {hint}")
