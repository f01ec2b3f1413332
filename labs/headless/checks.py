"""Headless lab: web-headless has no ClusterIP and cluster DNS answers with exactly the ready pods' IPs."""

from __future__ import annotations

import contextlib

import pytest

from grader.checks import LabContext
from grader.diagnose import endpoints_diagnosis, pod_ready
from grader.labkit import WaitTimeout, wait_for
from grader.probes.results import DnsResult


@pytest.mark.check(points=1, title="web-headless has no ClusterIP")
def test_no_cluster_ip(lab: LabContext) -> None:
    svc = lab.service("web-headless")
    lab.expect(svc.headless, f"web-headless has ClusterIP {svc.cluster_ip}: a headless Service sets "
               "clusterIP: None, so DNS returns the pods instead of one virtual address.")


@pytest.mark.check(points=3, title="DNS returns one A record per ready web pod, and no other")
def test_dns_returns_ready_pod_ips(lab: LabContext) -> None:
    svc = lab.service("web-headless")
    pods = [p for p in lab.objects("pods", selector="app=web") if not p["metadata"].get("deletionTimestamp")]
    ready = {p["status"].get("podIP") for p in pods if pod_ready(p) and p["status"].get("podIP")}
    unready = {p["status"].get("podIP") for p in pods if not pod_ready(p) and p["status"].get("podIP")}
    answers: list[DnsResult] = []

    def lookup() -> tuple[bool | None, str]:
        # CoreDNS follows EndpointSlices within seconds: look again until the answer settles
        answers.append(lab.probe.dns(svc.dns, deadline_s=8))
        return (True if set(answers[-1].addresses) == ready else None), ", ".join(answers[-1].addresses)

    with contextlib.suppress(WaitTimeout):
        wait_for(lookup, what=f"DNS {svc.dns}", timeout_s=30)
    answer = answers[-1]
    got = set(answer.addresses)
    if got == ready:
        return
    if got & unready:
        why = ("it includes the pod that is not ready"
               + (": publishNotReadyAddresses: true publishes unready pods too" if
                  svc.raw.get("spec", {}).get("publishNotReadyAddresses") else ""))
    elif svc.cluster_ip and got == {svc.cluster_ip}:
        why = "that is the ClusterIP: set clusterIP: None"
    else:
        why = endpoints_diagnosis(svc, lab.objects("pods"), 0, len(ready))
    lab.fail(f"DNS answered {svc.dns} with {', '.join(sorted(got)) or answer.error or 'nothing'}; expected the "
             f"ready web pods {', '.join(sorted(ready))}: {why}")
