"""NodePort lab: my-service answers on every node at 30007, from outside and inside, and on its ClusterIP."""

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


NODE_PORT = 30007


@pytest.mark.check(points=2, title="my-service answers on its ClusterIP, from all 3 pods")
def test_answers_on_cluster_ip(lab: LabContext) -> None:
    _inside_route(lab, "my-service", 3, "the three pods labelled app=MyApp")


@pytest.mark.check(points=3, title="every node answers on port 30007, from outside and inside the cluster")
def test_answers_on_node_port_30007(lab: LabContext) -> None:
    svc = lab.service("my-service")
    allocated = [p.node_port for p in svc.ports if p.node_port]
    if NODE_PORT not in allocated:
        lab.fail(f"my-service does not use node port {NODE_PORT}: "
                 + (f"its node port is {', '.join(map(str, allocated))} (picked at random when nodePort is left "
                    "out)" if allocated else f"it has none (type {svc.type})")
                 + f". Set nodePort: {NODE_PORT} on the port.")
    if not _route_works(lab, svc):
        return  # the ClusterIP check charges the broken route; the node port itself is right
    urls = [f"http://{node.internal_ip}:{NODE_PORT}/hostname" for node in lab.nodes]
    for vantage in (lab.outside, lab.probe):
        for result in vantage.http_batch(urls):
            result.must_succeed(f"Node port {NODE_PORT} does not answer on every node.")


@pytest.mark.check(points=1, title="my-service is a NodePort Service, with no load balancer in front")
def test_type_is_nodeport(lab: LabContext) -> None:
    svc = lab.service("my-service")
    lab.expect(svc.type == "NodePort" and not svc.lb_ips,
               f"my-service is type {svc.type}" + (f" with external address {svc.lb_ips[0]}" if svc.lb_ips else "")
               + ": the task asks for type NodePort. LoadBalancer also opens the node port but adds a load "
               "balancer (on AKS an Azure LB with its own IP).")
