"""What the API server's admission says of an object, without making it: the walls' e2e tests ask it this way."""

from __future__ import annotations

import json

from grader.kube.client import Kube, KubeError, Obj, managed_labels


def refusal(kube: Kube, namespace: str, obj: Obj) -> KubeError | None:
    """The API server's refusal of a dry-run create of obj (labelled as ours), or None when it would be admitted."""
    labelled = {**obj, "metadata": {**obj["metadata"], "labels": managed_labels()}}
    try:
        kube.apply(json.dumps(labelled), namespace, dry_run=True)
    except KubeError as err:
        return err
    return None


def enforced(kube: Kube, policies: list[str], namespace: str, canaries: list[Obj]) -> tuple[bool | None, str]:
    """A wait_for condition: every policy type-checked by the API server without a warning, and every canary (an
    object the policies must refuse) refused in namespace."""
    for name in policies:
        stored = kube.get("validatingadmissionpolicy", name) or {}
        status = stored.get("status") or {}
        warnings = (status.get("typeChecking") or {}).get("expressionWarnings") or []
        assert not warnings, f"{name}: the API server's type check warns: {warnings}"
        if status.get("observedGeneration") != (stored.get("metadata") or {}).get("generation"):
            return None, f"{name} not type-checked yet"
    admitted = [c["kind"] for c in canaries if refusal(kube, namespace, c) is None]
    return (True, "enforced") if not admitted else (None, f"still admitted: {admitted}")
