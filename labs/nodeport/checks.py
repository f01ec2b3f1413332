"""NodePort lab: my-service answers on every node at its node port (${NODE_PORT}: 30007 unless a classroom gives
the learner their own), from outside and inside, and on its ClusterIP."""

from __future__ import annotations

import pytest

from grader.lab import LabContext, inside_route, require_route


def node_port(lab: LabContext) -> int:
    """The learner's node port: lab.yaml's default, or the one their classroom gave them."""
    return int(lab.facts.variables["NODE_PORT"])


@pytest.mark.check(points=2, title="my-service answers on its ClusterIP, from all 3 pods")
def test_answers_on_cluster_ip(lab: LabContext) -> None:
    inside_route(lab, "my-service", 3, "the three pods labelled app=MyApp")


@pytest.mark.check(
    points=3,
    title="every node answers on its node port (30007, or your classroom's), from outside and inside the cluster",
)
def test_answers_on_node_port_30007(lab: LabContext) -> None:
    port = node_port(lab)
    svc = lab.service("my-service")
    allocated = [p.node_port for p in svc.ports if p.node_port]
    if port not in allocated:
        lab.fail(
            f"my-service does not use node port {port}: "
            + (
                f"its node port is {', '.join(map(str, allocated))} (picked at random when nodePort is left out)"
                if allocated
                else f"it has none (type {svc.type})"
            )
            + f". Set nodePort: {port} on the port.",
            diagnosis="nodeport/node-port-not-30007" if allocated else "nodeport/no-node-port",
        )
    require_route(lab, svc, "answers_on_cluster_ip")  # the node port itself is right; the route is charged there
    urls = [f"http://{node.internal_ip}:{port}/hostname" for node in lab.nodes]
    for vantage in (lab.outside, lab.probe):
        for result in vantage.http_batch(urls):
            result.must_succeed(
                f"Node port {port} does not answer on every node.", diagnosis="nodeport/node-port-silent"
            )


@pytest.mark.check(
    points=1, title="my-service is a NodePort Service, with no load balancer in front", evidence="object"
)
def test_type_is_nodeport(lab: LabContext) -> None:
    svc = lab.service("my-service")
    kind = lab.read_field(svc, "spec.type")
    fronted = lab.read_field(svc, "status.loadBalancer.ingress")
    lab.expect(
        kind == "NodePort" and not fronted,
        f"my-service is type {kind}"
        + (f" with external address {svc.lb_ips[0]}" if svc.lb_ips else "")
        + ": the task asks for type NodePort. LoadBalancer also opens the node port but adds a load "
        "balancer (on AKS an Azure LB with its own IP).",
        diagnosis="nodeport/type-not-nodeport",
    )
