"""A load-balancer address whose source ranges leave a client out never answers it: that explains a timeout."""

from __future__ import annotations

import pytest

from grader.lab.diagnose import source_left_out
from grader.lab.services import Service


def lb(ranges: list[str] | None = None, annotation: str | None = None, ip: str = "172.18.255.221") -> Service:
    spec: dict[str, object] = {"type": "LoadBalancer", "ports": [{"port": 80}]}
    if ranges is not None:
        spec["loadBalancerSourceRanges"] = ranges
    meta: dict[str, object] = {"name": "internal-app", "namespace": "lab"}
    if annotation is not None:
        meta["annotations"] = {"service.beta.kubernetes.io/load-balancer-source-ranges": annotation}
    return Service.from_obj({"metadata": meta, "spec": spec, "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})


@pytest.mark.parametrize(
    ("svc", "expected"),
    [
        (lb(["10.240.0.0/16"]), ["10.240.0.0/16"]),
        (lb(annotation="10.0.0.0/8"), []),  # kube-proxy leaves the annotation to cloud providers
        (lb(["172.18.0.0/16"], annotation="10.0.0.0/8"), ["172.18.0.0/16"]),
        (lb(), []),
    ],
)
def test_source_ranges_are_the_field_kube_proxy_enforces(svc: Service, expected: list[str]) -> None:
    assert svc.source_ranges == expected


def test_a_client_outside_every_range_is_left_out() -> None:
    why = source_left_out("172.18.255.221", [lb(["10.240.0.0/16", "192.168.1.0/24"])], "172.18.0.4")
    assert why == "loadBalancerSourceRanges 10.240.0.0/16, 192.168.1.0/24 leave out this client (172.18.0.4)"
    assert source_left_out("172.18.255.221", [lb(["10.240.0.0/16"])], "fd00::4")  # no IPv4 range holds IPv6


@pytest.mark.parametrize(
    ("host", "svc", "source"),
    [
        ("172.18.255.221", lb(["172.18.0.0/16"]), "172.18.0.4"),  # inside a range: a timeout is not explained
        ("172.18.255.221", lb(["172.18.0.4/32", "10.0.0.0/8"]), "172.18.0.4"),
        ("172.18.255.221", lb(), "172.18.0.4"),  # no ranges: every source is let in
        ("172.18.255.200", lb(["10.240.0.0/16"]), "172.18.0.4"),  # not this Service's address
        ("172.18.255.221", lb(annotation="10.240.0.0/16"), "172.18.0.4"),  # the annotation drops nothing here
        ("172.18.255.221", lb(["not-a-range"]), "172.18.0.4"),  # unreadable: no explanation
    ],
)
def test_nothing_explains_a_timeout_unless_the_ranges_leave_the_client_out(
    host: str, svc: Service, source: str
) -> None:
    assert source_left_out(host, [svc], source) == ""
