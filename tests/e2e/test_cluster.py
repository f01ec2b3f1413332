"""The lab cluster does what the labs rely on (issue: a real lab cluster everywhere).

Each test works in its own labelled namespace and probes behaviour: from the outside container,
from the host, and from a busybox pod in the cluster.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import shutil
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from grader.base import images, names
from grader.base.run import run
from grader.base.wait import wait_for
from grader.cluster import docker
from grader.cluster.net import LabAddresses, lab_addresses
from grader.cluster.readiness import lb_address, rollout_ready
from grader.kube.client import Kube, managed_labels
from grader.probes.host import https_exchange

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]

TRAEFIK_NS, TRAEFIK_SVC = "traefik", "traefik"


@pytest.fixture(scope="module")
def addresses() -> LabAddresses:
    subnet = docker.kind_ipv4_subnet()
    assert subnet, "the kind docker network has no IPv4 subnet: is the lab cluster up?"
    return lab_addresses(subnet)


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = f"sl-e2e-{uuid.uuid4().hex[:6]}"
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": managed_labels("e2e")}})
    yield name
    kube.delete("namespace", name)


def backend(name: str, port: int, replicas: int = 2) -> list[dict[str, object]]:
    """agnhost serve-hostname pods: each answers its name on every path, and runs nothing it is sent."""
    labels = {"app": name}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 1,  # serve-hostname lingers 60 s after SIGTERM
                    "containers": [
                        {
                            "name": "app",
                            "image": images.AGNHOST,
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["serve-hostname", f"--port={port}"],
                            "ports": [{"containerPort": port}],
                            "readinessProbe": {"httpGet": {"path": "/hostname", "port": port}, "periodSeconds": 1},
                        }
                    ],
                },
            },
        },
    }
    return [deployment]


def service(
    name: str,
    port: int,
    target: int,
    kind: str = "ClusterIP",
    *,
    annotations: dict[str, str] | None = None,
    node_port: int | None = None,
) -> dict[str, object]:
    spec_port: dict[str, object] = {"port": port, "targetPort": target, "protocol": "TCP"}
    if node_port:
        spec_port["nodePort"] = node_port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"type": kind, "selector": {"app": name}, "ports": [spec_port]},
    }


def apply(kube: Kube, namespace: str, objects: list[dict[str, object]]) -> None:
    kube.apply(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}), namespace)


def ready(kube: Kube, namespace: str, name: str) -> None:
    wait_for(lambda: rollout_ready(kube, namespace, "deployment", name), what=f"deployment {name}", timeout_s=120)


def outside_get(url: str, host: str | None = None) -> tuple[str | None, str]:
    """One HTTP GET from the outside container (busybox wget, bounded by `timeout`)."""
    argv = ["docker", "exec", names.OUTSIDE_CONTAINER, "timeout", "3", "wget", "-q", "-O", "-"]
    if host:
        argv += ["--header", f"Host: {host}"]
    result = run([*argv, url], timeout=15, check=False)
    return (result.stdout if result.code == 0 else None), f"wget {url}: exit {result.code} {result.stderr.strip()}"


def outside_status(url: str, host: str) -> tuple[str | None, str]:
    """The HTTP status line busybox wget reports for a failing request (e.g. 404)."""
    argv = [
        "docker",
        "exec",
        names.OUTSIDE_CONTAINER,
        "timeout",
        "3",
        "wget",
        "-q",
        "-O",
        "-",
        "--header",
        f"Host: {host}",
        url,
    ]
    result = run(argv, timeout=15, check=False)
    if result.code == 0:
        return None, f"wget {url}: answered 200"
    return ("404" if "404" in result.stderr else None), f"wget {url}: {result.stderr.strip()}"


def lb_ip(kube: Kube, namespace: str, name: str) -> str:
    return wait_for(lambda: lb_address(kube, namespace, name), what=f"LB IP of {name}", timeout_s=60)


def in_range(ip: str, first: str, last: str) -> bool:
    return ipaddress.ip_address(first) <= ipaddress.ip_address(ip) <= ipaddress.ip_address(last)


def test_loadbalancer_gets_public_ip_and_answers_from_outside_and_host(
    kube: Kube, namespace: str, addresses: LabAddresses
) -> None:
    apply(kube, namespace, [*backend("web", 9376), service("web", 80, 9376, "LoadBalancer")])
    ready(kube, namespace, "web")
    ip = lb_ip(kube, namespace, "web")
    assert in_range(ip, addresses.public_first, addresses.public_last), f"{ip} is not in pool public"
    body = wait_for(lambda: outside_get(f"http://{ip}/hostname"), what="LB answers the outside container", timeout_s=30)
    assert body.startswith("web-")
    if shutil.which("ip") and run(["ip", "route", "get", ip], check=False).code == 0:

        def host_get() -> tuple[str | None, str]:
            try:
                answer = requests.get(f"http://{ip}/hostname", timeout=3)
            except requests.RequestException as err:
                return None, str(err)
            return (answer.text if answer.ok else None), f"HTTP {answer.status_code}"

        assert wait_for(host_get, what="LB answers the host", timeout_s=30).startswith("web-")


def test_internal_annotation_gets_internal_pool_ip(kube: Kube, namespace: str, addresses: LabAddresses) -> None:
    annotations = {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}
    apply(
        kube,
        namespace,
        [*backend("internal-app", 8080), service("internal-app", 80, 8080, "LoadBalancer", annotations=annotations)],
    )
    ip = lb_ip(kube, namespace, "internal-app")
    assert in_range(ip, addresses.internal_first, addresses.internal_last), f"{ip} is not in pool internal"
    ready(kube, namespace, "internal-app")
    wait_for(lambda: outside_get(f"http://{ip}/hostname"), what="internal LB answers inside the VNet", timeout_s=30)
    # The internet vantage point reaches a public frontend (Traefik) but never the internal one.
    traefik_ip = lb_ip(kube, TRAEFIK_NS, TRAEFIK_SVC)
    reached = run(
        ["docker", "exec", names.INTERNET_CONTAINER, "timeout", "3", "nc", "-w", "2", traefik_ip, "80"], check=False
    )
    assert reached.code == 0, f"the internet vantage point cannot reach the public {traefik_ip}:80"
    blocked = run(["docker", "exec", names.INTERNET_CONTAINER, "timeout", "3", "nc", "-w", "2", ip, "80"], check=False)
    assert blocked.code != 0, f"the internet vantage point reached the internal LB {ip}"


def test_ipv4_annotation_gets_exactly_that_ip(kube: Kube, namespace: str, addresses: LabAddresses) -> None:
    wanted = str(ipaddress.ip_address(addresses.static_ip) + 3)  # not the static-ip lab's own address
    annotations = {"service.beta.kubernetes.io/azure-load-balancer-ipv4": wanted}
    apply(
        kube,
        namespace,
        [*backend("static", 8080), service("static", 80, 8080, "LoadBalancer", annotations=annotations)],
    )
    assert lb_ip(kube, namespace, "static") == wanted


def test_the_internal_static_ip_is_handed_out_on_request_from_its_own_pool(
    kube: Kube, namespace: str, addresses: LabAddresses
) -> None:
    annotations = {
        "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
        "service.beta.kubernetes.io/azure-load-balancer-ipv4": addresses.internal_static_ip,
    }
    apply(
        kube,
        namespace,
        [*backend("fixed", 8080, 1), service("fixed", 80, 8080, "LoadBalancer", annotations=annotations)],
    )
    assert lb_ip(kube, namespace, "fixed") == addresses.internal_static_ip
    held = kube.get("service", "fixed", namespace)
    assert held is not None
    assert held["metadata"]["annotations"]["metallb.io/ip-allocated-from-pool"] == "internal-static"
    ready(kube, namespace, "fixed")
    wait_for(
        lambda: outside_get(f"http://{addresses.internal_static_ip}/hostname"),
        what="the internal static IP answers inside the VNet",
        timeout_s=30,
    )


def test_no_auto_assign_pool_holds_a_static_ip(kube: Kube, addresses: LabAddresses) -> None:
    statics = {ipaddress.ip_address(addresses.static_ip), ipaddress.ip_address(addresses.internal_static_ip)}
    for pool in kube.list("ipaddresspools.metallb.io", "metallb-system"):
        held = {ip for block in pool["spec"]["addresses"] for ip in _block(block)} & statics
        if pool["spec"].get("autoAssign", True):
            assert not held, f"pool {pool['metadata']['name']} auto-assigns {sorted(map(str, held))}"


def _block(block: str) -> Iterator[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    if "-" in block:
        first, last = (ipaddress.ip_address(x.strip()) for x in block.split("-", 1))
        for network in ipaddress.summarize_address_range(first, last):  # type: ignore[misc]
            yield from network
    else:
        yield from ipaddress.ip_network(block, strict=False)


def test_nodeport_answers_on_every_node(kube: Kube, namespace: str) -> None:
    apply(kube, namespace, [*backend("np", 80, replicas=1), service("np", 80, 80, "NodePort", node_port=30017)])
    ready(kube, namespace, "np")
    nodes = kube.list("nodes")
    assert len(nodes) == 3
    for node in nodes:
        ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
        body = wait_for(
            lambda ip=ip: outside_get(f"http://{ip}:30017/hostname"),  # type: ignore[misc]
            what=f"NodePort 30017 on {node['metadata']['name']}",
            timeout_s=30,
        )
        assert body.startswith("np-")


def _routing_backends(kube: Kube, namespace: str) -> None:
    apply(
        kube,
        namespace,
        [
            *backend("store", 8080, 1),
            service("store", 80, 8080),
            *backend("api", 8080, 1),
            service("api", 80, 8080),
        ],
    )
    ready(kube, namespace, "store")
    ready(kube, namespace, "api")


def _prefix(path: str, svc: str) -> dict[str, object]:
    return {"path": path, "pathType": "Prefix", "backend": {"service": {"name": svc, "port": {"number": 80}}}}


def _assert_routes(kube: Kube, host: str) -> None:
    ip = lb_ip(kube, TRAEFIK_NS, TRAEFIK_SVC)
    for path, svc in (("/store", "store"), ("/api", "api")):
        name = wait_for(
            lambda path=path: outside_get(f"http://{ip}{path}/item", host),  # type: ignore[misc]
            what=f"{host}{path} through Traefik",
            timeout_s=60,
        )
        assert name.startswith(f"{svc}-"), f"{host}{path} reached {name!r}, not {svc}"
    assert wait_for(lambda: outside_status(f"http://{ip}/nowhere", host), what="unknown path", timeout_s=30) == "404"


def test_ingress_routes_by_path_through_traefik(kube: Kube, namespace: str) -> None:
    _routing_backends(kube, namespace)
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "shop"},
        "spec": {
            "rules": [
                {"host": "shop-e2e.example", "http": {"paths": [_prefix("/store", "store"), _prefix("/api", "api")]}}
            ]
        },
    }
    apply(kube, namespace, [ingress])
    _assert_routes(kube, "shop-e2e.example")


def test_an_aks_gateway_and_httproute_route_by_path_through_traefik(kube: Kube, namespace: str, tmp_path: Path) -> None:
    """A Gateway of AKS app routing's class, listener on port 80, works unchanged: Traefik serves it."""
    _routing_backends(kube, namespace)
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "shop-gateway"},
        "spec": {
            "gatewayClassName": "approuting-istio",
            "listeners": [
                {"name": "http", "protocol": "HTTP", "port": 80, "hostname": "shop-gw.example"},
                {
                    "name": "https",
                    "protocol": "HTTPS",
                    "port": 443,
                    "hostname": "shop-gw.example",
                    "tls": {"certificateRefs": [{"name": "shop-tls"}]},
                },
            ],
        },
    }
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "shop"},
        "spec": {
            "parentRefs": [{"name": "shop-gateway"}],  # both listeners
            "hostnames": ["shop-gw.example"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": f"/{svc}"}}],
                    "backendRefs": [{"name": svc, "port": 80}],
                }
                for svc in ("store", "api")
            ],
        },
    }
    # Traefik picks the certificate whose names match the SNI: one for this test's host, made as the lab's is
    made = tmp_path / "shop-tls.yaml"
    subprocess.run(
        [sys.executable, str(ROOT / "tools/tls/lab_certificate.py"), "shop-gw.example", "shop-tls", str(made)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    secret = yaml.safe_load(made.read_text())
    apply(kube, namespace, [secret, gateway, route])
    _assert_routes(kube, "shop-gw.example")
    addresses = (kube.get("gateways.gateway.networking.k8s.io", "shop-gateway", namespace) or {})["status"]["addresses"]
    ip = lb_ip(kube, TRAEFIK_NS, TRAEFIK_SVC)
    assert [a["value"] for a in addresses] == [ip], "Traefik's address, shared"
    # TLS at the gateway, from this machine through the load balancer and through the Traefik pod's portforward
    # stream (what the Gateway lab's check uses where this machine cannot reach the cluster): the same answer
    wanted = ssl.PEM_cert_to_DER_cert(base64.b64decode(secret["data"]["tls.crt"]).decode())
    direct = wait_for(
        lambda: (
            (a, "")
            if (a := https_exchange(ip, 443, "shop-gw.example", "/store", 5)).status == 200
            else (None, a.observed)
        ),
        what="HTTPS through the load balancer",
        timeout_s=30,
    )
    pod = next(p["metadata"]["name"] for p in kube.list("pods", TRAEFIK_NS, "app=traefik"))
    certificate, forwarded = kube.pod_https_get(pod, TRAEFIK_NS, 443, "shop-gw.example", "/store", timeout=10)
    assert direct.certificate == certificate == wanted, "the listener's certificate, by SNI"
    assert direct.body.startswith("store-")
    assert forwarded.body.decode().startswith("store-")


def test_probe_pod_resolves_service_dns_names(kube: Kube, namespace: str) -> None:
    apply(kube, namespace, [*backend("dnsweb", 8080, 1), service("dnsweb", 80, 8080)])
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "labels": managed_labels("e2e")},
        "spec": {
            "containers": [
                {
                    "name": "probe",
                    "image": images.BUSYBOX,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sleep", "3600"],
                }
            ],
            "terminationGracePeriodSeconds": 0,
        },
    }
    apply(kube, namespace, [pod])
    wait_for(lambda: _pod_ready(kube, namespace, "probe"), what="probe pod ready", timeout_s=90)
    cluster_ip = kube.get("service", "dnsweb", namespace)["spec"]["clusterIP"]  # type: ignore[index]
    fqdn = f"dnsweb.{namespace}.svc.cluster.local"

    def lookup() -> tuple[str | None, str]:
        result = kube.exec("probe", namespace, ["nslookup", fqdn], timeout=20)
        return (result.stdout if cluster_ip in result.stdout else None), result.stdout[-300:] + result.stderr[-200:]

    wait_for(lookup, what=f"{fqdn} resolves to {cluster_ip}", timeout_s=30)
    partner = kube.exec("probe", namespace, ["nslookup", f"{names.PARTNER_HOST}."], timeout=20)
    assert partner.code == 0, partner.stdout + partner.stderr
    assert "Address" in partner.stdout, partner.stdout


def _pod_ready(kube: Kube, namespace: str, name: str) -> tuple[bool | None, str]:
    pod = kube.get("pod", name, namespace)
    if pod is None:
        return None, "no pod"
    conditions = pod.get("status", {}).get("conditions") or []
    ok = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return (True if ok else None), f"phase {pod.get('status', {}).get('phase')}"
