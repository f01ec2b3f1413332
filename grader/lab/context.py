"""What a check sees: the `lab` fixture, a LabContext for one lab in one namespace.

    @pytest.mark.check(points=2, title="Service answers on its ClusterIP")
    def test_clusterip(lab: LabContext) -> None:
        svc = lab.service("web")
        lab.wait_ready_endpoints(svc, count=3)
        lab.probe.http_get(svc.url("/hostname")).must_succeed(hint="...")

See docs/WRITING_CHECKS.md for the whole API.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

from grader.base.errors import EnvError
from grader.base.names import TRAEFIK_LB_PORT
from grader.base.outcomes import Blocked, Diagnosis, Fail, NotApplicable
from grader.base.wait import READY_TIMEOUT_S, Terminal, WaitTimeout, wait_for
from grader.cluster.facts import ClusterFacts, Node
from grader.kube.client import Kube, KubeError, KubeUnreachable, Obj
from grader.lab import diagnose
from grader.lab import traefik_entry as entrypoint
from grader.lab.diagnose import endpoints_diagnosis, lb_pending_diagnosis, matches, pod_ready, port_mismatch
from grader.lab.services import Endpoints, Service, ready_endpoints
from grader.lab.unready import ReadinessWatch, too_few_can_turn_ready
from grader.probes.base import Vantage
from grader.probes.matrix import API, Matrix, Observation

__all__ = ["Endpoints", "LabContext", "Service"]


@dataclass
class LabContext:
    namespace: str
    kube: Kube
    facts: ClusterFacts
    probe: Vantage
    other_probe: Vantage
    outside: Vantage
    host: Vantage
    internet: Vantage | None = None  # a client that reaches public frontends only (None: not offered)
    matrix: Matrix = field(default_factory=Matrix)
    ready_timeout_s: float = READY_TIMEOUT_S
    _services: dict[str, Service] = field(default_factory=dict)
    _traefik_silent: str | None = None  # why Traefik does not answer; '' when it does, None: not asked
    _cache: dict[str, list[Obj]] = field(default_factory=dict)  # one namespace-wide read per kind and run
    judged: dict[str, bool] = field(default_factory=dict)  # what a run found out once (grader.lab.kit's keys)

    def __post_init__(self) -> None:
        for vantage in self.vantages:
            vantage.attach(self.matrix)
            vantage.recorder.diagnose, vantage.recorder.silence = self._diagnose_port, self._diagnose_silence
        for node in self.facts.nodes:
            self.matrix.name_target(node.internal_ip, f"node {node.name}")

    @property
    def vantages(self) -> list[Vantage]:
        extra = [self.internet] if self.internet is not None else []
        return [self.probe, self.other_probe, self.outside, self.host, *extra]

    @property
    def nodes(self) -> list[Node]:
        return list(self.facts.nodes)

    @property
    def worker_nodes(self) -> list[Node]:
        return [n for n in self.facts.nodes if not n.control_plane] or list(self.facts.nodes)

    # --- verdict helpers -------------------------------------------------------------------------
    def fail(self, hint: str, detail: str = "", *, diagnosis: str) -> NoReturn:
        """The learner's mistake: FAIL with hint; `diagnosis` is its stable id ('<lab>/<mistake>')."""
        raise Fail(hint, detail, diagnosis=diagnosis)

    def expect(self, condition: bool, hint: str, detail: str = "", *, diagnosis: str) -> None:
        """FAIL with hint (diagnosis: its stable id) unless condition holds."""
        if not condition:
            raise Fail(hint, detail, diagnosis=diagnosis)

    def blocked(self, by: str, why: str) -> NoReturn:
        """This check cannot observe its behaviour because check `by` failed: BLOCKED, no points."""
        raise Blocked(by, why)

    def not_applicable(self, reason: str) -> NoReturn:
        raise NotApplicable(reason)

    # --- objects ---------------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Obj | None:
        try:
            return self.kube.get(kind, name, self.namespace)
        except KubeUnreachable as err:
            raise EnvError(err.diagnosis) from err
        except KubeError as err:
            raise EnvError(f"cannot read {kind}/{name}: {err}") from err

    def require(self, kind: str, name: str, hint: str | None = None) -> Obj:
        obj = self.get(kind, name)
        if obj is None:
            raise Fail(
                hint or f"There is no {kind} '{name}' in namespace {self.namespace}.",
                diagnosis=f"objects/no-{kind.split('.', maxsplit=1)[0].lower()}",
            )
        return obj

    def read_field(self, obj: Service | Obj, path: str) -> Any:
        """The value at `path` of a learner's object (a Service, or an object as lab.get/require/objects return
        it), kept as the running check's evidence: dots separate keys, a number indexes a list
        ('spec.template.spec.containers.0.readinessProbe'); None when absent. A structural check (marker
        evidence="object") earns its points on what it read this way; every other check needs a probe."""
        raw = obj.raw if isinstance(obj, Service) else obj
        value: Any = raw
        for part in path.split("."):
            if isinstance(value, list) and part.isdigit():
                value = value[int(part)] if int(part) < len(value) else None
            else:
                value = value.get(part) if isinstance(value, dict) else None
        kind = "Service" if isinstance(obj, Service) else str(raw.get("kind") or "object")
        name = raw.get("metadata", {}).get("name", "")
        shown = "absent" if value is None else json.dumps(value, sort_keys=True)[:300]
        self.matrix.observe(Observation(API, f"{kind} {name} {path}", None, value is not None, shown))
        return value

    def objects(self, kind: str, selector: str | None = None) -> list[Obj]:
        try:
            return self.kube.list(kind, self.namespace, selector)
        except KubeUnreachable as err:
            raise EnvError(err.diagnosis) from err
        except KubeError as err:
            raise EnvError(f"cannot list {kind}: {err}") from err

    def _cached(self, kind: str) -> list[Obj]:
        if kind not in self._cache:
            self._cache[kind] = self.objects(kind)
        return self._cache[kind]

    def service(self, name: str, hint: str | None = None, *, fresh: bool = False) -> Service:
        """The Service `name` (FAIL with hint if absent), read once a run with all others unless `fresh`."""
        obj = (
            None
            if fresh
            else next((o for o in self._cached("services") if o.get("metadata", {}).get("name") == name), None)
        )
        if obj is None:
            obj = self.get("service", name)
        if obj is None:
            others = [s["metadata"]["name"] for s in self.objects("services")]
            raise Fail(
                hint
                or f"There is no Service '{name}' in namespace {self.namespace}"
                + (f" (Services there: {', '.join(others)})." if others else "."),
                diagnosis="objects/no-service",
            )
        svc = Service.from_obj(obj)
        self._services[name] = svc
        self._name_targets(svc)
        return svc

    def _name_targets(self, svc: Service) -> None:
        for target, label in svc.matrix_names({n.name: n.internal_ip for n in self.facts.nodes}):
            self.matrix.name_target(target, label)

    def traefik(self) -> Service:
        """Traefik's LoadBalancer Service (namespace traefik): the entry point of Ingress and of the Gateways it
        serves (port 80). ENV-ERROR when it is absent, has no address, or gives no
        HTTP answer from outside (asked once a run)."""
        svc = entrypoint.traefik_service(self.kube)
        self.matrix.name_target(f"{svc.lb_ips[0]}:{TRAEFIK_LB_PORT}", "Traefik (Ingress, Gateways)")
        if self._traefik_silent is None:
            self._traefik_silent = entrypoint.silence(self.outside, svc.lb_ips[0])
        if self._traefik_silent:
            raise EnvError(self._traefik_silent)
        return svc

    # --- waits -----------------------------------------------------------------------------------
    def wait_ready_endpoints(
        self, svc: Service | str, count: int = 1, *, timeout_s: float | None = None, hint: str | None = None
    ) -> Endpoints:
        """Poll the Service's EndpointSlices until `count` endpoints are ready; FAIL with a diagnosis if not."""
        svc = self.service(svc) if isinstance(svc, str) else svc
        seen: list[tuple[Service, Endpoints, list[Obj], str]] = []
        watch = ReadinessWatch()

        def ready() -> tuple[Endpoints | None, str]:
            current = self.service(svc.name, fresh=True) if seen else svc
            eps = self._ready_endpoints(current.name, cached=not seen)
            if eps.ready >= count:
                return eps, "ready"
            pods = self.objects("pods")
            # hopeless: none selected or readiness probes said no (all pods made), none on the port, or refused
            chosen = [p for p in pods if matches(current.selector, diagnose.pod_labels(p))]
            refused = diagnose.pods_refused(self.objects("replicasets"))  # admission refuses the same pods again
            stuck = too_few_can_turn_ready(chosen, eps.ready, count, watch, lambda: self.objects("events"))
            hopeless = ((not chosen or stuck) and diagnose.all_pods_made(pods, self.objects("deployments"))) or (
                all(pod_ready(p) for p in pods) and bool(pods) and bool(port_mismatch(current, chosen))
            )
            seen.append((current, eps, pods, refused))
            state = f"{eps.ready} ready endpoint(s) of {count} wanted"
            return None, Terminal(state) if hopeless or refused or not current.selector else state

        try:
            return wait_for(
                ready,
                what=f"{svc.name} endpoints",
                timeout_s=timeout_s or self.ready_timeout_s,
                interval_s=0.2,
                max_interval_s=1.0,
                settle_s=3.0,
            )
        except WaitTimeout as err:
            current, eps, pods, refused = seen[-1]
            found = endpoints_diagnosis(current, pods, eps.ready, count)
            why = ((refused + " ") if refused else "") + found.text + watch.kubelet_says(pods)
            raise Fail(
                f"{hint} {why}" if hint else why,
                detail=f"last seen: {err.last_state}",
                diagnosis="endpoints/pods-refused" if refused else found.id,
            ) from err

    def _ready_endpoints(self, name: str, *, cached: bool = False) -> Endpoints:
        if cached:
            slices = [
                s
                for s in self._cached("endpointslices")
                if (s.get("metadata", {}).get("labels") or {}).get("kubernetes.io/service-name") == name
            ]
        else:
            slices = self.objects("endpointslices", selector=f"kubernetes.io/service-name={name}")
        return ready_endpoints(slices)

    def wait_load_balancer(self, svc: Service | str, *, timeout_s: float = 45.0, hint: str | None = None) -> Service:
        """Until the Service has a load-balancer address; FAIL with why it is pending, or ENV-ERROR as soon
        as the cause is the environment's (a broken MetalLB is known after seconds, not at the deadline)."""
        name = svc if isinstance(svc, str) else svc.name
        started, seen = time.monotonic(), list[Service]()

        def assigned() -> tuple[Service | None, str]:
            seen.append(current := self.service(name, fresh=bool(seen)))
            if current.lb_ips or current.type != "LoadBalancer":
                return current, "settled"
            if time.monotonic() - started >= 3.0 and (broken := lb_pending_diagnosis(self.kube, current, []))[1]:
                raise EnvError(broken[0].text)
            return None, "EXTERNAL-IP pending"

        with contextlib.suppress(WaitTimeout):
            if (
                current := wait_for(
                    assigned, what=f"{name} address", timeout_s=timeout_s, interval_s=0.2, max_interval_s=2.0
                )
            ).lb_ips:
                return current
        events = diagnose.events_about(self.objects("events"), "Service", name)
        why, env = lb_pending_diagnosis(self.kube, seen[-1], events)
        if env:
            raise EnvError(why.text)
        raise Fail(
            f"{hint} {why}" if hint else why.text,
            detail=f"waited {timeout_s:.0f}s for an external address",
            diagnosis=why.id,
        )

    def _diagnose_port(self, host: str, port: int) -> Diagnosis:
        """Extra words for a failed probe: a targetPort no pod declares, if the target is a known Service. A node
        that refuses Traefik's node port too is the environment's: ENV-ERROR (asked once a run while it answers)."""
        if host in {n.internal_ip for n in self.facts.nodes} and not self.judged.get(key := f"node ports {host}"):
            if why := entrypoint.node_ports_refused(self.kube, self.outside, host):
                raise EnvError(why)
            self.judged[key] = True
        try:
            return diagnose.port_hint(
                host,
                list(self._services.values()),
                [n.internal_ip for n in self.facts.nodes],
                lambda: self.objects("pods"),
            )
        except EnvError:
            return Diagnosis()

    def _diagnose_silence(self, host: str, port: int, source: str) -> str:
        """Why a known Service's load-balancer address drops what comes from source (its source ranges)."""
        return diagnose.source_left_out(host, list(self._services.values()), source)
