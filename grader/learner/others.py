"""Another lab's objects that would compete with this lab's on a shared controller (the Ingress and Gateway labs
both route `shop.example` on Traefik): listed first, deleted only when the learner confirms.

Nothing of another lab is deleted without the learner asking: the first call names each object and says how to
confirm; `confirm=True` deletes exactly those objects (its answer's kinds, in that lab's namespace) and waits until
they are gone. nbgrader's autograde runs no cell (grader.classroom grades the answer cell as data), so a graded run
never deletes anything either.
"""

from __future__ import annotations

from grader.catalogue.labs import Lab
from grader.kube.client import Kube


def answer_kinds(lab: Lab) -> list[str]:
    """The kinds of the objects the lab's answer makes, in its order, each once."""
    return list(dict.fromkeys(kind for kind, _ in lab.expects))


def competing(kube: Kube, other: Lab, namespace: str) -> list[tuple[str, str]]:
    """(kind, name) of every object of the other lab's answer kinds in its namespace, sorted."""
    objects = [obj for kind in answer_kinds(other) for obj in kube.list(kind, namespace)]
    return sorted({(obj["kind"], obj["metadata"]["name"]) for obj in objects})


def clear(kube: Kube, other: Lab, namespace: str, *, confirm: bool) -> str:
    """List the other lab's competing objects; with confirm, delete them and wait until they are gone."""
    found = competing(kube, other, namespace)
    kinds = ", ".join(answer_kinds(other))
    if not found:
        return f"nothing to clear: no {kinds} of the {other.id} lab in namespace {namespace}"
    listed = ", ".join(f"{kind}/{name}" for kind, name in found)
    if not confirm:
        return (
            f"the {other.id} lab left {listed} in namespace {namespace}: they compete with this lab's routes. "
            f'Nothing was deleted. To delete them, run clear_other_lab("{other.id}", confirm=True)'
        )
    for kind, name in found:
        kube.delete(kind, name, namespace, wait=True)
    return f"deleted from namespace {namespace}: {listed}"
