"""What a learner's pod may be on a shared cluster: ordinary, small, unprivileged, placed by the scheduler,
running the lab's images.

A Pod's spec and a Deployment's pod template are judged field by field against what the labs' pods use
(containers with probes and ports, a short grace period): every pod and container field is either free (it
changes only the pod itself), judged here, or refused with the reason. A field this module does not name,
such as one a newer API adds, is refused too. `hostUsers` is free: true is every pod's default and false
gives the pod user namespaces of its own, more isolated, not less.

The cluster enforces the same rules on every pod in a grading namespace (grader.cluster.podguard: a
ValidatingAdmissionPolicy, and the namespace's LimitRange); judging them here first refuses the manifest
before any cluster contact, with the file and the line.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from grader.cluster import podguard
from grader.intake.manifests import GRADER_PREFIXES, Doc, refusal

POD_VOLUMES = frozenset({"name", "configMap", "emptyDir", "downwardAPI"})
MAX_REPLICAS = 6
PLACED = "the scheduler places lab pods on the worker nodes with its defaults"
# pod fields that change only the pod itself
FREE_POD_FIELDS = frozenset(
    {
        "activeDeadlineSeconds",
        "automountServiceAccountToken",
        "dnsConfig",
        "dnsPolicy",
        "enableServiceLinks",
        "hostAliases",
        "hostUsers",
        "hostname",
        "restartPolicy",
        "setHostnameAsFQDN",
        "shareProcessNamespace",
        "subdomain",
    }
)
JUDGED_POD_FIELDS = frozenset(
    {"containers", "initContainers", "volumes", "securityContext", "terminationGracePeriodSeconds"}
)
# pod field -> why no lab pod sets it
REFUSED_POD_FIELDS = {
    "hostNetwork": "lab pods run as ordinary pods: no host namespaces",
    "hostPID": "lab pods run as ordinary pods: no host namespaces",
    "hostIPC": "lab pods run as ordinary pods: no host namespaces",
    "nodeName": f"{PLACED}: a named node can be the control plane",
    "nodeSelector": f"{PLACED}: a node selector can pick the control plane",
    "affinity": f"{PLACED}: node affinity picks nodes, and a required pod anti-affinity keeps other "
    "namespaces' pods off a node",
    "tolerations": f"{PLACED}: a toleration lets a pod onto the control-plane node",
    "topologySpreadConstraints": PLACED,
    "schedulerName": PLACED,
    "schedulingGates": PLACED,
    "schedulingGroup": PLACED,
    "priorityClassName": "a priority class lets a pod preempt the cluster's own pods (system-node-critical "
    "outranks CoreDNS, Traefik and the grader's probes)",
    "priority": "a pod's priority comes from its priority class, and lab pods have none",
    "preemptionPolicy": "a pod's preemption policy comes from its priority class, and lab pods have none",
    "runtimeClassName": "lab pods use the node's default container runtime",
    "overhead": "lab pods use the node's default container runtime",
    "resourceClaims": "lab pods claim no devices",
    "resources": "a lab pod's resources are its containers' (the namespace's LimitRange bounds them)",
    "serviceAccountName": "lab pods run as their namespace's default ServiceAccount",
    "serviceAccount": "lab pods run as their namespace's default ServiceAccount",
    "ephemeralContainers": "ephemeral containers are added to running pods by `kubectl debug`, never written",
    "imagePullSecrets": "the lab's images are on every node already",
    "readinessGates": "a lab pod is ready when its containers are",
}
FREE_CONTAINER_FIELDS = frozenset(
    {
        "args",
        "command",
        "env",
        "envFrom",
        "imagePullPolicy",
        "name",
        "restartPolicy",
        "stdin",
        "stdinOnce",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "tty",
        "workingDir",
    }
)
JUDGED_CONTAINER_FIELDS = frozenset(
    {
        "image",
        "ports",
        "securityContext",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "lifecycle",
        "resources",
        "volumeMounts",
    }
)
REFUSED_CONTAINER_FIELDS = {
    "volumeDevices": "lab containers mount no block devices",
    "resizePolicy": "lab containers are not resized in place",
    "restartPolicyRules": "lab containers restart by their pod's restartPolicy",
}
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
HOOKS = ("postStart", "preStop")
# securityContext fields a lab pod or container may set, with the one value it may give (None: any value)
POD_SECURITY: dict[str, Any] = {
    "runAsUser": None,
    "runAsGroup": None,
    "runAsNonRoot": None,
    "fsGroup": None,
    "fsGroupChangePolicy": None,
    "supplementalGroups": None,
    "supplementalGroupsPolicy": None,
    "seLinuxChangePolicy": None,
    "seccompProfile": {"type": podguard.SECURITY_PROFILE},
    "appArmorProfile": {"type": podguard.SECURITY_PROFILE},
}
CONTAINER_SECURITY: dict[str, Any] = {
    "runAsUser": None,
    "runAsGroup": None,
    "runAsNonRoot": None,
    "readOnlyRootFilesystem": None,
    "capabilities": None,  # drop is free; add is refused below
    "privileged": False,
    "allowPrivilegeEscalation": False,
    "procMount": "Default",
    "seccompProfile": {"type": podguard.SECURITY_PROFILE},
    "appArmorProfile": {"type": podguard.SECURITY_PROFILE},
}
SECURITY_WHY = {
    "sysctls": "lab pods do not tune the node's kernel",
    "seccompProfile": "lab pods keep the runtime's seccomp profile: Unconfined lifts it, Localhost needs a node's file",
    "appArmorProfile": "lab pods keep the runtime's AppArmor profile: Unconfined lifts it, Localhost needs a node's "
    "file",
    "seLinuxOptions": "lab pods keep the runtime's SELinux labels",
    "windowsOptions": "lab pods are Linux pods (hostProcess would run on the node itself)",
    "privileged": "lab containers are unprivileged",
    "allowPrivilegeEscalation": "lab containers do not gain privileges beyond their parent's (setuid binaries)",
    "procMount": "lab containers keep /proc masked (Unmasked shows the node's kernel settings)",
}
# pod annotations that older kubelets read as security profiles
PROFILE_ANNOTATIONS = (
    "container.apparmor.security.beta.kubernetes.io/",
    "seccomp.security.alpha.kubernetes.io/",
    "container.seccomp.security.alpha.kubernetes.io/",
)
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
_SUFFIX = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    **{s: Decimal(2) ** (10 * (i + 1)) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}


def judge_pod_spec(doc: Doc, images: tuple[str, ...]) -> None:
    """A Pod's or a Deployment's pod template: an ordinary, small, unprivileged pod of the lab's images."""
    spec = doc.obj.get("spec") or {}
    if doc.kind == "Deployment":
        if (spec.get("replicas") or 1) > MAX_REPLICAS:
            raise refusal(
                doc,
                f"replicas: {spec['replicas']} is more than {MAX_REPLICAS}",
                "lab workloads are small: the cluster is shared",
                "replicas: 3",
                at=("spec", "replicas"),
            )
        template = spec.get("template") or {}
        pod = template.get("spec") or {}
        at: tuple[str | int, ...] = ("spec", "template", "spec")
        _judge_pod_metadata(doc, template.get("metadata") or {}, ("spec", "template", "metadata"))
    else:
        pod, at = spec, ("spec",)
        _judge_pod_metadata(doc, doc.obj.get("metadata") or {}, ("metadata",))
    _judge_pod_fields(doc, pod, at)
    _judge_security(doc, "pod", pod.get("securityContext") or {}, POD_SECURITY, (*at, "securityContext"))
    grace = pod.get("terminationGracePeriodSeconds")
    if grace is not None and grace > podguard.MAX_GRACE_S:
        raise refusal(
            doc,
            f"terminationGracePeriodSeconds: {grace} is more than {podguard.MAX_GRACE_S}",
            "a pod that ignores SIGTERM holds its namespace's deletion for its whole grace period",
            "terminationGracePeriodSeconds: 1 (or leave it out: the default is 30)",
            at=(*at, "terminationGracePeriodSeconds"),
        )
    for index, volume in enumerate(pod.get("volumes") or []):
        extra = set(volume) - POD_VOLUMES
        if extra:
            raise refusal(
                doc,
                f"volume {volume.get('name')} uses {sorted(extra)[0]}",
                f"lab pods may mount only {', '.join(sorted(POD_VOLUMES - {'name'}))}",
                "remove the volume",
                at=(*at, "volumes", index),
            )
    for kind, most in (("containers", podguard.MAX_CONTAINERS), ("initContainers", podguard.MAX_INIT_CONTAINERS)):
        count = len(pod.get(kind) or [])
        if count > most:
            raise refusal(
                doc,
                f"{count} {kind} is more than {most}",
                f"a lab pod has at most {podguard.MAX_CONTAINERS} containers and {podguard.MAX_INIT_CONTAINERS} "
                "init containers: the namespace's limits are per container",
                f"keep {most} at most",
                at=(*at, kind),
            )
        for index, container in enumerate(pod.get(kind) or []):
            _judge_container(doc, container, images, (*at, kind, index))
    _judge_pod_resources(doc, pod, at)


