"""LoadBalancer lab: my-service gets a public-pool address, answers there from outside, and on its node port."""

from __future__ import annotations

import pytest

from grader.lab import LabContext, inside_route, internet_facing, require_route


@pytest.mark.check(points=2, title="my-service answers on its ClusterIP, from all 3 pods")
def test_answers_on_cluster_ip(lab: LabContext) -> None:
    inside_route(lab, "my-service", 3, "the three pods labelled app=MyApp")


@pytest.mark.check(points=3, title="my-service gets a public address and answers there from outside")
def test_public_ip_answers_from_outside(lab: LabContext) -> None:
    svc = lab.service("my-service")
    lab.expect(
        svc.type == "LoadBalancer",
        f"my-service is type {svc.type}: only type LoadBalancer gets an "
        "external address (on AKS, a frontend IP on the Azure Load Balancer).",
        diagnosis="loadbalancer/type-not-loadbalancer",
    )
    svc = lab.wait_load_balancer(svc)
    ip = svc.lb_ips[0]
    lab.expect(
        internet_facing(lab, ip),
        f"my-service got {ip}, a private address: the "
        "azure-load-balancer-internal annotation makes the load balancer internal. Remove it for a public one.",
        diagnosis="loadbalancer/address-private",
    )
    require_route(lab, svc, "answers_on_cluster_ip")
    lab.outside.http_get(f"http://{ip}/hostname").must_succeed(
        f"The load balancer address {ip}:80 does not answer from outside the cluster.",
        diagnosis="loadbalancer/address-silent",
    )


@pytest.mark.check(points=1, title="the automatically allocated node port answers on every node")
def test_auto_node_port_works(lab: LabContext) -> None:
    svc = lab.service("my-service")
    node_ports = [p.node_port for p in svc.ports if p.node_port]
    if not node_ports:
        lab.fail(
            "my-service has no node port"
            + (
                ": allocateLoadBalancerNodePorts: false turns it off, and on AKS the Azure Load Balancer's "
                "health probe checks each node on that port (turning it off works there only together with "
                "externalTrafficPolicy: Local)."
                if svc.type == "LoadBalancer"
                else f" (type {svc.type})."
            ),
            diagnosis="loadbalancer/node-ports-turned-off"
            if svc.type == "LoadBalancer"
            else "loadbalancer/no-node-port",
        )
    require_route(lab, svc, "answers_on_cluster_ip")
    for result in lab.outside.http_batch([f"http://{n.internal_ip}:{node_ports[0]}/hostname" for n in lab.nodes]):
        result.must_succeed(
            f"Node port {node_ports[0]} does not answer on every node.", diagnosis="loadbalancer/node-port-silent"
        )
