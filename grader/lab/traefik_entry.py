"""Traefik's LoadBalancer Service, the one entry point of the Ingress and Gateway API labs, and whether it
answers at all: what a route check needs to know before it may judge the learner's routes."""

from __future__ import annotations

from grader.base.errors import EnvError
from grader.base.names import TRAEFIK_NAMESPACE, TRAEFIK_NODE_PORT, TRAEFIK_SERVICE
from grader.kube.client import Kube, KubeError, KubeUnreachable, Obj
from grader.lab.services import Service
from grader.probes.base import Vantage

CONTROL_HOST = "servicelab-control.invalid"  # no route claims it: Traefik's own 404
ANSWER_S = 15.0
_SERVICE = f"Service {TRAEFIK_NAMESPACE}/{TRAEFIK_SERVICE}"


def _read_service(kube: Kube) -> Obj | None:
    return kube.get("service", TRAEFIK_SERVICE, TRAEFIK_NAMESPACE)


def traefik_service(kube: Kube) -> Service:
    """Traefik's Service with its address; ENV-ERROR when it is absent or has none."""
    try:
        obj = _read_service(kube)
    except (KubeError, KubeUnreachable) as err:
        raise EnvError(f"cannot read {_SERVICE}: {err}") from err
    if obj is None:
        raise EnvError(f"Traefik is not installed (no {_SERVICE}): run 'servicelab up'")
    svc = Service.from_obj(obj)
    if not svc.lb_ips:
        raise EnvError("Traefik's LoadBalancer Service has no address: is MetalLB ready? ('servicelab status')")
    return svc


def silence(outside: Vantage, ip: str) -> str:
    """Traefik answers any Host, even one no route claims (404): no HTTP answer at all is the environment
    (MetalLB not announcing the address, Traefik down), whatever the learner wrote. '' when it answers."""
    result = outside.http_get(f"http://{ip}/", CONTROL_HOST, expect_status=404, deadline_s=ANSWER_S)
    if result.status is not None:
        return ""
    return (
        f"Traefik at {ip} gives no HTTP answer from {outside.name}, not even 404 for a host no route "
        f"claims ({result.observed}): the load balancer or Traefik is down. Run 'servicelab doctor'."
    )


def node_ports_refused(kube: Kube, outside: Vantage, node_ip: str) -> str:
    """Why no node-port answer from this node says anything of the learner's Service: it refuses Traefik's node
    port (the witness, TRAEFIK_NODE_PORT) too, so its kube-proxy serves no node port at this address (it keeps
    the node address it read when it started, and the node came back at another). '' when it answers, or when
    there is no Traefik to ask (no Service publishing that node port)."""
    try:
        obj = _read_service(kube)
    except (KubeError, KubeUnreachable):
        return ""
    published = obj is not None and any(p.node_port == TRAEFIK_NODE_PORT for p in Service.from_obj(obj).ports)
    if not published or not outside.available:
        return ""
    url = f"http://{node_ip}:{TRAEFIK_NODE_PORT}/"
    result = outside.http_get(url, CONTROL_HOST, expect_status=404, deadline_s=outside.policy.one_round_s)
    if result.status is not None or result.error != "connection refused":
        return ""
    return (
        f"node {node_ip} refuses every node port, Traefik's {TRAEFIK_NODE_PORT} too: its kube-proxy serves no node "
        "port at this address (it kept the one it read when it started; the node came back at a new one). "
        "Run 'servicelab up': it replaces that kube-proxy."
    )
