"""`servicelab sweep`: remove what runs that died left behind (their grading and probe namespaces).

A namespace is a dead run's when the process named in its owner annotation is gone (same host), or when
it is older than the limit (another host, or no owner). Learners' notebook namespaces (role workspace)
are never swept. A namespace stuck terminating has the finalizers of every object in it removed, labelled or not
(a learner's pod template carries no label of ours), and its pods deleted at once.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

from grader.kube.client import MANAGED_BY_KEY, MANAGED_BY_VALUE, OWNER_KEY, Kube, KubeError, Obj
from grader.kube.labels import process_alive

EPHEMERAL_ROLES = ("grading", "probe")


@dataclass(frozen=True)
class Swept:
    namespace: str
    why: str


def sweep(kube: Kube, older_than_s: float, now: datetime | None = None) -> list[Swept]:
    """Delete the ephemeral namespaces of dead runs; returns what was deleted and why."""
    now = now or datetime.now(UTC)
    swept: list[Swept] = []
    for ns in kube.list("namespaces", selector=f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}"):
        meta = ns.get("metadata", {})
        if meta.get("labels", {}).get("servicelab.dev/role") not in EPHEMERAL_ROLES:
            continue
        why = dead_because(meta, older_than_s, now)
        if why is None:
            continue
        name = meta["name"]
        if ns.get("status", {}).get("phase") == "Terminating":
            _drop_finalizers(kube, name)
        else:
            kube.delete("namespace", name)
        swept.append(Swept(name, why))
    return swept


def dead_because(meta: Obj, older_than_s: float, now: datetime) -> str | None:
    """Why the run that made this namespace is over, or None while it may still be running."""
    owner = (meta.get("annotations") or {}).get(OWNER_KEY, "")
    host, _, pid = owner.partition("/")
    if host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid)):
        return f"its process {pid} is gone"
    created = meta.get("creationTimestamp")
    if created:
        age = (now - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds()
        if age > older_than_s:
            return f"{age / 60:.0f} min old (limit {older_than_s / 60:.0f} min)"
    return None


def _drop_finalizers(kube: Kube, namespace: str) -> None:
    """Everything in a namespace of ours is ours or the learner's it was made for: no label selector."""
    with contextlib.suppress(KubeError):
        kube.delete_all("pods", namespace, grace_period_s=0)
    kinds: list[str] = []
    with contextlib.suppress(KubeError):
        kinds = kube.namespaced_kinds()
    for kind in kinds:
        with contextlib.suppress(KubeError):  # a kind we may not list, or one gone since discovery
            for obj in kube.list(kind, namespace):
                if obj.get("metadata", {}).get("finalizers"):
                    kube.patch(kind, obj["metadata"]["name"], namespace, {"metadata": {"finalizers": None}})
