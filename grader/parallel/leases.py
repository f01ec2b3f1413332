"""Claims held on the cluster: one Lease per claim key, so gradings in different processes (two check-solutions
batches, CI and a person on one cluster) never hold colliding claims at once. Inside one batch, chains
(grader.parallel.chains) already keep them apart; the Lease is what another process sees.

A Lease names its holder (host/pid/run id). One whose holder process is gone (same host) or that is older
than LEASE_S is stale and taken over, atomically: the takeover is a patch conditional on the resourceVersion
that was read. Keys are taken in sorted order, so two holders never wait on each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

from grader.base import interrupt
from grader.base.errors import EnvError
from grader.base.wait import WaitTimeout, wait_for
from grader.kube.client import (
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    RUN_ID_KEY,
    Kube,
    KubeError,
    KubeUnreachable,
    Obj,
    UnknownKind,
    managed_labels,
)
from grader.kube.labels import process_alive
from grader.parallel.claims import carriers, lease_key

log = logging.getLogger("servicelab.leases")

NAMESPACE = "servicelab-claims"
LEASE_S = 900  # longer than any one grading (ready 120 s + checks + a 90 s delete)
RELEASE_WAIT_S = 180.0
CLAIM_WAIT_S = 900.0  # another process may hold a claim for a whole grading (LEASE_S)


@contextlib.contextmanager
def holding(kube: Kube, claims: frozenset[str], run_id: str, timeout_s: float) -> Iterator[None]:
    """Hold every claim's lease for the block; EnvError if another holder keeps one past timeout_s."""
    keys = sorted({lease_key(c) for c in claims})
    held: list[str] = []
    try:
        if keys:
            _ensure_namespace(kube)
        for key in keys:
            _take(kube, key, run_id, timeout_s)
            held.append(key)
        yield
    finally:
        with interrupt.shielded():
            for key in held:
                _release(kube, key, run_id)


def release_run(kube: Kube, run_id: str) -> None:
    """Drop every lease a run holds (a dead worker's)."""
    with contextlib.suppress(KubeError, KubeUnreachable):
        kube.delete_all("leases", NAMESPACE, selector=f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE},{RUN_ID_KEY}={run_id}")


def wait_released(kube: Kube, namespace: str, claims: frozenset[str] | None) -> None:
    """After the namespace's delete was asked for: delete the objects carrying claims ourselves and wait until
    they are gone (a terminating namespace keeps serving its HTTPRoute and holding its nodePort until the
    namespace controller gets to them), or wait for the whole namespace when claims has a kind without known
    carriers (or is None). Past the deadline: a warning, and the claims go anyway."""
    kinds = carriers(claims) if claims is not None else None
    try:
        if kinds is None:
            wait_for(
                lambda: (True if kube.get("namespace", namespace) is None else None, "terminating"),
                what=f"namespace {namespace} gone",
                timeout_s=RELEASE_WAIT_S,
                interval_s=0.2,
                max_interval_s=2.0,
            )
            return
        for kind in kinds:
            with contextlib.suppress(UnknownKind):  # that API is not installed: nothing carries the claim
                kube.delete_all(
                    kind, namespace, selector=f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}", wait=True, timeout=RELEASE_WAIT_S
                )
    except (WaitTimeout, KubeError, KubeUnreachable) as err:
        log.warning("claims of %s: %s; releasing them anyway", namespace, err)


def _take(kube: Kube, key: str, run_id: str, timeout_s: float) -> None:
    said = False

    def taken() -> tuple[bool | None, str]:
        nonlocal said
        try:
            if _try_take(kube, key, run_id):
                return True, "taken"
        except KubeUnreachable as err:
            return None, err.diagnosis
        holder = _holder_of(kube, key)
        if not said:  # a wait of minutes must say why
            log.warning("claim %s is %s (another grading on this cluster): waiting up to %.0fs", key, holder, timeout_s)
            said = True
        return None, holder

    try:
        wait_for(taken, what=f"claim {key}", timeout_s=timeout_s, interval_s=0.5, max_interval_s=2.0)
    except WaitTimeout as err:
        raise EnvError(f"claim {key} is held elsewhere: {err}") from err


def _name(key: str) -> str:
    return "claim-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _identity(run_id: str) -> str:
    return f"{socket.gethostname()}/{os.getpid()}/{run_id}"


def _lease(key: str, run_id: str) -> Obj:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": _name(key),
            "namespace": NAMESPACE,
            "labels": managed_labels(run_id),
            "annotations": {"servicelab.dev/claim": key},
        },
        "spec": {
            "holderIdentity": _identity(run_id),
            "leaseDurationSeconds": LEASE_S,
            "acquireTime": now,
            "renewTime": now,
        },
    }


def _try_take(kube: Kube, key: str, run_id: str) -> bool:
    try:
        kube.create(_lease(key, run_id))
        return True
    except KubeError as err:
        if err.reason != "AlreadyExists":
            raise EnvError(f"cannot take claim {key}: {err}") from err
    current = kube.get("leases", _name(key), NAMESPACE)
    if current is None or not _stale(current):
        return False  # gone meanwhile (the next try creates it) or held
    fresh = _lease(key, run_id)
    fresh["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]  # only if still that stale one
    try:
        kube.patch("leases", _name(key), NAMESPACE, {"metadata": fresh["metadata"], "spec": fresh["spec"]})
    except KubeError as err:
        if err.reason in ("Conflict", "NotFound"):
            return False  # another taker was first
        raise EnvError(f"cannot take over claim {key}: {err}") from err
    log.warning("took over stale claim %s from %s", key, current.get("spec", {}).get("holderIdentity"))
    return True


def _stale(lease: Obj) -> bool:
    spec = lease.get("spec") or {}
    host, _, rest = str(spec.get("holderIdentity", "")).partition("/")
    pid = rest.partition("/")[0]
    if host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid)):
        return True
    renewed = str(spec.get("renewTime") or "")
    try:
        age = (datetime.now(UTC) - datetime.fromisoformat(renewed.replace("Z", "+00:00"))).total_seconds()
    except ValueError:
        return True  # no readable time: nobody can be sure it is held
    return age > float(spec.get("leaseDurationSeconds") or LEASE_S)


def _holder_of(kube: Kube, key: str) -> str:
    with contextlib.suppress(KubeError, KubeUnreachable):
        lease = kube.get("leases", _name(key), NAMESPACE)
        if lease is not None:
            return f"held by {lease.get('spec', {}).get('holderIdentity')}"
    return "free"


def _release(kube: Kube, key: str, run_id: str) -> None:
    with contextlib.suppress(KubeError, KubeUnreachable):  # left behind, it goes stale and is taken over
        lease = kube.get("leases", _name(key), NAMESPACE)
        if lease is not None and (lease.get("spec") or {}).get("holderIdentity") == _identity(run_id):
            kube.delete("leases", _name(key), NAMESPACE)


def _ensure_namespace(kube: Kube) -> None:
    try:
        if kube.get("namespace", NAMESPACE) is None:
            kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": NAMESPACE, "labels": {**managed_labels(), "servicelab.dev/role": "claims"}},
                }
            )
    except KubeError as err:
        if err.reason != "AlreadyExists":
            raise EnvError(f"cannot create namespace {NAMESPACE} for claims: {err}") from err
    except KubeUnreachable as err:
        raise EnvError(err.diagnosis) from err