def _present(value: Any) -> bool:
    """A value the API would act on: null, false, 0, "" and empty lists or maps are the defaults."""
    return value not in (None, False, "", [], {}) and not (isinstance(value, int) and value == 0)


def _judge_pod_fields(doc: Doc, pod: dict[str, Any], at: tuple[str | int, ...]) -> None:
    for key, value in pod.items():
        if key in FREE_POD_FIELDS or key in JUDGED_POD_FIELDS or not _present(value):
            continue
        why = REFUSED_POD_FIELDS.get(key, "a lab pod sets only the fields the labs' pods use")
        raise refusal(doc, f"pod field {key} is not accepted", why, f"remove {key}", at=(*at, key))


def _judge_pod_metadata(doc: Doc, meta: dict[str, Any], at: tuple[str | int, ...]) -> None:
    """The pod's own metadata (a Deployment's template's): what its pods would carry."""
    where = ".".join(str(part) for part in at)
    for key, why in (
        ("finalizers", "a finalizer keeps each pod, and so the namespace, alive after grading"),
        ("ownerReferences", "owner references hand each pod's lifetime to another object"),
    ):
        if meta.get(key):
            raise refusal(doc, f"{where}.{key} is not accepted", why, f"remove {where}.{key}", at=(*at, key))
    for section in ("labels", "annotations"):
        for key in meta.get(section) or {}:
            name = str(key)
            if name.startswith(GRADER_PREFIXES):
                raise refusal(
                    doc,
                    f"the pod {section[:-1]} '{name}' belongs to the grader",
                    f"keys under {', '.join(GRADER_PREFIXES)} are the grader's own",
                    "remove it",
                    at=(*at, section, name),
                )
            if section == "annotations" and name.startswith(PROFILE_ANNOTATIONS):
                raise refusal(
                    doc,
                    f"the pod annotation '{name}' is not accepted",
                    "lab pods keep the runtime's seccomp and AppArmor profiles",
                    "remove it",
                    at=(*at, section, name),
                )


