"""API discovery: which resources the server has, and resolving names to them the way kubectl does.

Aggregated discovery (`/api` and `/apis` with an apidiscovery.k8s.io Accept header) answers in two
requests; an older server gets the legacy walk (one request per group version). Pure parsing here:
grader.kube.api fetches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

Obj = dict[str, Any]

AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The REST path: the collection, or one object when name is given."""
        path = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            path += f"/namespaces/{quote(namespace, safe='')}"
        path += f"/{self.plural}"
        return path + (f"/{quote(name, safe='')}" if name else "")


def parse_aggregated(doc: Obj) -> list[Resource] | None:
    """Resources of an APIGroupDiscoveryList, preferred versions first; None if doc is not one."""
    if doc.get("kind") != "APIGroupDiscoveryList":
        return None
    found: list[Resource] = []
    for group in doc.get("items") or []:
        name = (group.get("metadata") or {}).get("name") or ""
        for version in group.get("versions") or []:  # the server lists them by preference
            for res in version.get("resources") or []:
                kind = (res.get("responseKind") or {}).get("kind") or ""
                if not kind:
                    continue
                found.append(
                    Resource(
                        name,
                        version.get("version", ""),
                        res["resource"],
                        res.get("singularResource") or kind.lower(),
                        kind,
                        res.get("scope") == "Namespaced",
                        tuple(res.get("shortNames") or ()),
                        tuple(res.get("verbs") or ()),
                    )
                )
    return found


def legacy_paths(api: Obj, apis: Obj) -> list[str]:
    """For a server without aggregated discovery: the group-version paths to read, preferred first."""
    paths = [f"/api/{v}" for v in api.get("versions") or []]
    for group in apis.get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        versions = [v["groupVersion"] for v in group.get("versions") or []]
        paths += [f"/apis/{gv}" for gv in sorted(versions, key=lambda gv: gv != preferred)]
    return paths


def parse_legacy(doc: Obj) -> list[Resource]:
    """Resources of one APIResourceList (subresources such as pods/exec left out)."""
    group, _, version = doc.get("groupVersion", "").rpartition("/")
    return [
        Resource(
            group,
            version,
            r["name"],
            r.get("singularName") or r["kind"].lower(),
            r["kind"],
            bool(r.get("namespaced")),
            tuple(r.get("shortNames") or ()),
            tuple(r.get("verbs") or ()),
        )
        for r in doc.get("resources") or []
        if "/" not in r["name"]
    ]


class Discovery:
    """What one server serves, in its order of preference (core first, preferred versions first)."""

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.resources = list(resources)

    def by_name(self, arg: str) -> Resource | None:
        """`service`, `svc`, `Service`, `services`, `ipaddresspools.metallb.io`, `deployments.v1.apps`, ...

        Like kubectl: a plural name wins over a singular or kind, which win over a short name; among equals,
        the server's order (core group first, then groups by priority, preferred version first).
        """
        name, _, suffix = arg.strip().lower().partition(".")
        candidates = [
            r
            for r in self.resources
            if not suffix
            or suffix in (r.group, f"{r.version}.{r.group}", f"{r.version}.")
            or (suffix == r.version and not r.group)
        ]
        for matches in (
            lambda r: r.plural == name,
            lambda r: r.singular == name or r.kind.lower() == name,
            lambda r: name in r.short_names,
        ):
            found = next((r for r in candidates if matches(r)), None)
            if found is not None:
                return found
        return None

    def by_kind(self, api_version: str, kind: str) -> Resource | None:
        """The resource serving objects of apiVersion/kind (as a manifest names them)."""
        group, _, version = api_version.rpartition("/")
        return next((r for r in self.resources if r.group == group and r.version == version and r.kind == kind), None)
