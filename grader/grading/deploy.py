"""Put a lab's starter and a learner's judged manifests into a fenced namespace, then take it all away.

Order: the submission is read and judged first (grader.grading.submission, no cluster contact); then the
namespace, its fence (grader.grading.fence) and its walls (grader.grading.walls); then a server-side dry-run of
everything, so nothing is half-applied; then the starter with the grader's credentials and the learner's objects
as the namespace's learner ServiceAccount. API errors the environment caused are ENV-ERROR, never bad input; they
are told apart by the API's status and by asking the API, never by the words of its message.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from grader.base import interrupt
from grader.base.errors import BadInput, EnvError
from grader.base.wait import WaitTimeout, wait_for
from grader.catalogue.labs import Lab, facts_for
from grader.cluster.facts import ClusterFacts
from grader.grading.fence import QUOTA_NAME, RESOURCES, fence, learner_user, namespace_object
from grader.grading.submission import judge_submission
from grader.grading.walls import walls
from grader.intake.labpolicy import LabPolicy
from grader.intake.manifests import LEARNER, STARTER, Doc, fill, render
from grader.kube.client import MANAGED_BY_KEY, MANAGED_BY_VALUE, Kube, KubeError, KubeUnreachable, Obj

RIGHTS_S = 30.0  # how long the RBAC authorizer may take to learn of the learner's RoleBinding
GRADING = "grading"  # a namespace one run creates and deletes; `servicelab sweep` removes those of dead runs
WORKSPACE = "workspace"  # a notebook's lab namespace: the learner's work, kept until `reset`
APPLY_VERBS = ("patch", "create")  # server-side apply is a patch, and a create when the object is new


class ClaimTaken(BadInput):
    """The API server refused a nodePort or cluster IP the manifests ask for, and another Service on the cluster
    holds it now (another grading's, or anything else's): the answer may be right, the cluster is busy."""


def ensure_namespace(
    kube: Kube,
    namespace: str,
    run_id: str,
    *,
    must_be_new: bool,
    facts: ClusterFacts,
    policy: LabPolicy | None = None,
) -> bool:
    """Create the namespace with its fence and walls if absent (apply both again if present); True when this run
    created it.

    An existing namespace is used only when servicelab made it: `apply(..., namespace="kube-system")`
    is refused. facts give the walls the pod network and the partner's address.
    """
    try:
        existing = kube.get("namespace", namespace)
        if existing is not None:
            if must_be_new:
                raise BadInput(
                    f"namespace {namespace} already exists",
                    rule="grading --manifests applies into a fresh namespace and deletes it afterwards",
                    fix="pass another --namespace, or omit it",
                )
            if existing.get("metadata", {}).get("labels", {}).get(MANAGED_BY_KEY) != MANAGED_BY_VALUE:
                raise BadInput(
                    f"namespace {namespace} was not created by servicelab",
                    rule="the grader applies only into namespaces it made",
                    fix="omit namespace= (each lab has its own), or pick a new name",
                )
            created = False
        else:
            # A signal inside the POST would leave a namespace the API server made but this run never heard of
            # (and so never deletes): the create runs shielded, the interrupt is raised once it has answered.
            with interrupt.shielded():
                kube.create(namespace_object(namespace, run_id, GRADING if must_be_new else WORKSPACE))
            created = True
        lab_policy = policy or LabPolicy()
        items = [*fence(namespace, run_id, lab_policy), *walls(namespace, run_id, lab_policy, facts)]
        kube.apply(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}), namespace)
        _wait_quota_counted(kube, namespace)
        _wait_learner_rights(kube, namespace, lab_policy)
    except KubeUnreachable as err:
        raise EnvError(err.diagnosis) from err
    except KubeError as err:
        raise EnvError(f"cannot prepare namespace {namespace}: {err}") from err
    return created


def _wait_quota_counted(kube: Kube, namespace: str) -> None:
    """Admission refuses objects a quota covers until the quota controller has counted it once."""

    def counted() -> tuple[bool | None, str]:
        quota = kube.get("resourcequota", QUOTA_NAME, namespace) or {}
        used = quota.get("status", {}).get("used")
        return (True if used is not None else None), f"status {quota.get('status') or 'not yet written'}"

    try:
        wait_for(counted, what=f"ResourceQuota in {namespace} counted", timeout_s=30, interval_s=0.1)
    except WaitTimeout as err:
        raise EnvError(f"{err} (is kube-controller-manager running?)") from err


def _wait_learner_rights(kube: Kube, namespace: str, policy: LabPolicy) -> None:
    """The API server's RBAC authorizer learns of a new RoleBinding a little after it is stored: until the
    learner account may patch every kind the lab allows, its apply would be refused as Forbidden."""
    as_learner = kube.as_user(learner_user(namespace))
    wanted = [RESOURCES[k] for k in policy.kinds if k in RESOURCES]

    def allowed() -> tuple[bool | None, str]:
        for group, resource in wanted:
            if not _allowed(
                as_learner, {"namespace": namespace, "verb": "patch", "group": group, "resource": resource}
            ):
                return None, f"the learner account may not patch {resource} yet"
        return True, "allowed"

    try:
        wait_for(allowed, what=f"the learner's rights in {namespace}", timeout_s=RIGHTS_S, interval_s=0.1)
    except WaitTimeout as err:
        raise EnvError(f"{err} (the API server has not taken the namespace's RoleBinding)") from err


def _allowed(kube: Kube, attributes: dict[str, str]) -> bool:
    """Whether kube's user may do what attributes say (a SelfSubjectAccessReview, asked as that user)."""
    review = kube.create(
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
    )
    return bool(review.get("status", {}).get("allowed"))