def _judge_security(
    doc: Doc, owner: str, context: dict[str, Any], allowed: dict[str, Any], at: tuple[str | int, ...]
) -> None:
    """A pod's or a container's securityContext: each field free, held to one value, or refused."""
    for key, value in context.items():
        if not _present(value) and key not in ("seccompProfile", "appArmorProfile"):
            continue
        if key in allowed and (allowed[key] is None or value == allowed[key] or value == {}):
            continue
        wanted = allowed.get(key)
        fix = f"remove securityContext.{key}" if wanted in (None, False) else f"securityContext.{key}: {wanted}"
        shown = value.get("type") if isinstance(value, dict) else value
        raise refusal(
            doc,
            f"{owner} securityContext.{key} is not accepted" + (f" as {shown}" if key in allowed else ""),
            SECURITY_WHY.get(key, "lab pods keep the runtime's defaults"),
            fix.replace("'", ""),
            at=(*at, key),
        )


def _judge_container(doc: Doc, container: dict[str, Any], images: tuple[str, ...], at: tuple[str | int, ...]) -> None:
    name = container.get("name")
    for key, value in container.items():
        if key in FREE_CONTAINER_FIELDS or key in JUDGED_CONTAINER_FIELDS or not _present(value):
            continue
        why = REFUSED_CONTAINER_FIELDS.get(key, "a lab container sets only the fields the labs' containers use")
        raise refusal(doc, f"container {name}: field {key} is not accepted", why, f"remove {key}", at=(*at, key))
    if container.get("image") not in images:
        raise refusal(
            doc,
            f"container {name} uses image {container.get('image')}",
            f"lab pods run the lab's images: {', '.join(images)}",
            "use one of those images",
            at=(*at, "image"),
        )
    security = container.get("securityContext") or {}
    if security.get("privileged") or (security.get("capabilities") or {}).get("add"):
        raise refusal(
            doc,
            f"container {name} asks for privileges",
            "lab containers are unprivileged",
            "remove securityContext.privileged and capabilities.add",
            at=(*at, "securityContext", *(("privileged",) if security.get("privileged") else ("capabilities", "add"))),
        )
    _judge_security(doc, f"container {name}", security, CONTAINER_SECURITY, (*at, "securityContext"))
    for index, port in enumerate(container.get("ports") or []):
        if isinstance(port, dict) and (port.get("hostPort") or port.get("hostIP")):
            raise refusal(
                doc,
                f"container {name} uses a {'hostPort' if port.get('hostPort') else 'hostIP'}",
                "a hostPort takes a port on the node",
                "remove hostPort and hostIP: a Service exposes the pod",
                at=(*at, "ports", index),
            )
    _judge_handlers(doc, container, at)
    for index, mount in enumerate(container.get("volumeMounts") or []):
        if mount.get("mountPropagation") not in (None, "None"):
            raise refusal(
                doc,
                f"container {name}: mountPropagation {mount['mountPropagation']} is not accepted",
                "a lab container's mounts stay its own",
                "remove mountPropagation",
                at=(*at, "volumeMounts", index, "mountPropagation"),
            )


