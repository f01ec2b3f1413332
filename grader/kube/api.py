"""HTTP to the Kubernetes API in process, through the official `kubernetes` client.

One Session per kubeconfig/context holds one ApiClient (one urllib3 connection pool, so connections are
reused) and the discovery cache. Bodies are JSON dicts in and out; the client's models are never used.
Errors read as kubectl prints them, and carry the API's status, reason and details for callers to decide by.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

from grader.kube.discovery import AGGREGATED_ACCEPT, Discovery, legacy_paths, parse_aggregated, parse_legacy
from grader.kube.errors import KubeError, KubeUnreachable, api_error

Obj = dict[str, Any]
Query = Sequence[tuple[str, str]]
JSON = "application/json"


class Session:
    """One kubeconfig/context: its ApiClient, default namespace and discovery, made on first use.

    The kubeconfig is read again when its file changes (a re-created kind cluster has a new port and
    certificates) and after a connection failure.
    """

    def __init__(self, context: str | None, kubeconfig: str | None) -> None:
        self.context = context
        self.kubeconfig = kubeconfig
        self.namespace = "default"  # the context's namespace, read with the kubeconfig
        self._lock = threading.RLock()
        self._client: Any = None
        self._stamp: tuple[tuple[str, int], ...] = ()
        self._discovery: Discovery | None = None

    def __reduce__(self) -> tuple[type[Session], tuple[str | None, str | None]]:
        return Session, (self.context, self.kubeconfig)  # a copy in another process connects afresh

    def _source(self) -> str:
        return self.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"

    def _files_stamp(self) -> tuple[tuple[str, int], ...]:
        paths = [os.path.expanduser(p) for p in self._source().split(os.pathsep) if p]
        return tuple((p, os.stat(p).st_mtime_ns if os.path.exists(p) else -1) for p in paths)

    def client(self) -> Any:
        """The ApiClient (kubernetes.client.ApiClient), connected on first use."""
        with self._lock:
            stamp = self._files_stamp()
            if self._client is None or stamp != self._stamp:
                self.reset()
                self._client, self.namespace = _connect(self.context, self._source())
                self._stamp = stamp
            return self._client

    def cluster_entry(self) -> str | None:
        """The name of the kubeconfig's cluster entry the context uses (kind writes `kind-<cluster>`)."""
        try:
            chosen = _chosen_context(self.context, self._source())
        except Exception:  # the file went away or broke since: no name to tell
            return None
        name = (chosen.get("context") or {}).get("cluster")
        return str(name) if name else None

    def reset(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client, self._discovery = None, None

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Obj | list[Obj] | None = None,
        content_type: str = JSON,
        accept: str = JSON,
        user: str | None = None,
        timeout: float = 20.0,
    ) -> tuple[int, bytes]:
        """One HTTP request on the client's connection pool; (status, body). KubeUnreachable when no server
        answered (refused, reset, DNS, TLS, timeout)."""
        api = self.client()
        import urllib3  # noqa: PLC0415 - loaded with the client

        cfg = api.configuration
        headers = {"Accept": accept, "User-Agent": "servicelab", **auth_header(cfg)}
        if body is not None:
            headers["Content-Type"] = content_type
        if user:
            headers["Impersonate-User"] = user  # kubectl --as
        url = cfg.host + path + ("?" + urlencode(list(query), quote_via=quote) if query else "")
        try:
            resp = api.rest_client.pool_manager.request(
                method,
                url,
                body=json.dumps(body).encode() if body is not None else None,
                headers=headers,
                timeout=urllib3.Timeout(total=timeout),
                preload_content=True,
                # a connection error is retried (nothing was sent); a read error or timeout is not (it may have
                # been acted on), and no redirects: the API server sends none
                retries=urllib3.Retry(total=2, connect=2, read=0, redirect=0, status=0, other=0),
            )
        except (urllib3.exceptions.HTTPError, OSError) as err:
            self.reset()  # the next call reads the kubeconfig again
            raise KubeUnreachable(
                f"unable to connect to the server {cfg.host}: {getattr(err, 'reason', None) or err}"
            ) from err
        return int(resp.status), bytes(resp.data or b"")

    def call(self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any) -> Obj | None:
        """request() with JSON answers: the object, None for a 404 when missing_ok, else KubeError."""
        status, data = self.request(method, path, **kwargs)
        if status == 404 and missing_ok:
            return None
        if status >= 400:
            raise api_error(status, data)
        try:
            answer: Obj = json.loads(data) if data else {}
        except ValueError as err:
            raise KubeError(f"the server answered {method} {path} with no JSON: {data[:200]!r}", status=status) from err
        return answer

    def get_json(self, path: str, **kwargs: Any) -> Obj:
        return self.call("GET", path, **kwargs) or {}

    def discovery(self, *, refresh: bool = False, timeout: float = 20.0) -> Discovery:
        """The server's resources, fetched once per connection (again when asked: a CRD was added)."""
        with self._lock:
            self.client()  # a new kubeconfig drops the cache
            if self._discovery is None or refresh:
                self._discovery = self._discover(timeout)
            return self._discovery

    def _discover(self, timeout: float) -> Discovery:
        api = self.get_json("/api", accept=AGGREGATED_ACCEPT, timeout=timeout)
        apis = self.get_json("/apis", accept=AGGREGATED_ACCEPT, timeout=timeout)
        core, groups = parse_aggregated(api), parse_aggregated(apis)
        if core is not None and groups is not None:
            return Discovery(core + groups)
        found = []  # a server before aggregated discovery (Kubernetes < 1.27): one request per group version
        for path in legacy_paths(api, apis):
            try:
                found += parse_legacy(self.get_json(path, timeout=timeout))
            except KubeError:
                continue  # an aggregated API that is down: kubectl, too, carries on without it
        return Discovery(found)


