"""Claims held on the cluster: one Lease per claim key, so gradings in different processes (two check-solutions
batches, CI and a person on one cluster) never hold colliding claims at once. Inside one batch, chains
(grader.parallel.chains) already keep them apart; the Lease is what another process sees.

A Lease names its holder (host/pid/run id). One whose holder process is gone (same host) or that is older
than LEASE_S is stale and taken over, atomically: the takeover is a patch conditional on the resourceVersion
that was read. Keys are taken in sorted order, so two holders never wait on each other.

HTTP hosts: an exact host locks its own key (`http-host:ada.shop.example`), so gradings of different hosts run at
once; every wildcard claim (a hostless route) locks the gate `http-host:*` (claims.lease_key). The gate and the
exact hosts are kept apart in two steps that cannot both pass at once: a gate holder takes the gate first (before
any other key) and then waits until no other holder has an exact host; an exact-host holder, once it has all its
keys, looks at the gate, and if another holds it, lets go of every key and waits for the gate to be free before
taking them again. Whichever of the two took its key first is seen by the other's look.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import time
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
from grader.parallel.claims import WILDCARD_KINDS, carriers, gate_key, lease_key

log = logging.getLogger("servicelab.leases")

NAMESPACE = "servicelab-claims"
LEASE_S = 900  # longer than any one grading (ready 120 s + checks + a 90 s delete)
RELEASE_WAIT_S = 180.0
CLAIM_KEY = "servicelab.dev/claim"  # a Lease's annotation: the claim key it locks
CLAIM_WAIT_S = 900.0  # another process may hold a claim for a whole grading (LEASE_S)


@contextlib.contextmanager
def holding(kube: Kube, claims: frozenset[str], run_id: str, timeout_s: float) -> Iterator[None]:
    """Hold every claim's lease for the block; EnvError if another holder keeps one past timeout_s."""
    keys = sorted({lease_key(c) for c in claims})
    gates = [k for k in keys if k in GATES]
    rest = [k for k in keys if k not in gates]
    guarded = sorted({gate_key(k.partition(":")[0]) for k in rest if k.partition(":")[0] in WILDCARD_KINDS})
    deadline = time.monotonic() + timeout_s
    held: list[str] = []
    try:
        if keys:
            _ensure_namespace(kube)
        for gate in gates:  # first, holding nothing else: exact-host holders never wait on this grading
            _take(kube, gate, run_id, _left(deadline))
            held.append(gate)
            _wait_exact_hosts_gone(kube, gate, run_id, _left(deadline))
        while True:
            for key in rest:
                _take(kube, key, run_id, _left(deadline))
                held.append(key)
            closed = [g for g in guarded if g not in gates and _held_by_other(kube, g, run_id)]
            if not closed:
                break
            for key in rest:  # a wildcard claim elsewhere covers our hosts: let go, wait for it, take them again
                _release(kube, key, run_id)
                held.remove(key)
            _wait_free(kube, closed[0], run_id, _left(deadline))
        yield
    finally:
        with interrupt.shielded():
            for key in held:
                _release(kube, key, run_id)


GATES = frozenset(gate_key(kind) for kind in WILDCARD_KINDS)


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _held_by_other(kube: Kube, key: str, run_id: str) -> bool:
    """key's Lease is held, live, by another holder."""
    try:
        lease = kube.get("leases", _name(key), NAMESPACE)
    except KubeUnreachable as err:
        raise EnvError(err.diagnosis) from err
    return lease is not None and _holder(lease) != _identity(run_id) and not _stale(lease)


def _wait_free(kube: Kube, key: str, run_id: str, timeout_s: float) -> None:
    def free() -> tuple[bool | None, str]:
        try:
            return (True, "free") if not _held_by_other(kube, key, run_id) else (None, _holder_of(kube, key))
        except EnvError as err:
            return None, str(err)

    log.warning("claim %s (a route for every host) is held elsewhere: waiting up to %.0fs", key, timeout_s)
    try:
        wait_for(free, what=f"claim {key}", timeout_s=timeout_s, interval_s=0.5, max_interval_s=2.0)
    except WaitTimeout as err:
        raise EnvError(f"claim {key} is held elsewhere: {err}") from err


def _wait_exact_hosts_gone(kube: Kube, gate: str, run_id: str, timeout_s: float) -> None:
    """Holding gate: wait until no other holder has a live exact key of the gate's kind."""
    kind = gate.partition(":")[0]

    def others() -> tuple[bool | None, str]:
        try:
            leases = kube.list("leases", NAMESPACE, selector=f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}")
        except (KubeError, KubeUnreachable) as err:
            return None, str(err)
        busy = sorted(
            str(lease["metadata"].get("annotations", {}).get(CLAIM_KEY))
            for lease in leases
            if str((lease["metadata"].get("annotations") or {}).get(CLAIM_KEY, "")).startswith(f"{kind}:")
            and (lease["metadata"].get("annotations") or {}).get(CLAIM_KEY) != gate
            and _holder(lease) != _identity(run_id)
            and not _stale(lease)
        )
        return (True, "none") if not busy else (None, f"held elsewhere: {', '.join(busy)}")

    try:
        wait_for(
            others, what=f"claim {gate}: no other {kind} held", timeout_s=timeout_s, interval_s=0.5, max_interval_s=2.0
        )
    except WaitTimeout as err:
        raise EnvError(f"claim {gate} waits on hosts held elsewhere: {err}") from err


def _holder(lease: Obj) -> str:
    return str((lease.get("spec") or {}).get("holderIdentity", ""))


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
            "annotations": {CLAIM_KEY: key},
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
        with interrupt.shielded():  # a lease made by a POST the signal cut off would hold its claim unseen
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
