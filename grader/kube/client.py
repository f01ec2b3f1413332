"""The one module that talks to the Kubernetes API: in process (grader.kube.api), dicts in and out.

Everything above this layer sees objects as the API returns them. Resource names are resolved as kubectl
resolves them (plural, singular, kind or short name, optionally with a group), from the server's discovery.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from grader.base.run import Result
from grader.base.wait import WaitTimeout, wait_for
from grader.kube.api import Obj, Session, parse_manifest
from grader.kube.discovery import Resource
from grader.kube.errors import KubeError, KubeUnreachable, StatusDetails, UnknownKind, api_error
from grader.kube.exec import exec_in_pod
from grader.kube.labels import (
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    MANAGED_LABELS,
    OWNER_KEY,
    RUN_ID_KEY,
    managed_labels,
    owner_annotation,
)
from grader.kube.portforward import PodHttpAnswer, http_get_in_pod, https_get_in_pod

__all__ = [
    "MANAGED_BY_KEY",
    "MANAGED_BY_VALUE",
    "MANAGED_LABELS",
    "OWNER_KEY",
    "RUN_ID_KEY",
    "Kube",
    "KubeError",
    "KubeUnreachable",
    "Obj",
    "Result",
    "StatusDetails",
    "UnknownKind",
    "managed_labels",
    "owner_annotation",
    "parse_manifest",
]

ObjList = list[Obj]  # module-level alias: inside Kube, `list` names the method

FIELD_MANAGER = "servicelab"
APPLY_PATCH = "application/apply-patch+yaml"  # server-side apply; a JSON body is valid YAML
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
DELETE_WAIT_S = 120.0
BACKGROUND = {"propagationPolicy": "Background"}  # delete now; the garbage collector takes the dependents


@dataclass(frozen=True)
class Kube:
    """The API of one kubeconfig/context, optionally acting as another user (impersonation).

    Copies made by as_user() share the connection and the discovery cache (`_sessions`).
    """

    context: str | None = None
    kubeconfig: str | None = None
    request_timeout_s: float = 20.0
    impersonate: str | None = None  # act as this user (the learner's ServiceAccount when applying its objects)
    _sessions: dict[tuple[str | None, str | None], Session] = field(default_factory=dict, compare=False, repr=False)

    @property
    def _api(self) -> Session:
        key = (self.context, self.kubeconfig)
        if key not in self._sessions:
            self._sessions[key] = Session(self.context, self.kubeconfig)
        return self._sessions[key]

    def _call(self, method: str, path: str, **kwargs: Any) -> Obj | None:
        return self._api.call(method, path, user=self.impersonate, timeout=self.request_timeout_s, **kwargs)

    # --- resources ---------------------------------------------------------------------------------
    def _resources(self, kinds: str) -> list[Resource]:
        """`svc`, `ipaddresspools.metallb.io`, `namespaces,services`: looked up, discovery refreshed once on a miss."""
        found = []
        for name in (n.strip() for n in kinds.split(",") if n.strip()):
            res = self._api.discovery(timeout=self.request_timeout_s).by_name(name)
            if res is None:  # a CRD may have come since: read discovery again before saying no
                res = self._api.discovery(refresh=True, timeout=self.request_timeout_s).by_name(name)
            if res is None:
                raise UnknownKind(f'error: the server doesn\'t have a resource type "{name}"')
            found.append(res)
        return found

    def kubeconfig_cluster(self) -> str | None:
        """The kubeconfig's name for the cluster this Kube talks to (its context's cluster entry)."""
        return self._api.cluster_entry()

    def namespaced_kinds(self) -> list[str]:
        """Every kind a namespace can hold that can be listed and patched (one name per group and kind, its
        preferred version): what a namespace holds, whoever made it."""
        seen: set[tuple[str, str]] = set()
        names = []
        for res in self._api.discovery(refresh=True, timeout=self.request_timeout_s).resources:
            if not res.namespaced or not {"list", "patch"} <= set(res.verbs) or (res.group, res.kind) in seen:
                continue
            seen.add((res.group, res.kind))
            names.append(f"{res.plural}.{res.group}" if res.group else res.plural)
        return names

    def _resource_of(self, obj: Obj) -> Resource:
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        for refresh in (False, True):
            res = self._api.discovery(refresh=refresh, timeout=self.request_timeout_s).by_kind(api_version, kind)
            if res is not None:
                return res
        name = (obj.get("metadata") or {}).get("name", "")
        raise UnknownKind(
            f'resource mapping not found for name: "{name}": no matches for kind "{kind}" in version '
            f'"{api_version}"\nensure CRDs are installed first'
        )

    def _ns(self, res: Resource, namespace: str | None) -> str | None:
        return (namespace or self._api.namespace) if res.namespaced else None

    # --- reads -------------------------------------------------------------------------------------
    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        res = self._resources(kind)[0]
        return self._call("GET", res.path(self._ns(res, namespace), name), missing_ok=True)

    def list(
        self, kind: str, namespace: str | None = None, selector: str | None = None, all_namespaces: bool = False
    ) -> ObjList:
        """Objects of one kind or several (`namespaces,services`), each with apiVersion and kind (as kubectl's)."""
        return [
            item
            for res in self._resources(kind)
            for item in self._list(res, None if all_namespaces else self._ns(res, namespace), selector)
        ]

    def _list(self, res: Resource, namespace: str | None, selector: str | None) -> ObjList:
        items: ObjList = []
        query = [("limit", "500"), *([("labelSelector", selector)] if selector else [])]
        cont = ""
        while True:  # chunks of 500, as kubectl reads them
            page = self._call("GET", res.path(namespace), query=[*query, *([("continue", cont)] if cont else [])])
            page = page or {}
            items += [{"apiVersion": res.api_version, "kind": res.kind, **item} for item in page.get("items") or []]
            cont = (page.get("metadata") or {}).get("continue") or ""
            if not cont:
                return items

    def get_path(self, path: str) -> Obj | None:
        """GET any API path answering JSON (e.g. a pod's proxy); None for a 404."""
        return self._call("GET", path, missing_ok=True)

    def get_text(self, path: str) -> str:
        """GET any API path answering text (a pod's proxy to a plain-text server); KubeError for an error status."""
        status, data = self._api.request(
            "GET", path, accept="*/*", user=self.impersonate, timeout=self.request_timeout_s
        )
        if status >= 400:
            raise api_error(status, data)
        return data.decode(errors="replace")

    def server_version(self) -> str:
        version: str = (self._call("GET", "/version") or {}).get("gitVersion", "unknown")
        return version

    # --- writes ------------------------------------------------------------------------------------
    def apply(self, manifest: str, namespace: str | None = None, *, dry_run: bool = False) -> ObjList:
        """Server-side apply YAML/JSON text, object by object; returns the objects as the API stored (or, with
        dry_run, would store) them. Stops at the first refusal: its KubeError names the object (`refused`)."""
        stored = []
        for obj in parse_manifest(manifest):
            meta = dict(obj.get("metadata") or {})
            try:
                stored.append(self._apply_one(obj, meta, namespace, dry_run))
            except KubeError as err:
                err.refused = (str(obj.get("kind", "")), str(meta.get("name") or ""))
                raise
        return stored

    def _apply_one(self, obj: Obj, meta: Obj, namespace: str | None, dry_run: bool) -> Obj:
        res = self._resource_of(obj)
        if not meta.get("name"):
            raise KubeError(f"error: {res.kind} has no metadata.name (resource name may not be empty)")
        ns = self._ns(res, meta.get("namespace") or namespace)
        if res.namespaced and namespace and meta.get("namespace") not in (None, namespace):
            raise KubeError(
                f'error: the namespace from the provided object "{meta["namespace"]}" does not match '
                f"the namespace \"{namespace}\". You must pass '--namespace={meta['namespace']}' to "
                "perform this operation."
            )
        meta.pop("namespace", None)
        meta.update({"namespace": ns} if ns else {})
        query = [("fieldManager", FIELD_MANAGER), ("force", "true"), *([("dryRun", "All")] if dry_run else [])]
        return (
            self._call(
                "PATCH",
                res.path(ns, meta["name"]),
                query=query,
                body={**obj, "metadata": meta},
                content_type=APPLY_PATCH,
            )
            or {}
        )

    def as_user(self, user: str) -> Kube:
        """The same cluster, acting as user (impersonation: the caller's credentials must allow it)."""
        return replace(self, impersonate=user)

    def patch(self, kind: str, name: str, namespace: str | None, merge_patch: Obj) -> None:
        res = self._resources(kind)[0]
        self._call("PATCH", res.path(self._ns(res, namespace), name), body=merge_patch, content_type=MERGE_PATCH)

    def json_patch(
        self, kind: str, name: str, namespace: str | None, operations: ObjList, *, subresource: str | None = None
    ) -> Obj:
        """Apply RFC 6902 operations (`[{"op": "replace", "path": ..., "value": ...}]`) to an object or one of its
        subresources (`status`): each operation touches one field, and a failed `test` refuses the whole patch."""
        res = self._resources(kind)[0]
        path = res.path(self._ns(res, namespace), name) + (f"/{subresource}" if subresource else "")
        return self._call("PATCH", path, body=operations, content_type=JSON_PATCH) or {}

    def create(self, obj: Obj) -> Obj:
        res = self._resource_of(obj)
        ns = self._ns(res, (obj.get("metadata") or {}).get("namespace"))
        return self._call("POST", res.path(ns), body=obj) or {}

    def delete(self, kind: str, name: str, namespace: str | None = None, *, wait: bool = False) -> None:
        """Delete if present; with wait, until it is gone (or replaced by a new object of that name)."""
        res = self._resources(kind)[0]
        path = res.path(self._ns(res, namespace), name)
        gone = self._call("DELETE", path, missing_ok=True, body=BACKGROUND)
        if not wait or gone is None or gone.get("kind") == "Status":  # absent, or a Status: deleted at once
            return
        uid = (gone.get("metadata") or {}).get("uid")

        def still_there() -> bool:
            now = self._call("GET", path, missing_ok=True)
            return now is not None and (now.get("metadata") or {}).get("uid") == uid

        self._wait_gone(f"{res.plural}/{name}", DELETE_WAIT_S, still_there)

    def delete_all(
        self,
        kind: str,
        namespace: str,
        *,
        selector: str | None = None,
        wait: bool = False,
        timeout: float = 120.0,
        grace_period_s: int | None = None,
    ) -> None:
        """Delete every object of a kind in a namespace (optionally only those matching selector); with
        grace_period_s, a pod gets that long to stop instead of its own terminationGracePeriodSeconds."""
        body = BACKGROUND if grace_period_s is None else {**BACKGROUND, "gracePeriodSeconds": grace_period_s}
        for res in self._resources(kind):
            uids = set()
            for obj in self._list(res, namespace, selector):  # one by one, as kubectl does (not every kind
                meta = obj.get("metadata") or {}  # offers deletecollection)
                self._call("DELETE", res.path(namespace, meta.get("name")), missing_ok=True, body=body)
                uids.add(meta.get("uid"))

            def left(res: Resource = res, uids: set[Any] = uids) -> bool:
                return bool(uids & {(o.get("metadata") or {}).get("uid") for o in self._list(res, namespace, selector)})

            if wait and uids:
                self._wait_gone(f"{res.plural} in {namespace}", timeout, left)

    def _wait_gone(self, what: str, timeout: float, still_there: Callable[[], bool]) -> None:
        """Poll until still_there() is False, a pause growing from 50 ms to 1 s; kubectl's words at the deadline."""
        try:
            wait_for(
                lambda: (None, "still there") if still_there() else (True, "gone"),
                what=what,
                timeout_s=timeout,
                interval_s=0.05,
                max_interval_s=1.0,
            )
        except WaitTimeout as err:
            raise KubeError(f"error: timed out waiting for the condition on {what}") from err

    # --- exec and logs -----------------------------------------------------------------------------
    def exec(
        self, pod: str, namespace: str, command: Sequence[str], *, timeout: float, container: str | None = None
    ) -> Result:
        """Run a command in a pod; timeout is the outer deadline (exec streams can hang)."""
        return exec_in_pod(
            self._api, pod, namespace, command, timeout=timeout, container=container, user=self.impersonate
        )

    def pod_log(self, pod: str, namespace: str) -> str:
        """A pod's log as text (`kubectl logs POD`); KubeError when there is none to read (no such pod, a container
        not started yet, a kubelet the API server cannot reach)."""
        path = self._resources("pods")[0].path(namespace, pod) + "/log"
        status, data = self._api.request(
            "GET", path, accept="text/plain, */*", user=self.impersonate, timeout=self.request_timeout_s
        )
        if status >= 400:
            raise api_error(status, data)
        return data.decode(errors="replace")

    def pod_http_get(self, pod: str, namespace: str, port: int, path: str, *, timeout: float) -> PodHttpAnswer:
        """GET path from a port the pod serves on its own loopback (its portforward subresource), which no
        other pod can reach."""
        return http_get_in_pod(self._api, pod, namespace, port, path, timeout=timeout, user=self.impersonate)

    def pod_https_get(
        self, pod: str, namespace: str, port: int, server_name: str, path: str, *, timeout: float
    ) -> tuple[bytes, PodHttpAnswer]:
        """(certificate presented, answer) of a TLS server the pod serves on port, asked for server_name (SNI and
        Host), through the pod's portforward subresource: where this machine cannot reach the pod's Service."""
        return https_get_in_pod(
            self._api, pod, namespace, port, server_name=server_name, path=path, timeout=timeout, user=self.impersonate
        )
