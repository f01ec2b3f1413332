"""Another lab's competing objects (grader.learner.others): listed first, deleted only when the learner confirms."""

from __future__ import annotations

from typing import Any

import pytest

from grader.catalogue.labs import load_lab
from grader.learner import notebook, others


class FakeKube:
    """Objects by (kind, namespace); deletes are recorded."""

    def __init__(self, objects: dict[tuple[str, str], list[str]]) -> None:
        self.objects = objects
        self.deleted: list[tuple[str, str, str, bool]] = []

    def list(self, kind: str, namespace: str | None = None, **_: Any) -> list[dict[str, Any]]:
        names = self.objects.get((kind, namespace or ""), [])
        return [{"kind": kind, "metadata": {"name": n, "namespace": namespace}} for n in names]

    def delete(self, kind: str, name: str, namespace: str | None = None, *, wait: bool = False) -> None:
        self.deleted.append((kind, name, namespace or "", wait))
        self.objects[(kind, namespace or "")].remove(name)


def test_without_confirm_it_lists_and_deletes_nothing() -> None:
    kube = FakeKube({("Ingress", "lab-ingress"): ["shop", "extra"]})
    said = others.clear(kube, load_lab("ingress"), "lab-ingress", confirm=False)  # type: ignore[arg-type]
    assert "Ingress/extra, Ingress/shop" in said
    assert "Nothing was deleted" in said
    assert 'clear_other_lab("ingress", confirm=True)' in said
    assert kube.deleted == []


def test_confirmed_it_deletes_exactly_what_it_listed_and_waits() -> None:
    kube = FakeKube({("HTTPRoute", "lab-gateway"): ["shop"], ("HTTPRoute", "elsewhere"): ["keep"]})
    said = others.clear(kube, load_lab("gateway"), "lab-gateway", confirm=True)  # type: ignore[arg-type]
    assert said == "deleted from namespace lab-gateway: HTTPRoute/shop"
    assert kube.deleted == [("HTTPRoute", "shop", "lab-gateway", True)]
    assert kube.objects[("HTTPRoute", "elsewhere")] == ["keep"]


def test_nothing_there_is_said() -> None:
    said = others.clear(FakeKube({}), load_lab("ingress"), "lab-ingress", confirm=True)  # type: ignore[arg-type]
    assert said == "nothing to clear: no Ingress of the ingress lab in namespace lab-ingress"


def test_the_notebook_function_uses_the_other_labs_own_namespace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kube = FakeKube({("Ingress", "lab-ingress"): ["shop"]})
    monkeypatch.setenv("SERVICELAB_NAMESPACE", "this-notebooks-own")  # this lab's namespace, not the other's
    monkeypatch.setattr(notebook, "Kube", lambda context=None: kube)
    notebook.clear_other_lab("ingress")
    assert "Ingress/shop in namespace lab-ingress" in capsys.readouterr().out
    notebook.clear_other_lab("ingress", confirm=True)
    assert kube.deleted == [("Ingress", "shop", "lab-ingress", True)]
