"""The live traffic diagram draws the paths packets take (grader.learner.flowchart)."""

from __future__ import annotations

from typing import Any

from grader.learner.flowchart import pod_network_chart, service_chart

NODES = [
    {"metadata": {"name": n}, "spec": {"podCIDR": c}, "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}
    for n, ip, c in [("a", "172.18.0.2", "10.244.0.0/24"), ("b", "172.18.0.3", "10.244.1.0/24")]
]
SLICES = [
    {
        "ports": [{"name": "", "port": 8080}],
        "endpoints": [
            {
                "addresses": ["10.244.0.5"],
                "nodeName": "a",
                "targetRef": {"name": "web-1"},
                "conditions": {"ready": True},
            },
            {
                "addresses": ["10.244.1.6"],
                "nodeName": "b",
                "targetRef": {"name": "web-2"},
                "conditions": {"ready": False},
            },
        ],
    }
]


def svc(**spec: Any) -> dict[str, Any]:
    status = spec.pop("status", {})
    return {"metadata": {"name": "web", "namespace": "lab"}, "spec": spec, "status": status}


def test_load_balancer_delivers_to_the_nodes_by_floating_ip_and_probes_the_node_port() -> None:
    lines = service_chart(
        svc(
            type="LoadBalancer",
            clusterIP="10.96.0.9",
            ports=[{"port": 80, "targetPort": "http", "nodePort": 30080}],
            status={"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}},
        ),
        SLICES,
        NODES,
    )
    text = "\n".join(lines)
    assert "still to 172.18.255.200:80 (floating IP)" in text
    assert "health probe :30080" in text
    assert "sn0 -->|DNAT| sp0" in text
    assert "sn1 -->|DNAT| sp0" in text
    assert "sp1" not in "\n".join(line for line in lines if "-->|DNAT|" in line)  # never to the unready one
    assert "10.244.0.5:8080" in text
    assert "NOT ready" in text
    assert not any("ClusterIP" in line and "sn" in line for line in lines)  # no ClusterIP hop after a node


def test_local_policy_sends_only_to_the_node_s_own_pods_and_probes_the_health_check_port() -> None:
    lines = service_chart(
        svc(
            type="LoadBalancer",
            clusterIP="10.96.0.9",
            externalTrafficPolicy="Local",
            healthCheckNodePort=32000,
            ports=[{"port": 80, "nodePort": 30080}],
            status={"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}},
        ),
        SLICES,
        NODES,
    )
    text = "\n".join(lines)
    assert "health probe :32000" in text
    assert "sn0 -->|DNAT| sp0" in text
    assert "sn1 -->|DNAT|" not in text
    assert "no local ready pod" in text


def test_headless_and_external_name_have_no_proxy() -> None:
    headless = "\n".join(service_chart(svc(clusterIP="None", ports=[{"port": 80}]), SLICES, NODES))
    assert "straight to the pod IP" in headless
    assert "kube-proxy" not in headless
    alias = "\n".join(service_chart(svc(type="ExternalName", externalName="api.partner.example"), [], NODES))
    assert "CNAME" in alias
    assert "api.partner.example" in alias


def test_pod_network_puts_each_pod_in_its_node_s_range() -> None:
    pods = [{"metadata": {"name": "toolbox-1"}, "spec": {"nodeName": "b"}, "status": {"podIP": "10.244.1.7"}}]
    text = "\n".join(pod_network_chart(NODES, pods))
    assert "pod range 10.244.1.0/24" in text
    assert "n1p0" in text
    assert "n0p0" not in text