def apply_into(
    kube: Kube,
    lab: Lab,
    namespace: str,
    facts: ClusterFacts,
    run_id: str,
    *,
    files: list[tuple[Path, str]] | None = None,
    text: str | None = None,
    docs: list[Doc] | None = None,
) -> list[Doc]:
    """Dry-run everything, then apply the starter (grader) and the learner's objects (learner account)."""
    judged = docs if docs is not None else judge_submission(lab, files, text)
    facts = facts_for(lab, facts)  # the lab's own values (its defaults, a learner's) fill their placeholders too
    values = facts.values_for(namespace)
    filled = [fill(d, values, facts.missing) for d in judged]
    starter = [d for d in filled if d.origin == STARTER]
    learner = [d for d in filled if d.origin == LEARNER]
    as_learner = kube.as_user(learner_user(namespace))
    for who, part, dry_run in (
        (kube, starter, True),
        (as_learner, learner, True),
        (kube, starter, False),
        (as_learner, learner, False),
    ):
        if part:
            _apply(who, kube, part, namespace, run_id, dry_run=dry_run)
    return filled


def apply_as_learner(
    kube: Kube, namespace: str, docs: list[Doc], *, values: dict[str, str], missing: dict[str, str], run_id: str
) -> list[Doc]:
    """Fill judged docs (starter and learner's) with values and apply them as kube's own user, who is the learner in
    a namespace of their own (a classroom's student): no impersonation, no namespace to prepare, nothing read
    outside it. Everything is dry-run first, so nothing is half-applied."""
    filled = [fill(d, values, missing) for d in docs]
    for dry_run in (True, False):
        if filled:
            _apply(kube, kube, filled, namespace, run_id, dry_run=dry_run, whole_cluster=False)
    return filled


