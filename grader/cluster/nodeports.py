"""Node ports on every node, checked from outside the cluster, and the repair `up` makes.

kube-proxy in nftables mode with nodePortAddresses unset (kind's setup) accepts node-port traffic only on the
node IP it read from its Node when it started, and keeps it: a later change of that address is logged, not
applied. A node container that restarts at a new address can start kube-proxy before its kubelet has published
the address; that node then refuses every node port while all its pods are Ready. Traefik's fixed node port is
the witness: any HTTP answer, its 404 included, means kube-proxy forwarded the connection.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from grader.base.errors import EnvironmentFault
from grader.base.names import OUTSIDE_CONTAINER, TRAEFIK_NODE_PORT
from grader.base.run import RunError, ToolMissing, run
from grader.cluster.readiness import internal_ip
from grader.kube.client import Kube

KUBE_PROXY = "k8s-app=kube-proxy"
_TRY_S = 2  # busybox timeout counts whole seconds
_ANSWER = re.compile(r"^@@(?P<at>\d+) (?P<rc>\d+) ?(?P<message>.*)$", re.MULTILINE)


@dataclass(frozen=True)
class NodePort:
    node: str
    ip: str
    problem: str  # "" when the node answered

    def __str__(self) -> str:
        return f"{self.node} ({self.ip}): {self.problem or 'answers'}"


class NotProbed(EnvironmentFault, RuntimeError):
    """The outside container could not run the probe: nothing is known about the node ports."""


def node_ips(kube: Kube) -> dict[str, str]:
    return {node["metadata"]["name"]: internal_ip(node) for node in kube.list("nodes")}


def probe(kube: Kube) -> list[NodePort]:
    """One HTTP GET to the witness port of every node, all at once, from the outside container."""
    ips = node_ips(kube)
    lines = ["d=$(mktemp -d)"]
    for index, ip in enumerate(ips.values()):
        url = shlex.quote(f"http://{ip}:{TRAEFIK_NODE_PORT}/")
        lines.append(
            f"( timeout {_TRY_S} wget -q -O /dev/null {url} 2>$d/{index}; "
            f'echo "@@{index} $? $(tail -n 1 $d/{index})" ) &'
        )
    lines += ["wait", "rm -rf $d"]
    argv = ["docker", "exec", OUTSIDE_CONTAINER, "sh", "-c", "\n".join(lines)]
    try:
        result = run(argv, timeout=_TRY_S + 20, check=False)
    except (RunError, ToolMissing) as err:
        raise NotProbed(f"docker exec into {OUTSIDE_CONTAINER}: {err}") from err
    answers: dict[int, tuple[int, str]] = {}
    for found in _ANSWER.finditer(result.stdout):
        answers[int(found["at"])] = (int(found["rc"]), found["message"])
    if len(answers) != len(ips):
        raise NotProbed(f"docker exec into {OUTSIDE_CONTAINER} (exit {result.code}): {result.stderr.strip()[-300:]}")
    return [NodePort(node, ip, _problem(ip, *answers[index])) for index, (node, ip) in enumerate(ips.items())]


def _problem(ip: str, rc: int, message: str) -> str:
    if rc == 0 or "server returned error: HTTP/" in message:
        return ""
    if "refused" in message:
        return (
            f"node port {TRAEFIK_NODE_PORT} refused: this node's kube-proxy does not serve node ports on {ip} "
            "(it keeps the node address it read when it started)"
        )
    if rc in (124, 143):
        return f"node port {TRAEFIK_NODE_PORT}: no answer within {_TRY_S}s"
    return f"node port {TRAEFIK_NODE_PORT}: {message or f'wget exit {rc}'}"


def answering(kube: Kube) -> tuple[list[NodePort] | None, str]:
    """For wait_for: every node once all answer; else the nodes that do not."""
    ports = probe(kube)
    silent = [p for p in ports if p.problem]
    return (None if silent else ports), "; ".join(map(str, silent)) or "every node answers"


def replace_kube_proxy(kube: Kube, nodes: list[str]) -> list[str]:
    """Delete the kube-proxy pods of these nodes; their DaemonSet starts new ones, which read the node's
    current address. Returns the pods deleted."""
    deleted = []
    for pod in kube.list("pods", "kube-system", selector=KUBE_PROXY):
        if pod.get("spec", {}).get("nodeName") in nodes:
            kube.delete("pod", pod["metadata"]["name"], "kube-system")
            deleted.append(pod["metadata"]["name"])
    return deleted


def examine(kube: Kube, up: str) -> tuple[bool, str, str]:
    """For doctor: whether every node answers, what was seen, and what repairs it (`up` or by hand)."""
    try:
        ports = probe(kube)
    except NotProbed as err:
        return False, str(err), f"{up} (starts the outside container)"
    silent = [p for p in ports if p.problem]
    if not silent:
        return True, f"{TRAEFIK_NODE_PORT} answers on {len(ports)} nodes from {OUTSIDE_CONTAINER}", ""
    by_hand = "; ".join(
        f"kubectl -n kube-system delete pod -l {KUBE_PROXY} --field-selector spec.nodeName={p.node}" for p in silent
    )
    nodes = ", ".join(p.node for p in silent)
    return False, "; ".join(map(str, silent)), f"{up} (replaces the kube-proxy pod of {nodes}), or: {by_hand}"
