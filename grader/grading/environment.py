"""Where gradings run: the cluster, its facts and the vantage points, opened once per run.

An `Environment` is reused: by one `servicelab grade`, by a notebook `check()`, by a whole
`check-solutions` or `grade-batch`. Probe pods start on first use and stop with the environment.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

from grader.base import images
from grader.base.errors import EnvError
from grader.base.names import INTERNET_CONTAINER, OUTSIDE_CONTAINER
from grader.base.wait import PROBE_POD_READY_S, READY_TIMEOUT_S
from grader.cluster.facts import ClusterFacts, discover, read_docker_ahead
from grader.grading.deploy import delete_namespace
from grader.kube.client import MANAGED_BY_KEY, MANAGED_BY_VALUE, RUN_ID_KEY, Kube, KubeError, KubeUnreachable
from grader.lab.context import LabContext
from grader.probes.base import ProbePolicy, Vantage
from grader.probes.host import HostVantage
from grader.probes.outside import OutsideVantage
from grader.probes.pod import PodVantage, ProbePods
from grader.probes.shell import Op, Outcome
from grader.probes.warm import ShellPool


def new_run_id() -> str:
    return secrets.token_hex(3)


@dataclass
class Environment:
    """The cluster and the vantage points of one run (probe pods are started lazily, once)."""

    kube: Kube
    run_id: str
    probe_image: str = images.BUSYBOX
    policy: ProbePolicy = field(default_factory=ProbePolicy)
    pods_ready_timeout_s: float = PROBE_POD_READY_S
    _facts: ClusterFacts | None = None
    _pods: ProbePods | None = None
    _vantages: tuple[PodVantage, PodVantage] | None = None
    _start_error: EnvError | None = None
    _reasons: dict[str, str] = field(default_factory=dict)
    _shells: dict[str, ShellPool] = field(default_factory=dict)  # warm shells into the outside containers

    @property
    def facts(self) -> ClusterFacts:
        if self._facts is None:
            self._facts = discover(self.kube)
        return self._facts

    def pod_vantages(self) -> tuple[PodVantage, PodVantage]:
        if self._start_error is not None:
            raise self._start_error  # once broken, every later grading of this run says so at once
        if self._vantages is None:
            self._pods = ProbePods(
                self.kube, self.run_id, self.probe_image, self.pods_ready_timeout_s, policy=self.policy
            )
            try:
                self._vantages = self._pods.start()
            except EnvError as err:
                self._start_error = err
                self._pods.stop()
                raise
        return self._vantages

    def _why_not_kind(self) -> str:
        return f" ({self.facts.not_kind})" if self.facts.not_kind else ""

    def context(self, namespace: str, ready_timeout_s: float = READY_TIMEOUT_S) -> LabContext:
        """A fresh LabContext (fresh matrix, fresh 'proven' state) on the shared probe pods."""
        probe, other = self.pod_vantages()
        facts = self.facts
        route = (facts.nodes[0].internal_ip, 6443) if facts.is_kind and facts.nodes else None
        outside: Vantage = (
            OutsideVantage(
                policy=self.policy,
                partner_ip=facts.partner_ip,
                source_ip=facts.client_ips.get(OUTSIDE_CONTAINER),
                shells=self._shell_pool(OUTSIDE_CONTAINER, ahead=True),
                known_reason=facts.container_reasons.get(OUTSIDE_CONTAINER),
            )
            if facts.is_kind
            else _Absent("outside container", f"not a kind lab cluster{self._why_not_kind()}")
        )
        internet: Vantage = (
            OutsideVantage(
                INTERNET_CONTAINER,
                self.policy,
                facts.partner_ip,
                "internet",
                facts.client_ips.get(INTERNET_CONTAINER),
                shells=self._shell_pool(INTERNET_CONTAINER),
                known_reason=facts.container_reasons.get(INTERNET_CONTAINER),
            )
            if facts.is_kind
            else _Absent(
                "internet", f"not a kind lab cluster{self._why_not_kind()}: probe from outside your VNet yourself"
            )
        )
        host = HostVantage(route_check=route, policy=self.policy, partner_ip=facts.partner_ip)
        for vantage in (outside, host, internet):  # availability is a property of the environment: ask once per run
            key = vantage.name
            if key not in self._reasons:
                self._reasons[key] = vantage.unavailable_reason()
            vantage.preset_reason(self._reasons[key])
        outside.required = internet.required = facts.is_kind  # they belong to the kind lab cluster
        vantages: list[Vantage] = [
            PodVantage(probe.name, self.kube, probe.namespace, probe.pod, policy=self.policy),
            PodVantage(other.name, self.kube, other.namespace, other.pod, policy=self.policy),
            outside,
            host,
        ]
        return LabContext(
            namespace=namespace,
            kube=self.kube,
            facts=facts,
            probe=vantages[0],
            other_probe=vantages[1],
            outside=vantages[2],
            host=vantages[3],
            internet=internet,
            ready_timeout_s=ready_timeout_s,
        )

    def _shell_pool(self, container: str, *, ahead: bool = False) -> ShellPool | None:
        """The warm shells into a running outside container (None when it is not: its vantage says why)."""
        if self.facts.container_reasons.get(container) != "":
            return None
        if container not in self._shells:
            self._shells[container] = ShellPool(container)
            if ahead:  # its docker exec set-up overlaps the first checks, which probe from inside
                self._shells[container].start_ahead()
        return self._shells[container]

    def close(self) -> None:
        if self._pods is not None:
            self._pods.stop()
        self._vantages = None
        for pool in self._shells.values():
            pool.close()
        self._shells.clear()


class _Absent(Vantage):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name)
        self._why = reason

    def unavailable_reason(self) -> str:
        return self._why

    def _run_ops(self, ops: list[Op], per_try_s: float, timeout_s: float) -> list[Outcome]:
        raise EnvError(f"{self.name}: {self._why}")


@contextlib.contextmanager
def environment(
    context: str | None = None, kubeconfig: str | None = None, *, probe_image: str | None = None
) -> Iterator[Environment]:
    read_docker_ahead()  # the facts' docker calls wait on docker while the first API call imports the client
    env = Environment(
        Kube(context=context, kubeconfig=kubeconfig),
        new_run_id(),
        probe_image or os.environ.get("SERVICELAB_PROBE_IMAGE") or images.BUSYBOX,
    )
    try:
        yield env
    finally:
        env.close()


@dataclass(frozen=True)
class EnvironmentSpec:
    """Picklable: which cluster a worker process grades on (it opens one Environment for its whole life)."""

    context: str | None = None
    kubeconfig: str | None = None
    probe_image: str | None = None

    def environment(self) -> contextlib.AbstractContextManager[Environment]:
        return environment(self.context, self.kubeconfig, probe_image=self.probe_image)


class EnvironmentWorker:
    """Grades in one Environment; its run id labels everything the worker creates (grader.parallel.workers)."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.run_id = env.run_id

    def clean_up_after(self, run_id: str) -> None:
        """Delete every namespace of that run (a dead worker's, or this one's when interrupted), found by its run
        label, each through remove_namespace; then release_run."""
        selector = f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE},{RUN_ID_KEY}={run_id}"
        try:
            names = [ns["metadata"]["name"] for ns in self.env.kube.list("namespaces", selector=selector)]
        except (KubeError, KubeUnreachable):
            return  # best effort: the run label stays for 'servicelab sweep'
        for name in names:
            self.remove_namespace(name)
        self.release_run(run_id)

    def remove_namespace(self, namespace: str) -> None:
        delete_namespace(self.env.kube, namespace)

    def release_run(self, run_id: str) -> None:
        """Drop what the run holds beyond its namespaces: nothing here."""
