"""Checks of the demo lab: every probe kind and vantage point the grader offers."""

from __future__ import annotations

import pytest

from grader.lab.context import LabContext


@pytest.mark.check(points=1, title="Service web is a ClusterIP Service on port 80", evidence="object")
def test_service_type(lab: LabContext) -> None:
    svc = lab.service("web", hint="Create a Service named 'web'.")
    kind = lab.read_field(svc, "spec.type")
    lab.expect(
        kind == "ClusterIP", f"Service web has type {kind}; this task needs type ClusterIP.", diagnosis="demo/type"
    )
    ports = lab.read_field(svc, "spec.ports") or []
    lab.expect(any(p.get("port") == 80 for p in ports), "Service web must expose port 80.", diagnosis="demo/port")


@pytest.mark.check(points=2, title="All three backends answer through the ClusterIP")
def test_all_backends(lab: LabContext) -> None:
    svc = lab.service("web")
    eps = lab.wait_ready_endpoints(svc, count=3)
    lab.probe.collect_hostnames(svc.url("/hostname"), expect=eps.pod_names).must_cover(
        hint="Not every web pod answered through the Service.", diagnosis="demo/backends-missing"
    )


@pytest.mark.check(points=1, title="The DNS name resolves to the ClusterIP")
def test_dns(lab: LabContext) -> None:
    svc = lab.service("web")
    lab.probe.dns(svc.dns).must_resolve(
        hint=f"{svc.dns} does not resolve to the ClusterIP.", to=svc.cluster_ip, diagnosis="demo/dns"
    )


@pytest.mark.check(points=1, title="web-np is reachable by name from another namespace, also by TCP")
def test_other_namespace(lab: LabContext) -> None:
    svc = lab.service("web-np", hint="Create a Service named 'web-np'.")
    lab.wait_ready_endpoints(svc, count=1)
    lab.other_probe.http_get(svc.url("/hostname", host=svc.dns)).must_succeed(
        hint="A pod in another namespace cannot reach web-np by its DNS name.", diagnosis="demo/other-namespace"
    )
    lab.probe.tcp_connect(svc.cluster_ip or "", 80).must_succeed(
        hint="No TCP connection to web-np:80.", diagnosis="demo/tcp"
    )


@pytest.mark.check(points=1, title="The ClusterIP is private to the cluster")
def test_clusterip_private(lab: LabContext) -> None:
    svc = lab.service("web")
    lab.outside.must_not_reach(
        svc.url("/hostname"),
        hint="The ClusterIP answered from outside the cluster.",
        see="all_backends",  # its positive control: the ClusterIP answering inside
        diagnosis="demo/cluster-ip-outside",
    )


@pytest.mark.check(points=2, title="web-np answers on its NodePort on every node, from outside")
def test_nodeport_outside(lab: LabContext) -> None:
    svc = lab.service("web-np", hint="Create a Service named 'web-np'.")
    lab.expect(
        svc.type == "NodePort", f"Service web-np has type {svc.type}; it needs type NodePort.", diagnosis="demo/np"
    )
    lab.wait_ready_endpoints(svc, count=3)
    node_port = svc.port().node_port
    urls = [f"http://{node.internal_ip}:{node_port}/hostname" for node in lab.nodes]
    for result in lab.outside.http_batch(urls):
        result.must_succeed(
            hint=f"web-np does not answer on NodePort {node_port} of every node.", diagnosis="demo/np-outside"
        )


@pytest.mark.check(points=1, title="web-np answers on its NodePort from the host")
def test_nodeport_host(lab: LabContext) -> None:
    svc = lab.service("web-np")
    lab.wait_ready_endpoints(svc, count=3)
    node = lab.worker_nodes[0]
    lab.host.http_get(f"http://{node.internal_ip}:{svc.port().node_port}/hostname").must_succeed(
        hint="web-np does not answer on its NodePort from this machine.", diagnosis="demo/np-host"
    )


@pytest.mark.check(points=1, title="partner is a DNS alias (CNAME) of api.partner.example")
def test_externalname(lab: LabContext) -> None:
    svc = lab.service("partner", hint="Create a Service named 'partner'.")
    lab.expect(
        svc.type == "ExternalName",
        f"Service partner has type {svc.type}; it needs type ExternalName.",
        diagnosis="demo/not-externalname",
    )
    lab.probe.dns(svc.dns, "CNAME").must_resolve(
        hint=f"{svc.dns} must be a CNAME of api.partner.example.", to="api.partner.example", diagnosis="demo/cname"
    )
