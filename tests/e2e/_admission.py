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