def _judge_handlers(doc: Doc, container: dict[str, Any], at: tuple[str | int, ...]) -> None:
    """Probes and lifecycle hooks reach their own pod: `host` would have the kubelet connect anywhere else."""
    name = container.get("name")
    handlers: list[tuple[tuple[str, ...], Any]] = [((probe,), container.get(probe)) for probe in PROBES]
    handlers += [(("lifecycle", hook), (container.get("lifecycle") or {}).get(hook)) for hook in HOOKS]
    for path, handler in handlers:
        if not isinstance(handler, dict):
            continue
        shown = ".".join(path)
        for action in ("httpGet", "tcpSocket"):
            if (handler.get(action) or {}).get("host"):
                raise refusal(
                    doc,
                    f"container {name}: {shown}.{action}.host is not accepted",
                    "a probe or hook checks its own pod: host has the kubelet connect to any address, from the node",
                    f"remove {shown}.{action}.host (the pod's own IP is the default)",
                    at=(*at, *path, action, "host"),
                )
        grace = handler.get("terminationGracePeriodSeconds")
        if grace is not None and grace > podguard.MAX_GRACE_S:
            raise refusal(
                doc,
                f"container {name}: {shown}.terminationGracePeriodSeconds: {grace} is more than {podguard.MAX_GRACE_S}",
                "a pod that ignores SIGTERM holds its namespace's deletion for its whole grace period",
                f"remove {shown}.terminationGracePeriodSeconds",
                at=(*at, *path, "terminationGracePeriodSeconds"),
            )


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity ('250m', '1Gi', '1e3', 2) as a number; None when it is not one."""
    match = _QUANTITY.match(str(value).strip()) if isinstance(value, (str, int)) else None
    if match is None:
        return None
    number, suffix = match.group(1), match.group(2) or ""
    try:
        if suffix[:1] in ("e", "E") and len(suffix) > 1:
            return Decimal(number) * Decimal(10) ** int(suffix[1:])
        return Decimal(number) * _SUFFIX[suffix]
    except (InvalidOperation, ValueError):
        return None


def _judge_pod_resources(doc: Doc, pod: dict[str, Any], at: tuple[str | int, ...]) -> None:
    """Each container within the LimitRange's per-container maximum, the pod's containers within its per-pod one
    (a limit left out counts as the LimitRange's default)."""
    totals = dict.fromkeys(podguard.RESOURCES, Decimal(0))
    for kind in ("initContainers", "containers"):
        for index, container in enumerate(pod.get(kind) or []):
            where = (*at, kind, index, "resources")
            resources = container.get("resources") or {}
            name = container.get("name")
            if resources.get("claims"):
                raise refusal(
                    doc,
                    f"container {name}: resources.claims is not accepted",
                    REFUSED_POD_FIELDS["resourceClaims"],
                    "remove resources.claims",
                    at=(*where, "claims"),
                )
            for part in ("limits", "requests"):
                for resource, value in (resources.get(part) or {}).items():
                    shown = f"container {name}: resources.{part}.{resource}"
                    _judge_quantity(doc, shown, value, resource=str(resource), at=(*where, part, str(resource)))
            if kind == "containers":
                for resource in podguard.RESOURCES:
                    value = (resources.get("limits") or {}).get(resource, podguard.CONTAINER_DEFAULT_LIMITS[resource])
                    totals[resource] += quantity(value) or Decimal(0)
    for resource, total in totals.items():
        if total > (quantity(podguard.POD_MAX[resource]) or Decimal(0)):
            raise refusal(
                doc,
                f"the pod's containers together ask for {resource} limits of more than {podguard.POD_MAX[resource]}",
                f"a lab pod's containers share at most {podguard.POD_MAX[resource]} {resource} (a limit left out "
                f"counts as {podguard.CONTAINER_DEFAULT_LIMITS[resource]})",
                f"lower the containers' resources.limits.{resource}",
                at=(*at, "containers"),
            )


def _judge_quantity(doc: Doc, shown: str, value: Any, *, resource: str, at: tuple[str | int, ...]) -> None:
    """shown: 'container NAME: resources.PART.RESOURCE', as the refusal names it."""
    if resource not in podguard.RESOURCES:
        raise refusal(
            doc,
            f"{shown} is not accepted",
            f"lab containers ask only for {', '.join(podguard.RESOURCES)}",
            f"remove {shown.split(': ', 1)[1]}",
            at=at,
        )
    amount, most = quantity(value), podguard.CONTAINER_MAX[resource]
    if amount is None:
        raise refusal(
            doc,
            f"{shown}: {value} is not a quantity",
            "a quantity is a number with an optional suffix: 250m, 64Mi, 1Gi",
            f'{resource}: "{podguard.CONTAINER_DEFAULT_LIMITS[resource]}"',
            at=at,
        )
    if amount > (quantity(most) or Decimal(0)):
        raise refusal(
            doc,
            f"{shown}: {value} is more than {most}",
            f"a lab container asks for at most {most} {resource}: the cluster is shared",
            f'{resource}: "{podguard.CONTAINER_DEFAULT_LIMITS[resource]}"',
            at=at,
        )
