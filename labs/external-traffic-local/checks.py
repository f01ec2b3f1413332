"""externalTrafficPolicy Local lab: the client IP survives and only the node with the pod answers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from grader.lab import LabContext, inside_route, internet_facing, require_route, selected_pods

SILENCE_S = 0.2  # a forwarding node answers in milliseconds on the kind network; a node that drops never does


@pytest.mark.check(points=1, title="web answers on its ClusterIP")
def test_answers_on_cluster_ip(lab: LabContext) -> None:
    inside_route(lab, "web", 1, "the web pod (selector app=web)")


@pytest.mark.check(points=2, title="web gets a public address and answers there from outside")
def test_lb_ip_answers(lab: LabContext) -> None:
    svc = lab.service("web")
    lab.expect(
        svc.type == "LoadBalancer",
        f"web is type {svc.type}: the task asks for type LoadBalancer "
        "(NodePort keeps the client IP with Local too, but gets no load balancer address).",
        diagnosis="external-traffic-local/type-not-loadbalancer",
    )
    svc = lab.wait_load_balancer(svc)
    ip = svc.lb_ips[0]
    lab.expect(
        internet_facing(lab, ip),
        f"web got {ip}, a private address: remove the internal annotation.",
        diagnosis="external-traffic-local/address-private",
    )
    require_route(lab, svc, "answers_on_cluster_ip")
    lab.outside.http_get(f"http://{ip}/hostname").must_succeed(
        f"{ip}:80 does not answer from outside.", diagnosis="external-traffic-local/address-silent"
    )


@pytest.mark.check(points=3, title="Local: the pod sees the client's IP; only its node answers on the node port")
def test_local_policy(lab: LabContext) -> None:
    svc = lab.service("web")
    spec = svc.raw.get("spec", {})
    hint = "set externalTrafficPolicy: Local"
    policy_wrong = "external-traffic-local/policy-not-local"
    if spec.get("internalTrafficPolicy") == "Local" and svc.external_traffic_policy != "Local":
        hint = "internalTrafficPolicy only governs traffic from inside the cluster; for clients outside it, " + hint
        policy_wrong = "external-traffic-local/internal-policy-instead"
    elif spec.get("sessionAffinity") == "ClientIP" and svc.external_traffic_policy != "Local":
        hint = "sessionAffinity: ClientIP pins a client to one pod but does not keep its address; " + hint
        policy_wrong = "external-traffic-local/affinity-instead-of-policy"
    node_ports = [p.node_port for p in svc.ports if p.node_port]
    # A wrong policy is visible in the API even when the route is broken; a right one must be seen working.
    lab.expect(
        svc.external_traffic_policy == "Local",
        f"externalTrafficPolicy is {svc.external_traffic_policy}: {hint}.",
        diagnosis=policy_wrong,
    )
    if not node_ports:
        lab.blocked("lb_ip_answers", "web has no node port, so which nodes answer cannot be observed")
    require_route(lab, svc, "answers_on_cluster_ip")
    pods = [p for p in selected_pods(lab, svc) if p["status"].get("podIP")]
    home = {p["status"].get("hostIP") for p in pods}
    partner = lab.facts.partner_ip
    if partner is None:
        lab.not_applicable("the client's own address is unknown here (no partner container)")
    nodes = [n for n in lab.nodes if n.internal_ip in home]
    if not nodes:
        lab.blocked("answers_on_cluster_ip", "no node runs a web pod, so none can be seen answering")
    elsewhere = [
        (
            f"http://{n.internal_ip}:{node_ports[0]}/cgi-bin/clientip",
            f"Node {n.name} has no web pod but answered on node port {node_ports[0]} (it forwards to another "
            f"node): {hint}.",
        )
        for n in lab.nodes
        if n.internal_ip not in home
    ]
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The nodes with no pod are asked meanwhile, in one round so their waits overlap. A node that forwards
        # answers in milliseconds, as the pod's own node does; one that drops (Local, no pod there) stays silent.
        # Their silence counts beside the pod's own node answering on the same node port (below).
        silence = pool.submit(
            lab.outside.must_not_reach_any,
            elsewhere,
            per_try_s=SILENCE_S,
            control=f"{nodes[0].internal_ip}:{node_ports[0]}",
            see="local_policy",
            diagnosis="external-traffic-local/node-without-pod-forwards",
        )
        # One batch: the client's own address (as the partner server sees it) and the node(s) running the pod.
        urls = [f"http://{n.internal_ip}:{node_ports[0]}/cgi-bin/clientip" for n in nodes]
        answers = lab.outside.http_batch([f"http://{partner}/cgi-bin/clientip", *urls])
        me = (
            answers[0]
            .must_succeed(
                "the outside container cannot reach the partner", diagnosis="external-traffic-local/partner-silent"
            )
            .body.strip()
        )
        client_ip = me.rsplit(":", 1)[0]
        for node, answer in zip(nodes, answers[1:], strict=True):
            seen = answer.must_succeed(
                f"The node running the pod ({node.name}) does not answer on node port {node_ports[0]}.",
                diagnosis="external-traffic-local/pod-node-silent",
            ).body
            lab.expect(
                seen.strip().rsplit(":", 1)[0] == client_ip,
                f"The pod saw the request come from {seen.strip()}, not from the client {client_ip}: with "
                f"externalTrafficPolicy {svc.external_traffic_policy} the node rewrites the source "
                f"address (SNAT); {hint}.",
                diagnosis="external-traffic-local/client-address-rewritten",
            )
        silence.result()  # its FAIL after the pod's own node's: a node that should answer matters first
