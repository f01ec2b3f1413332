"""ClusterIP lab: Service web answers inside the cluster, on all three pods, and nowhere outside."""

from __future__ import annotations

import pytest

from grader.lab import LabContext, also_exposing, inside_route

ANOTHER_EXPOSES = "clusterip/another-service-exposes-pods"
# A type that opens web to clients outside the cluster, and the id of that mistake.
EXPOSED = {
    "NodePort": "clusterip/type-nodeport-reachable-outside",
    "LoadBalancer": "clusterip/type-loadbalancer-reachable-outside",
}


@pytest.mark.check(points=3, title="web answers on its ClusterIP and DNS name, from all 3 pods")
def test_answers_inside_cluster(lab: LabContext) -> None:
    names = inside_route(lab, "web", 3, "the three web pods (selector app=web)")
    svc = lab.service("web")
    lab.probe.collect_hostnames(f"http://{svc.dns}/hostname", names).must_cover(
        f"http://{svc.dns}/ does not reach all three pods, although the ClusterIP does.",
        diagnosis="clusterip/dns-name-misses-pods",
    )


@pytest.mark.check(points=1, title="the name web resolves to the ClusterIP in cluster DNS")
def test_resolves_by_dns_name(lab: LabContext) -> None:
    svc = lab.service("web")
    lab.expect(
        svc.cluster_ip is not None,
        "Service web has no ClusterIP (clusterIP: None makes it headless).",
        diagnosis="clusterip/headless",
    )
    lab.probe.dns(svc.dns).must_resolve(
        f"{svc.dns} does not resolve to the ClusterIP {svc.cluster_ip}.",
        to=svc.cluster_ip,
        diagnosis="clusterip/name-not-cluster-ip",
    )


@pytest.mark.check(points=2, title="nothing of web is reachable from outside the cluster, through any Service")
def test_not_reachable_from_outside(lab: LabContext) -> None:
    svc = lab.service("web")
    hint = (
        f"Service web is type {svc.type}, so it is reachable from outside the cluster. A ClusterIP Service "
        "is internal-only: leave type out (ClusterIP is the default)."
    )
    exposed = EXPOSED.get(svc.type, "clusterip/reachable-outside")
    # Each silence counts only beside its positive control, web answering where it must: answers_inside_cluster.
    see = "answers_inside_cluster"
    for ip in svc.lb_ips:
        lab.outside.must_not_reach(f"http://{ip}/hostname", hint=hint, see=see, diagnosis=exposed)
    for node_port in [p.node_port for p in svc.ports if p.node_port]:
        for node in lab.nodes:
            lab.outside.must_not_connect(node.internal_ip, node_port, hint=hint, see=see, diagnosis=exposed)
    for other in also_exposing(lab, {"app": "web"}, besides="web"):
        # The lesson is about web's pods: a second Service that opens them to the outside undoes it.
        also = (
            f"Service {other.name} (type {other.type}) also selects the web pods, so they are reachable from "
            "outside the cluster through it. Delete it: the task asks for one internal-only Service."
        )
        opened = [(ip, p.port) for ip in other.lb_ips for p in other.ports]
        opened += [(node.internal_ip, p.node_port) for p in other.ports if p.node_port for node in lab.nodes]
        for host, port in opened:
            lab.outside.must_not_connect(host, port, hint=also, see=see, diagnosis=ANOTHER_EXPOSES)
    if svc.cluster_ip:
        lab.outside.must_not_connect(
            svc.cluster_ip,
            80,
            hint="The ClusterIP answers from outside the cluster.",
            see=see,
            diagnosis="clusterip/cluster-ip-answers-outside",
        )
