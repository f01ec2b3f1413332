"""Headless lab: web-headless has no ClusterIP and cluster DNS answers with exactly the ready pods' IPs."""

from __future__ import annotations

import contextlib
import time

import pytest

from grader.lab import Diagnosis, DnsResult, EnvError, LabContext, WaitTimeout, endpoints_diagnosis, pod_ready, wait_for

SETTLE_S = 5.0


def _slice_addresses(lab: LabContext, service: str) -> set[str]:
    """The addresses cluster DNS serves for a headless Service: its EndpointSlices' ready endpoints."""
    slices = lab.objects("endpointslices", selector=f"kubernetes.io/service-name={service}")
    return {
        a
        for sl in slices
        for ep in sl.get("endpoints") or []
        if (ep.get("conditions") or {}).get("ready", True)
        for a in ep.get("addresses", [])
    }


@pytest.mark.check(points=1, title="web-headless has no ClusterIP", evidence="object")
def test_no_cluster_ip(lab: LabContext) -> None:
    svc = lab.service("web-headless")
    cluster_ip = lab.read_field(svc, "spec.clusterIP")
    lab.expect(
        cluster_ip == "None",
        f"web-headless has ClusterIP {cluster_ip}: a headless Service sets "
        "clusterIP: None, so DNS returns the pods instead of one virtual address.",
        diagnosis="headless/has-cluster-ip",
    )


@pytest.mark.check(points=3, title="DNS returns one A record per ready web pod, and no other")
def test_dns_returns_ready_pod_ips(lab: LabContext) -> None:
    svc = lab.service("web-headless")
    pods = [p for p in lab.objects("pods", selector="app=web") if not p["metadata"].get("deletionTimestamp")]
    ready = {p["status"].get("podIP") for p in pods if pod_ready(p) and p["status"].get("podIP")}
    unready = {p["status"].get("podIP") for p in pods if not pod_ready(p) and p["status"].get("podIP")}
    if not ready:  # the starter's pods are waited for before the checks: none ready is the environment's
        raise EnvError("no web pod is Ready, so which addresses DNS should answer cannot be judged")
    answers: list[DnsResult] = []
    agreed_since: list[float] = []  # when DNS last started to agree with the EndpointSlices

    def lookup() -> tuple[bool | None, str]:
        # CoreDNS follows EndpointSlices within seconds: look again until the answer is right, or until it has
        # agreed with the Service's EndpointSlices for SETTLE_S (then only new endpoints could change it)
        # no endpoints: "no records" is the answer to confirm, not to wait 8 s for a change
        served = _slice_addresses(lab, svc.name)
        answers.append(lab.probe.dns(svc.dns, deadline_s=8 if served else 2))
        got = set(answers[-1].addresses)
        if got == ready:
            return True, ""
        agrees = got == served and (len(answers) < 2 or got == set(answers[-2].addresses))
        agreed_since[:] = (agreed_since or [time.monotonic()]) if agrees else []
        if agreed_since and time.monotonic() - agreed_since[0] >= SETTLE_S:
            return False, "settled"
        return None, ", ".join(answers[-1].addresses)

    with contextlib.suppress(WaitTimeout):
        wait_for(lookup, what=f"DNS {svc.dns}", timeout_s=30)
    answer = answers[-1]
    got = set(answer.addresses)
    if got == ready:
        answer.must_resolve(f"DNS does not answer {svc.dns} with the ready web pods.", diagnosis="headless/no-records")
        return
    if got & unready:
        why = Diagnosis(
            "headless/publishes-unready-pod",
            "it includes the pod that is not ready"
            + (
                ": publishNotReadyAddresses: true publishes unready pods too"
                if svc.raw.get("spec", {}).get("publishNotReadyAddresses")
                else ""
            ),
        )
    elif svc.cluster_ip and got == {svc.cluster_ip}:
        why = Diagnosis("headless/answers-cluster-ip", "that is the ClusterIP: set clusterIP: None")
    else:
        why = endpoints_diagnosis(svc, lab.objects("pods"), 0, len(ready))
    lab.fail(
        f"DNS answered {svc.dns} with {', '.join(sorted(got)) or answer.error or 'nothing'}; expected the "
        f"ready web pods {', '.join(sorted(ready))}: {why}",
        diagnosis=why.id,
    )
