"""A kube-proxy that kept an old node address: status, doctor and grading name it, `up` replaces it.

After a machine restart a node container can come back at a new address and start kube-proxy before its kubelet
has published that address. kube-proxy (nftables mode) then serves node ports only on the old address, for good,
while every pod is Ready. This test makes that state on purpose, on one worker: it sets the Node's InternalIP to an
address nobody has, right after the kubelet's own status update (so the kubelet puts it back only ~10 s later), and
replaces that node's kube-proxy pod meanwhile. The new kube-proxy's log says which address it took.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from grader.base import names
from grader.base.wait import wait_for
from grader.cluster import nodeports
from grader.kube.client import Kube, KubeError, KubeUnreachable

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive]

REPO = Path(__file__).parent.parent.parent
NODE = "servicelab-worker"
NOBODY = "172.18.0.250"  # in the kind network, far above what docker hands out to six containers
KUBELET_REPORTS_S = 10  # kubelet's nodeStatusUpdateFrequency: it puts a changed address back within this


def _internal_ip(kube: Kube) -> str:
    return nodeports.node_ips(kube)[NODE]


def _set_internal_ip(kube: Kube, ip: str) -> None:
    patch = [{"op": "replace", "path": "/status/addresses/0", "value": {"type": "InternalIP", "address": ip}}]
    kube.json_patch("node", NODE, None, patch, subresource="status")


def _kube_proxy_pod(kube: Kube) -> str | None:
    pods = kube.list("pods", "kube-system", selector=nodeports.KUBE_PROXY)
    alive = [p for p in pods if p["spec"].get("nodeName") == NODE and not p["metadata"].get("deletionTimestamp")]
    return alive[0]["metadata"]["name"] if alive else None


def _replacement(kube: Kube, old: str) -> tuple[str | None, str]:
    pod = _kube_proxy_pod(kube)
    return (pod if pod not in (None, old) else None), f"kube-proxy pod on {NODE}: {pod}"


def _address_taken(kube: Kube, pod: str) -> tuple[str | None, str]:
    """The node address kube-proxy read at start, from its log (readable once the kubelet is reachable again)."""
    try:
        logs = kube.pod_log(pod, "kube-system")
    except (KubeError, KubeUnreachable) as err:  # e.g. the API server cannot reach the kubelet yet: poll again
        return None, str(err).strip()[-200:]
    for line in logs.splitlines():
        if "Successfully retrieved NodeIPs" in line:
            return line.rsplit("NodeIPs=", 1)[-1], line
    return None, (logs or "no log yet").strip()[-200:]


def _make_kube_proxy_stale(kube: Kube, real_ip: str) -> str:
    """Returns the address the new kube-proxy took; NOBODY when the kubelet's next report came too late to win."""
    _set_internal_ip(kube, NOBODY)
    wait_for(  # the kubelet's report that puts the address back: its next one is KUBELET_REPORTS_S away
        lambda: (True if _internal_ip(kube) == real_ip else None, f"InternalIP {_internal_ip(kube)}"),
        what="the kubelet restoring the node's address",
        timeout_s=3 * KUBELET_REPORTS_S,
        interval_s=0.1,
    )
    _set_internal_ip(kube, NOBODY)
    old = _kube_proxy_pod(kube)
    assert old is not None
    kube.delete("pod", old, "kube-system")
    new = wait_for(lambda: _replacement(kube, old), what="a new kube-proxy pod", timeout_s=60, interval_s=0.2)
    return wait_for(lambda: _address_taken(kube, new), what=f"kube-proxy {new} logging its node address", timeout_s=90)


def _host_network_pods(kube: Kube) -> list[dict[str, Any]]:
    """The node's hostNetwork pods but kube-proxy: the kubelet gives such a pod the node's address as its pod IP
    when it writes the pod's status, so one it wrote while the node showed NOBODY keeps NOBODY (R23: MetalLB's
    speaker, restarting after the previous disruptive test, was probed at NOBODY from then on)."""
    return [
        p
        for p in kube.list("pods", all_namespaces=True)
        if p["spec"].get("nodeName") == NODE
        and p["spec"].get("hostNetwork")
        and "kube-proxy" not in p["metadata"]["name"]
    ]


