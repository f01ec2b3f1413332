"""The one module that talks to the Kubernetes API (through kubectl, JSON in and out).

Everything above this layer sees dicts as the API returns them; nothing parses kubectl's
human-readable text.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from grader._run import Result, RunError, run

Obj = dict[str, Any]
ObjList = list[Obj]  # module-level alias: inside Kube, `list` names the method

# Every object servicelab creates carries these labels, and it deletes only objects that do.
MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "servicelab"
RUN_ID_KEY = "servicelab.dev/run"
MANAGED_LABELS = {MANAGED_BY_KEY: MANAGED_BY_VALUE}

KUBECTL_FIX = "install kubectl (https://kubernetes.io/docs/tasks/tools/) or run 'servicelab up', which provides one"


class KubeError(RuntimeError):
    """kubectl reached the API but the API said no (validation, conflict, ...)."""

    def __init__(self, message: str, result: RunError) -> None:
        super().__init__(message)
        self.result = result


class KubeUnreachable(RuntimeError):
    """No API server answered: an environment problem, never the learner's."""


_UNREACHABLE_MARKERS = (
    "connection refused",
    "unable to connect to the server",
    "no such host",
    "i/o timeout",
    "was refused",
    "context was not found",
    "no configuration has been provided",
    "couldn't get current server api group list",
    "tls handshake timeout",
)


@dataclass(frozen=True)
class Kube:
    """kubectl bound to one kubeconfig/context."""

    context: str | None = None
    kubeconfig: str | None = None
    request_timeout_s: float = 20.0
    impersonate: str | None = None  # act as this user (the learner's ServiceAccount when applying its objects)

    def _base(self) -> list[str]:
        argv = ["kubectl"]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self.context:
            argv += ["--context", self.context]
        if self.impersonate:
            argv += ["--as", self.impersonate]
        return [*argv, f"--request-timeout={int(self.request_timeout_s)}s"]

    def kubectl(self, args: Sequence[str], *, timeout: float | None = None, input_text: str | None = None,
                check: bool = True) -> Result:
        argv = self._base() + list(args)
        try:
            return run(argv, timeout=timeout or self.request_timeout_s + 10, input_text=input_text, check=check)
        except RunError as err:
            text = (err.stderr + err.stdout).lower()
            # "Error from server" means the API server answered (e.g. a webhook behind it refused a connection).
            answered = "error from server" in text
            if err.timed_out or (not answered and any(marker in text for marker in _UNREACHABLE_MARKERS)):
                raise KubeUnreachable(str(err)) from err
            raise KubeError(_api_message(err), err) from err

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        args = ["get", kind, name, "-o", "json", *(["-n", namespace] if namespace else [])]
        result = self.kubectl([*args, "--ignore-not-found"])
        return json.loads(result.stdout) if result.stdout.strip() else None

    def list(self, kind: str, namespace: str | None = None, selector: str | None = None,
             all_namespaces: bool = False) -> list[Obj]:
        args = ["get", kind, "-o", "json"]
        if all_namespaces:
            args.append("--all-namespaces")
        elif namespace:
            args += ["-n", namespace]
        if selector:
            args += ["-l", selector]
        items: list[Obj] = json.loads(self.kubectl(args).stdout).get("items", [])
        return items

    def apply(self, manifest: str, namespace: str | None = None, *, dry_run: bool = False) -> ObjList:
        """Server-side apply YAML/JSON text; returns the objects as the API stored (or would store) them."""
        args = ["apply", "--server-side", "--force-conflicts", "--field-manager=servicelab", "-o", "json", "-f", "-"]
        if dry_run:
            args.append("--dry-run=server")
        if namespace:
            args += ["-n", namespace]
        out = self.kubectl(args, input_text=manifest).stdout
        return _items(json.loads(out)) if out.strip() else []

    def as_user(self, user: str) -> Kube:
        """The same cluster, acting as user (impersonation: the caller's credentials must allow it)."""
        return replace(self, impersonate=user)

    def patch(self, kind: str, name: str, namespace: str | None, merge_patch: Obj) -> None:
        args = ["patch", kind, name, "--type=merge", "-p", json.dumps(merge_patch)]
        self.kubectl([*args, *(["-n", namespace] if namespace else [])])

    def create(self, obj: Obj) -> Obj:
        created: Obj = json.loads(self.kubectl(["create", "-o", "json", "-f", "-"], input_text=json.dumps(obj)).stdout)
        return created

    def delete(self, kind: str, name: str, namespace: str | None = None, *, wait: bool = False) -> None:
        args = ["delete", kind, name, "--ignore-not-found", f"--wait={str(wait).lower()}"]
        if namespace:
            args += ["-n", namespace]
        self.kubectl(args, timeout=120 if wait else None)

    def exec(self, pod: str, namespace: str, command: Sequence[str], *, timeout: float,
             container: str | None = None) -> Result:
        """Run a command in a pod. The subprocess timeout is the outer deadline: exec streams can hang."""
        args = ["exec", pod, "-n", namespace]
        if container:
            args += ["-c", container]
        argv = self._base() + args + ["--", *command]
        try:
            return run(argv, timeout=timeout, check=False)
        except RunError as err:
            raise KubeUnreachable(f"exec in {namespace}/{pod} hung past {timeout:.0f}s") from err

    def delete_all(self, kind: str, namespace: str, *, selector: str | None = None, wait: bool = False,
                   timeout: float = 120.0) -> None:
        """Delete every object of a kind in a namespace (optionally only those matching selector)."""
        args = ["delete", kind, "-n", namespace, "--ignore-not-found", f"--wait={str(wait).lower()}"]
        args += ["-l", selector] if selector else ["--all"]
        self.kubectl(args, timeout=timeout)

    def server_version(self) -> str:
        data = json.loads(self.kubectl(["version", "-o", "json"]).stdout)
        version: str = data.get("serverVersion", {}).get("gitVersion", "unknown")
        return version


def _items(data: Obj) -> list[Obj]:
    if data.get("kind") == "List" or "items" in data:
        items: list[Obj] = data.get("items", [])
        return items
    return [data]


def _api_message(err: RunError) -> str:
    lines = [line for line in err.stderr.strip().splitlines() if line.strip()]
    return "\n".join(lines[-5:]) if lines else str(err)


OWNER_KEY = "servicelab.dev/owner"  # annotation: host/pid of the process that made it (for `servicelab sweep`)


def owner_annotation() -> dict[str, str]:
    return {OWNER_KEY: f"{socket.gethostname()}/{os.getpid()}"}


def managed_labels(run_id: str | None = None) -> dict[str, str]:
    labels = dict(MANAGED_LABELS)
    if run_id:
        labels[RUN_ID_KEY] = run_id
    return labels
