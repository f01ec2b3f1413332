"""Put a lab's starter and a learner's manifests into a namespace: validate everything first, then apply.

Server-side dry-run of all documents comes first, so nothing is half-applied. Every object carries the
grader's labels; the namespace is created (labelled) only when it does not exist, and then deleted after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grader._kube import MANAGED_BY_KEY, MANAGED_BY_VALUE, Kube, KubeError, KubeUnreachable
from grader.facts import ClusterFacts
from grader.labs import Lab
from grader.manifests import Doc, load_rendered, manifest_files, parse_docs, render, substitute
from grader.probes.pod import namespace_manifest
from grader.verdicts import BadInput, EnvError


@dataclass
class Applied:
    namespace: str
    created_namespace: bool
    objects: list[str] = field(default_factory=list)


def learner_files(directory: Path) -> list[tuple[Path, str]]:
    if not directory.is_dir():
        raise BadInput(f"{directory} is not a folder", rule="--manifests is a folder of .yaml files")
    files = manifest_files(directory)
    if not files:
        raise BadInput(f"{directory} holds no .yaml/.yml/.json file", rule="--manifests is a folder of manifests")
    return [(f, str(f)) for f in files]


def ensure_namespace(kube: Kube, namespace: str, run_id: str, *, must_be_new: bool) -> bool:
    """Create the namespace (labelled) if absent; True when this run created it."""
    try:
        existing = kube.get("namespace", namespace)
        if existing is not None:
            if must_be_new:
                raise BadInput(f"namespace {namespace} already exists",
                               rule="grading --manifests applies into a fresh namespace and deletes it afterwards",
                               fix="pass another --namespace, or omit it")
            return False
        kube.create(namespace_manifest(namespace, run_id, {"servicelab.dev/role": "lab"}))
    except KubeUnreachable as err:
        raise EnvError(f"the cluster does not answer: {err}") from err
    except KubeError as err:
        raise BadInput(f"cannot create namespace {namespace}: {err}") from err
    return True


def apply_into(kube: Kube, lab: Lab, namespace: str, facts: ClusterFacts, run_id: str, *,
               files: list[tuple[Path, str]] | None = None, text: str | None = None) -> list[Doc]:
    """Validate (server-side dry-run of all documents), then apply starter + learner manifests."""
    values = facts.values_for(namespace)
    starter = [(f, str(f.relative_to(lab.path))) for f in lab.starter_files]
    docs = load_rendered(starter + (files or []), values, facts.missing, namespace)
    if text is not None:
        docs += parse_docs(substitute(text, values, "your manifest", facts.missing), "your manifest", namespace)
    if not docs:
        raise BadInput("there is nothing to apply", rule="give at least one manifest")
    seen: dict[str, Doc] = {}
    for doc in docs:
        if doc.ref in seen and seen[doc.ref].file != doc.file and not seen[doc.ref].file.startswith("starter"):
            raise BadInput(f"{doc.ref} is defined twice (also in {seen[doc.ref].file})", file=doc.file, line=doc.line)
        seen[doc.ref] = doc
    manifest = render(docs, run_id)
    try:
        stored = kube.apply(manifest, namespace, dry_run=True)
    except KubeUnreachable as err:
        raise EnvError(f"the cluster does not answer: {err}") from err
    except KubeError as err:
        raise BadInput(f"the API server rejects the manifests:\n  {err}", file=_file_named_in(str(err), docs),
                       rule="every object must pass server-side validation (kubectl apply --dry-run=server)",
                       fix="fix the field the message names") from err
    for obj in stored:
        if not obj.get("metadata", {}).get("namespace"):
            ref = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
            raise BadInput(f"{ref} is cluster-scoped", file=_file_named_in(ref, docs),
                           rule="labs use namespaced objects only (the grader deletes its namespace afterwards)")
    try:
        kube.apply(manifest, namespace)
    except KubeUnreachable as err:
        raise EnvError(f"the cluster does not answer: {err}") from err
    except KubeError as err:
        raise BadInput(f"the API server rejected the manifests: {err}") from err
    return docs


def _file_named_in(message: str, docs: list[Doc]) -> str | None:
    for doc in docs:
        if f'"{doc.name}"' in message or doc.ref in message or f"{doc.kind.lower()}/{doc.name}" in message:
            return f"{doc.file}:{doc.line}"
    return None


def delete_namespace(kube: Kube, namespace: str) -> None:
    """Delete a namespace this run created; Services first and waited for, so their LB IPs are free again."""
    try:
        ns = kube.get("namespace", namespace)
        if ns is None or ns.get("metadata", {}).get("labels", {}).get(MANAGED_BY_KEY) != MANAGED_BY_VALUE:
            return  # never delete what servicelab did not create
        kube.delete_all("services", namespace, wait=True, timeout=90)
        kube.delete("namespace", namespace)
    except (KubeError, KubeUnreachable):
        return  # best effort; it carries the run label for 'servicelab down'/a later cleanup
