"""What a learner's pod may be on a shared cluster: ordinary, small, unprivileged, running the lab's images.

Pod Security `baseline` enforces much of this in the grading namespace too; judging it here first refuses the
manifest before any cluster contact, with the file and the line.
"""

from __future__ import annotations

from typing import Any

from grader.intake.manifests import Doc, refusal

POD_VOLUMES = frozenset({"name", "configMap", "emptyDir", "downwardAPI"})
MAX_REPLICAS = 6


def judge_pod_spec(doc: Doc, images: tuple[str, ...]) -> None:
    """A Pod's or a Deployment's pod template: an ordinary, small, unprivileged pod of the lab's images."""
    spec = doc.obj.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or {} if doc.kind == "Deployment" else spec
    if doc.kind == "Deployment" and (spec.get("replicas") or 1) > MAX_REPLICAS:
        raise refusal(
            doc,
            f"replicas: {spec['replicas']} is more than {MAX_REPLICAS}",
            "lab workloads are small: the cluster is shared",
            "replicas: 3",
            at=("spec", "replicas"),
        )
    for key in (
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "nodeName",
        "runtimeClassName",
        "serviceAccountName",
        "serviceAccount",
    ):
        if pod.get(key) not in (None, False, ""):
            raise refusal(
                doc,
                f"pod field {key} is not accepted",
                "lab pods run as ordinary pods: no host namespaces, no chosen node, runtime or service account",
                f"remove {key}",
            )
    if (pod.get("securityContext") or {}).get("sysctls"):
        raise refusal(
            doc,
            "pod sysctls are not accepted",
            "lab pods do not tune the node's kernel",
            "remove securityContext.sysctls",
        )
    for volume in pod.get("volumes") or []:
        extra = set(volume) - POD_VOLUMES
        if extra:
            raise refusal(
                doc,
                f"volume {volume.get('name')} uses {sorted(extra)[0]}",
                f"lab pods may mount only {', '.join(sorted(POD_VOLUMES - {'name'}))}",
                "remove the volume",
            )
    for container in [
        *(pod.get("initContainers") or []),
        *(pod.get("containers") or []),
        *(pod.get("ephemeralContainers") or []),
    ]:
        _judge_container(doc, container, images)


def _judge_container(doc: Doc, container: dict[str, Any], images: tuple[str, ...]) -> None:
    name = container.get("name")
    if container.get("image") not in images:
        raise refusal(
            doc,
            f"container {name} uses image {container.get('image')}",
            f"lab pods run the lab's images: {', '.join(images)}",
            "use one of those images",
        )
    security = container.get("securityContext") or {}
    if security.get("privileged") or (security.get("capabilities") or {}).get("add"):
        raise refusal(
            doc,
            f"container {name} asks for privileges",
            "lab containers are unprivileged",
            "remove securityContext.privileged and capabilities.add",
        )
    if any(isinstance(p, dict) and p.get("hostPort") for p in container.get("ports") or []):
        raise refusal(
            doc,
            f"container {name} uses a hostPort",
            "a hostPort takes a port on the node",
            "remove hostPort: a Service exposes the pod",
        )