def _mend_collateral(kube: Kube) -> None:
    """Replace the hostNetwork pods this test left with NOBODY as their address, and wait until all are ready."""
    for pod in _host_network_pods(kube):
        if (pod.get("status") or {}).get("podIP") == NOBODY:
            kube.delete("pod", str(pod["metadata"]["name"]), str(pod["metadata"]["namespace"]))

    def settled() -> tuple[bool | None, str]:
        pods = _host_network_pods(kube)
        waiting = [
            f"{p['metadata']['name']} at {(p.get('status') or {}).get('podIP')}"
            for p in pods
            if (p.get("status") or {}).get("podIP") == NOBODY
            or not any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (p.get("status") or {}).get("conditions") or []
            )
        ]
        return (None if waiting else True), f"not ready on {NODE}: {', '.join(waiting) or 'none'}"

    wait_for(settled, what=f"the hostNetwork pods of {NODE} ready at its address", timeout_s=180, interval_s=1.0)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader.cli", *args], check=False, capture_output=True, text=True, timeout=600
    )


def test_stale_kube_proxy_is_named_by_status_doctor_and_grading_and_replaced_by_up(
    kube: Kube, context: str, tmp_path: Path
) -> None:
    real_ip = _internal_ip(kube)
    _mend_collateral(kube)  # a pod still restarting after the previous test would take NOBODY as its address
    try:
        deadline = time.monotonic() + 120
        taken = _make_kube_proxy_stale(kube, real_ip)
        while NOBODY not in taken and time.monotonic() < deadline:  # the pod started after the kubelet's report
            taken = _make_kube_proxy_stale(kube, real_ip)
        assert NOBODY in taken, f"kube-proxy kept taking the real address: {taken}"
        wait_for(
            lambda: (True if _internal_ip(kube) == real_ip else None, f"InternalIP {_internal_ip(kube)}"),
            what="the kubelet restoring the node's address",
            timeout_s=3 * KUBELET_REPORTS_S,
        )
        _mend_collateral(kube)  # only kube-proxy is to be stale: status must have nothing else to say

        status = _cli("status")
        assert status.returncode == 3, status.stdout + status.stderr
        assert f"node {NODE}: node port {names.TRAEFIK_NODE_PORT} refused" in status.stdout, status.stdout
        doctor = _cli("doctor")
        assert doctor.returncode != 0, doctor.stdout
        assert f"FAIL node ports: {NODE} ({real_ip}): node port {names.TRAEFIK_NODE_PORT} refused" in doctor.stdout
        assert f"spec.nodeName={NODE}" in doctor.stdout, doctor.stdout

        # A correct answer graded now: the node's refusal is the environment's, never the learner's lost points.
        report = tmp_path / "r.json"
        solution = str(REPO / "labs/nodeport/solution")
        graded = _cli("grade", "nodeport", "--manifests", solution, "--context", context, "--json", str(report))
        said = " ".join((graded.stdout + graded.stderr).split())
        assert graded.returncode == 3, said
        assert f"node {real_ip} refuses every node port, Traefik's {names.TRAEFIK_NODE_PORT} too" in said
        assert "servicelab up" in said
        assert json.loads(report.read_text())["verdict"] == "ENV-ERROR"
        assert json.loads(report.read_text()).get("score") is None

        up = _cli("up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "once kube-proxy kube-proxy-" in up.stdout, up.stdout
        assert all(not p.problem for p in nodeports.probe(kube))
        healthy = _cli("status")
        assert healthy.returncode == 0, healthy.stdout
        assert "All healthy." in healthy.stdout
    finally:
        if _internal_ip(kube) != real_ip:
            _set_internal_ip(kube, real_ip)
        _mend_collateral(kube)
        if any(p.problem for p in nodeports.probe(kube)):
            nodeports.replace_kube_proxy(kube, [NODE])
            wait_for(lambda: nodeports.answering(kube), what="node ports answering again", timeout_s=120)
