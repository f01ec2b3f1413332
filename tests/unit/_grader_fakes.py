"""Fakes for the grader's unit tests: a scripted vantage point, a local-busybox vantage point, a fake Kube."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from grader.cluster.facts import ClusterFacts, Node
from grader.probes.base import ProbePolicy, Vantage
from grader.probes.shell import Op, Outcome, build_script, new_nonce, parse_output

FAST = ProbePolicy(per_try_s=1.0, deadline_s=3.0, backoff_s=0.01, exec_slack_s=5.0, hostname_rounds_size=4)


def http_ok(body: str = "ok", status: int = 200) -> Outcome:
    return Outcome(0, f"Connecting to x\n  HTTP/1.1 {status} OK", body)


REFUSED = Outcome(1, "wget: can't connect to remote host (10.0.0.1): Connection refused", "")
TIMEOUT = Outcome(143, "", "")


class ScriptedVantage(Vantage):
    """Answers each op with respond(op, call_number); counts exec rounds."""

    def __init__(
        self,
        respond: Callable[[Op, int], Outcome],
        name: str = "probe pod",
        reason: str = "",
        known_good: str | None = None,
    ) -> None:
        super().__init__(name, FAST)
        self.respond = respond
        self.rounds: list[list[Op]] = []
        self.per_tries: list[float] = []  # each round's per-try timeout
        self.reason = reason
        self.known_good = known_good

    def unavailable_reason(self) -> str:
        return self.reason

    def _run_ops(self, ops: list[Op], per_try_s: float, timeout_s: float) -> list[Outcome]:
        self.rounds.append(list(ops))
        self.per_tries.append(per_try_s)
        return [self.respond(op, len(self.rounds)) for op in ops]


class LocalBusyboxVantage(Vantage):
    """Runs the real probe script with this machine's busybox: the script and its parser, end to end."""

    def __init__(self) -> None:
        super().__init__("local busybox", FAST)

    def _run_ops(self, ops: list[Op], per_try_s: float, timeout_s: float) -> list[Outcome]:
        nonce = new_nonce()
        busybox = shutil.which("busybox")
        assert busybox
        proc = subprocess.run(
            [busybox, "sh", "-c", build_script(ops, per_try_s, nonce)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        out = parse_output(proc.stdout, len(ops), nonce)
        assert out is not None, proc.stdout + proc.stderr
        return out


class FakeKube:
    """Just enough of grader.kube.client.Kube for LabContext: objects by (kind, namespace)."""

    context = "fake"

    def __init__(
        self, objects: dict[str, list[dict[str, Any]]] | None = None, cluster_entry: str | None = "kind-servicelab"
    ) -> None:
        self.objects = objects or {}
        self.calls: list[tuple[str, ...]] = []
        self.cluster_entry = cluster_entry  # the kubeconfig's name for the cluster

    def kubeconfig_cluster(self) -> str | None:
        return self.cluster_entry

    def list(
        self, kind: str, namespace: str | None = None, selector: str | None = None, all_namespaces: bool = False
    ) -> list[dict[str, Any]]:
        self.calls.append(("list", kind, selector or ""))
        items = self.objects.get(kind, [])
        for term in (selector or "").split(","):  # key=value terms, all of them
            if "=" in term:
                key, value = term.split("=", 1)
                items = [o for o in items if o.get("metadata", {}).get("labels", {}).get(key) == value]
        return items

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        self.calls.append(("get", kind, name))
        plural = kind if kind.endswith("s") else kind + "s"
        return next((o for o in self.objects.get(plural, []) if o["metadata"]["name"] == name), None)


def facts() -> ClusterFacts:
    return ClusterFacts(
        context="fake",
        is_kind=True,
        nodes=[Node("cp", "172.18.0.2", True), Node("w1", "172.18.0.3"), Node("w2", "172.18.0.4")],
        variables={"STATIC_IP": "172.18.255.210", "INTERNAL_STATIC_IP": "172.18.255.230"},
    )


def pod(
    name: str,
    labels: dict[str, str],
    ready: bool = True,
    ports: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "ports": ports or [{"name": "http", "containerPort": 8080}]}]},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def service(
    name: str, selector: dict[str, str], target_port: int | str = 8080, type_: str = "ClusterIP", **extra: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": type_,
        "clusterIP": "10.96.0.10",
        "selector": selector,
        "ports": [{"port": 80, "targetPort": target_port, "protocol": "TCP"}],
    }
    spec.update(extra.pop("spec", {}))
    return {"metadata": {"name": name, "namespace": "ns", **extra}, "spec": spec, "status": {}}


def endpoint_slice(service_name: str, pods: list[str], ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{service_name}-abc", "labels": {"kubernetes.io/service-name": service_name}},
        "endpoints": [
            {
                "addresses": [f"10.244.0.{i + 10}"],
                "conditions": {"ready": ready},
                "targetRef": {"kind": "Pod", "name": p},
            }
            for i, p in enumerate(pods)
        ],
    }