def _apply(
    kube: Kube, reader: Kube, docs: list[Doc], namespace: str, run_id: str, *, dry_run: bool, whole_cluster: bool = True
) -> None:
    """kube applies (the grader or the learner's account); reader, the grader, reads what explains a refusal (with
    whole_cluster, also the other namespaces' Services: who holds a nodePort the manifests ask for)."""
    try:
        stored = kube.apply(render(docs, run_id), namespace, dry_run=dry_run)
    except KubeUnreachable as err:
        raise EnvError(err.diagnosis) from err
    except KubeError as err:
        doc = next((d for d in docs if err.refused == (d.kind, d.name)), None)
        try:
            environment = _environment_caused(kube, reader, err, namespace)
            asks_holder = whole_cluster and err.reason == "Invalid"
            holder = _holder_elsewhere(reader, doc, namespace) if asks_holder and doc else ""
        except KubeUnreachable as lost:
            raise EnvError(lost.diagnosis) from err
        if environment:
            raise EnvError(f"the API server could not take the manifests (not your mistake): {err}") from err
        where = f"{doc.file}:{doc.line}" if doc else None
        if holder:
            raise ClaimTaken(
                f"the API server rejects the manifests:\n  {err}",
                file=where,
                rule="a nodePort or a cluster IP belongs to one Service on the whole cluster",
                fix=f"{holder} holds it now: grade again once it is gone, or ask for another",
            ) from err
        raise BadInput(
            f"the API server rejects the manifests:\n  {err}",
            file=where,
            rule="every object must pass server-side validation (kubectl apply --dry-run=server)",
            fix="fix the field the message names",
        ) from err
    for obj in stored:
        if not obj.get("metadata", {}).get("namespace"):
            kind, name = obj.get("kind"), obj.get("metadata", {}).get("name")
            doc = next((d for d in docs if (d.kind, d.name) == (kind, name)), None)
            raise BadInput(
                f"{kind}/{name} is cluster-scoped",
                file=f"{doc.file}:{doc.line}" if doc else None,
                rule="labs use namespaced objects only (the grader deletes its namespace afterwards)",
            )


def _environment_caused(kube: Kube, reader: Kube, err: KubeError, namespace: str) -> bool:
    """Whether the cluster, not the manifests, made the API server refuse. A 5xx or 429 always (a webhook that
    cannot be called, etcd timing out, an overloaded server). A Forbidden when the one who applied may not
    write that resource (the fence's RoleBinding not yet known to the authorizer, impersonation refused), or
    while the fence's quota has not counted everything it limits: the lab's kinds are allowed (judged before),
    so either is the cluster lagging. Any other Forbidden (quota exceeded, Pod Security) is the manifests'."""
    if err.server_side:
        return True
    if err.status != 403:
        return False
    return not _may_write(kube, err, namespace) or _quota_uncounted(reader, namespace)


def _may_write(kube: Kube, err: KubeError, namespace: str) -> bool:
    """Whether kube's user may apply the resource a Forbidden was about (SelfSubjectAccessReviews, as that user)."""
    about = err.details
    if not about.kind:
        return True  # a 403 that names no resource: nothing to ask about
    attributes = {"namespace": namespace, "group": about.group, "resource": about.kind, "name": about.name}
    try:
        return all(_allowed(kube, {**attributes, "verb": verb}) for verb in APPLY_VERBS)
    except KubeError:
        return False  # not even allowed to ask: the impersonation itself is refused


def _quota_uncounted(reader: Kube, namespace: str) -> bool:
    """Admission refuses what a quota limits until the quota controller has counted every resource of it."""
    try:
        quota = reader.get("resourcequota", QUOTA_NAME, namespace) or {}
    except KubeError:
        return False  # unreadable: the refusal stands as it came
    status = quota.get("status") or {}
    return bool(set(status.get("hard") or {}) - set(status.get("used") or {}))


def _holder_elsewhere(reader: Kube, doc: Doc, namespace: str) -> str:
    """The Service on the cluster, other than doc's, holding a nodePort or cluster IP that doc (a Service) asks
    for; '' when none does (the value itself is wrong: out of range, outside the service network)."""
    if doc.kind != "Service":
        return ""
    ports, addresses = _allocated(doc.obj)
    if not ports and not addresses:
        return ""
    try:
        services = reader.list("services", all_namespaces=True)
    except KubeError:
        return ""
    for svc in services:
        meta = svc.get("metadata") or {}
        if (meta.get("namespace"), meta.get("name")) == (namespace, doc.name):
            continue
        theirs_ports, theirs_addresses = _allocated(svc)
        if ports & theirs_ports or addresses & theirs_addresses:
            return f"Service {meta.get('namespace')}/{meta.get('name')}"
    return ""


