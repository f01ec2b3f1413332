"""A fake Kubernetes API for `classroom up|down` tests: objects by resource, label selectors, deletes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.classroom import manifests as m
from grader.kube.client import Obj

MARKED = {m.CLASSROOM_KEY: m.HUB_NAMESPACE}


@dataclass
class FakeKube:
    """Objects by resource (plural: kind names as the client resolves them); a label selector of key=value pairs;
    delete removes at once."""

    objects: dict[str, list[Obj]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)

    def list(self, kind: str, namespace: str | None = None, selector: str | None = None, **_: Any) -> list[Obj]:
        wanted = dict(pair.split("=", 1) for pair in selector.split(",")) if selector else {}
        return [
            o
            for o in self.objects.get(_plural(kind), [])
            if all((o["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())
        ]

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        return next((o for o in self.objects.get(_plural(kind), []) if o["metadata"]["name"] == name), None)

    def delete(self, kind: str, name: str, namespace: str | None = None) -> None:
        kind = _plural(kind)
        self.objects[kind] = [o for o in self.objects.get(kind, []) if o["metadata"]["name"] != name]
        self.deleted.append(f"{kind}/{name}")


def _plural(kind: str) -> str:
    return kind if kind.endswith("s") or "." in kind else f"{kind}s"


def _obj(name: str, labels: dict[str, str] | None = None, **fields: Any) -> Obj:
    return {"metadata": {"name": name, "labels": labels or {}, "annotations": {}}, **fields}