@functools.cache
def _loader() -> Any:
    """Safe YAML where dates stay strings, as Kubernetes reads them (built on first use: yaml loads slowly)."""
    import yaml  # noqa: PLC0415

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    resolvers = {
        first: [r for r in found if r[0] != "tag:yaml.org,2002:timestamp"]
        for first, found in base.yaml_implicit_resolvers.items()
    }
    return type("Loader", (base,), {"yaml_implicit_resolvers": resolvers})


def kubeconfig_text(
    name: str, cluster: dict[str, str], user_name: str, user: dict[str, str], namespace: str = ""
) -> str:
    """A kubeconfig of one cluster, one user and their one context (named like the cluster), as JSON (JSON is YAML):
    what grader.kube reads for a client that is not the person's own (a student's server, a ServiceAccount)."""
    context = {"cluster": name, "user": user_name, **({"namespace": namespace} if namespace else {})}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
    }
    return json.dumps(config, indent=1)


def parse_manifest(text: str) -> list[Obj]:
    """The objects of YAML or JSON text (documents, `kind: List` flattened)."""
    if text.lstrip()[:1] == "{":
        try:
            docs = [json.loads(text)]
        except ValueError as err:
            raise KubeError(f"error: error parsing the manifest: {err}") from err
    else:
        import yaml  # noqa: PLC0415

        try:
            docs = list(yaml.load_all(text, Loader=_loader()))
        except yaml.YAMLError as err:
            raise KubeError(f"error: error parsing the manifest: {err}") from err
    objects: list[Obj] = []
    for doc in docs:
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            objects += [item for item in doc["items"] if isinstance(item, dict)]
        elif isinstance(doc, dict) and doc:
            objects.append(doc)
    return objects


def auth_header(cfg: Any) -> dict[str, str]:
    """The bearer token, if the kubeconfig has one (refreshed first when an exec plugin provides it)."""
    token = cfg.get_api_key_with_prefix("BearerToken", alias="authorization")
    return {"Authorization": str(token)} if token else {}


def _connect(context: str | None, source: str) -> tuple[Any, str]:
    """An ApiClient for the kubeconfig (kubectl's rules: KUBECONFIG may list files) and the context's namespace."""
    from kubernetes import client, config  # noqa: PLC0415 - heavy (~0.6 s): only when a Kube first talks

    cfg = client.Configuration()
    try:
        load: Any = config.load_kube_config  # the client's config module has no type hints
        load(config_file=source, context=context, client_configuration=cfg, persist_config=False)
        chosen = _chosen_context(context, source)
    except Exception as err:  # a missing file, no such context, broken YAML: nothing to connect to
        raise KubeUnreachable(f"no usable kubeconfig (context {context or 'current'}, {source}): {err}") from err
    return client.ApiClient(cfg), (chosen.get("context") or {}).get("namespace") or "default"


def _chosen_context(context: str | None, source: str) -> dict[str, Any]:
    """The kubeconfig's entry for context (the current one when None), as kubectl picks it."""
    from kubernetes import config  # noqa: PLC0415 - heavy (~0.6 s): only when a Kube first talks

    contexts, current = config.list_kube_config_contexts(source)  # type: ignore[no-untyped-call]
    chosen: dict[str, Any] = next((c for c in contexts if c.get("name") == (context or current.get("name"))), current)
    return chosen