def _allocated(service: Obj) -> tuple[set[int], set[str]]:
    """The nodePorts and cluster IPs a Service holds (or asks for): the API server hands each out once."""
    spec = service.get("spec") or {}
    ports = {p.get("nodePort") for p in spec.get("ports") or [] if isinstance(p, dict)}
    ports.add(spec.get("healthCheckNodePort"))
    addresses = {spec.get("clusterIP"), *(spec.get("clusterIPs") or [])}
    numbers = {int(str(p)) for p in ports if str(p).isdigit()}  # a filled placeholder may be a string
    return numbers - {0}, {str(a) for a in addresses if a and a != "None"}


def delete_namespace(kube: Kube, namespace: str) -> None:
    """Delete a namespace servicelab created; Services first and waited for, so their LB IPs are free again.

    The namespace delete is issued even when deleting the Services fails; what is left carries the run
    label for `servicelab sweep`. Then its pods are deleted at once (grace 0): a learner's pod that ignores
    SIGTERM must not hold a class's cluster for its grace period.
    """
    try:
        ns = kube.get("namespace", namespace)
        if ns is None or ns.get("metadata", {}).get("labels", {}).get(MANAGED_BY_KEY) != MANAGED_BY_VALUE:
            return  # never delete what servicelab did not create
    except (KubeError, KubeUnreachable):
        return
    with contextlib.suppress(KubeError, KubeUnreachable):  # the namespace delete below still takes them
        kube.delete_all("services", namespace, wait=True, timeout=90)
    with contextlib.suppress(KubeError, KubeUnreachable):
        kube.delete("namespace", namespace)
    with contextlib.suppress(KubeError, KubeUnreachable):  # a terminating namespace still lets us delete its pods
        kube.delete_all("pods", namespace, grace_period_s=0)


def wait_deployments(kube: Kube, namespace: str, names: list[str], timeout_s: float) -> None:
    """Until each of the lab's own Deployments is available; ENV-ERROR with the last state, or at once
    when a pod's image cannot be had."""
    if not names:
        return  # a lab without starter Deployments has nothing to wait for

    def available() -> tuple[bool | None, str]:
        try:
            deps = {d["metadata"]["name"]: d for d in kube.list("deployments", namespace)}
        except KubeUnreachable as err:
            raise EnvError(err.diagnosis) from err
        waiting = []
        for name in names:
            dep = deps.get(name) or {}
            status, want = dep.get("status", {}), dep.get("spec", {}).get("replicas", 1)
            if status.get("availableReplicas", 0) < want or status.get("updatedReplicas", 0) < want:
                waiting.append(f"{name} {status.get('availableReplicas', 0)}/{want} available")
        if waiting and (stuck := _image_problem(kube, namespace)):
            raise EnvError(f"the lab's starter pods cannot start: {stuck}")
        return (None if waiting else True), "; ".join(waiting)

    try:
        wait_for(
            available, what="starter Deployments available", timeout_s=timeout_s, interval_s=0.2, max_interval_s=2.0
        )
    except WaitTimeout as err:
        raise EnvError(str(err)) from err


def _image_problem(kube: Kube, namespace: str) -> str:
    try:
        pods = kube.list("pods", namespace)
    except (KubeError, KubeUnreachable):
        return ""
    for pod in pods:
        for cs in pod.get("status", {}).get("containerStatuses", []) or []:
            waiting = cs.get("state", {}).get("waiting") or {}
            if waiting.get("reason") in ("ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"):
                return (
                    f"{pod['metadata']['name']}: {waiting['reason']} ({cs.get('image')}); "
                    "is the image loaded? ('servicelab images')"
                )
    return ""
