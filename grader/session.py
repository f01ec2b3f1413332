"""One grading: apply (optional), wait, run the checks through pytest, clean up.

An `Environment` (cluster facts + vantage points + probe pods) is opened once and reused: by one
`servicelab grade`, by a notebook `check()`, or by a whole `check-solutions` batch.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader import images, interrupt
from grader._kube import Kube, KubeUnreachable
from grader._wait import PROBE_POD_READY_S, READY_TIMEOUT_S
from grader.checks import LabContext
from grader.deploy import apply_into, delete_namespace, ensure_namespace, wait_deployments
from grader.facts import ClusterFacts, discover
from grader.labs import Lab
from grader.manifests import STARTER
from grader.plugin import PLUGIN_NAME, GradingPlugin
from grader.probes.base import ProbePolicy, Vantage
from grader.probes.host import HostVantage
from grader.probes.outside import INTERNET_CONTAINER, OutsideVantage
from grader.probes.pod import PodVantage, ProbePods
from grader.probes.shell import Op, Outcome
from grader.results import CheckResult, LabResult, Status
from grader.submission import judge_submission, learner_files
from grader.verdicts import BadInput, EnvError

log = logging.getLogger("servicelab.session")


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

    def context(self, namespace: str, ready_timeout_s: float = READY_TIMEOUT_S) -> LabContext:
        """A fresh LabContext (fresh matrix, fresh 'proven' state) on the shared probe pods."""
        probe, other = self.pod_vantages()
        facts = self.facts
        route = (facts.nodes[0].internal_ip, 6443) if facts.is_kind and facts.nodes else None
        outside: Vantage = (
            OutsideVantage(policy=self.policy, partner_ip=facts.partner_ip)
            if facts.is_kind
            else _Absent("outside container", "not a kind lab cluster")
        )
        internet: Vantage = (
            OutsideVantage(INTERNET_CONTAINER, self.policy, facts.partner_ip, "internet")
            if facts.is_kind
            else _Absent("internet", "not a kind lab cluster: probe from outside your VNet yourself")
        )
        host = HostVantage(route_check=route, policy=self.policy, partner_ip=facts.partner_ip)
        for vantage in (outside, host, internet):  # availability is a property of the environment: ask once per run
            key = vantage.name
            if key not in self._reasons:
                self._reasons[key] = vantage.unavailable_reason()
            vantage.preset_reason(self._reasons[key])
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

    def close(self) -> None:
        if self._pods is not None:
            self._pods.stop()
        self._vantages = None


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
    env = Environment(
        Kube(context=context, kubeconfig=kubeconfig),
        new_run_id(),
        probe_image or os.environ.get("SERVICELAB_PROBE_IMAGE") or images.BUSYBOX,
    )
    try:
        yield env
    finally:
        env.close()


def run_checks(lab: Lab, namespace: str, env: Environment) -> LabResult:
    """Run checks.py against what is in namespace; never raises for environment problems."""
    result = LabResult(
        lab=lab.id, title=lab.title, namespace=namespace, run_id=env.run_id, context=env.kube.context or ""
    )
    start = time.monotonic()
    try:
        ctx = env.context(namespace, lab.ready_timeout_s)
        for vantage in ctx.vantages:
            vantage.policy = _with_deadline(env.policy, lab.probe_deadline_s)
    except EnvError as err:
        result.env_error = err.diagnosis
        result.checks = [CheckResult(c.id, c.title, c.points, Status.ENV_ERROR, "not run") for c in lab.checks]
        result.duration_s = round(time.monotonic() - start, 3)
        return result
    result.matrix = ctx.matrix
    plugin = GradingPlugin(lambda: ctx)
    if _run_pytest(lab, plugin) == pytest.ExitCode.INTERRUPTED:
        interrupt.reraise()  # a signal stops the grading; it never becomes a failed check
    for spec in lab.checks:
        got = plugin.results.get(spec.id)
        if got is None:
            errors = plugin.collect_errors
            why = "checks.py could not be collected: " + errors[0] if errors else "not run"
            got = CheckResult(spec.id, spec.title, spec.points, Status.ENV_ERROR, why[:1500])
        result.checks.append(got)
    result.duration_s = round(time.monotonic() - start, 3)
    return result


def _with_deadline(policy: ProbePolicy, deadline_s: float) -> ProbePolicy:
    return ProbePolicy(policy.per_try_s, deadline_s, policy.backoff_s, policy.exec_slack_s, policy.hostname_rounds_size)


def _run_pytest(lab: Lab, plugin: GradingPlugin) -> int | pytest.ExitCode:
    args = [
        str(lab.checks_file),
        "-c",
        os.devnull,
        "--rootdir",
        str(lab.path),
        "--confcutdir",
        str(lab.path),
        "-p",
        "no:cacheprovider",
        "-p",
        "no:terminal",
        "-p",
        "no:stepwise",
        "--capture=sys",
        "--import-mode=importlib",
        "-o",
        "python_files=checks.py",
        "-W",
        "default",
    ]
    sink = io.StringIO()
    before = set(sys.modules)
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = pytest.main(args, plugins=[_Named(plugin)])
    for name in set(sys.modules) - before:  # a lab's checks module is re-imported each run
        module_file = getattr(sys.modules[name], "__file__", None) or ""
        if module_file.startswith(str(lab.path)):
            del sys.modules[name]
    if sink.getvalue().strip():
        log.debug("pytest output:\n%s", sink.getvalue())
    return code


class _Named:
    """Registers the grading plugin under a fixed name, so --servicelab-lab does not activate a second one."""

    def __init__(self, plugin: GradingPlugin) -> None:
        self.plugin = plugin

    def pytest_configure(self, config: pytest.Config) -> None:
        config.pluginmanager.register(self.plugin, PLUGIN_NAME)


def grade(
    lab: Lab,
    env: Environment,
    *,
    namespace: str | None = None,
    manifests: Path | None = None,
    case_files: list[tuple[Path, str]] | None = None,
    text: str | None = None,
) -> LabResult:
    """Grade one lab. With manifests (a folder), case_files or text: judge them (no cluster contact), then a
    fresh fenced namespace, apply, wait, grade, delete. Without: grade what is already in namespace
    (default lab-<id>). BadInput propagates (exit 2)."""
    files = case_files if case_files is not None else (learner_files(manifests) if manifests else None)
    if files is None and text is None:
        return _grade_in_place(lab, env, namespace or lab.default_namespace)
    docs = judge_submission(lab, files, text)  # every refusal happens here, before the cluster hears of it
    ns = namespace or f"{lab.id}-{env.run_id}-{secrets.token_hex(2)}"[:63]
    attempted = False
    try:
        facts = env.facts
        if env.kube.get("namespace", ns) is not None:
            raise BadInput(
                f"namespace {ns} already exists",
                rule="grading --manifests applies into a fresh namespace and deletes it afterwards",
                fix="pass another --namespace, or omit it",
            )
        attempted = True
        ensure_namespace(env.kube, ns, env.run_id, must_be_new=True, policy=lab.policy)
        applied = apply_into(env.kube, lab, ns, facts, env.run_id, docs=docs)
        starter = [d.name for d in applied if d.kind == "Deployment" and d.origin == STARTER]
        wait_deployments(env.kube, ns, starter, lab.ready_timeout_s)
        return run_checks(lab, ns, env)
    except (KubeUnreachable, EnvError) as err:
        return _env_result(lab, env, ns, err.diagnosis)
    finally:
        if attempted:
            with interrupt.shielded():
                delete_namespace(env.kube, ns)


def _grade_in_place(lab: Lab, env: Environment, ns: str) -> LabResult:
    try:
        exists = env.kube.get("namespace", ns) is not None
    except KubeUnreachable as err:
        return _env_result(lab, env, ns, err.diagnosis)
    if not exists:
        raise BadInput(
            f"namespace {ns} does not exist",
            rule="grading without --manifests grades what is there",
            fix="apply your manifests first (grader.apply in a notebook), or pass --manifests DIR",
        )
    return run_checks(lab, ns, env)


def _env_result(lab: Lab, env: Environment, namespace: str, diagnosis: str) -> LabResult:
    return LabResult(
        lab=lab.id,
        title=lab.title,
        namespace=namespace,
        run_id=env.run_id,
        env_error=diagnosis,
        context=env.kube.context or "",
        checks=[CheckResult(c.id, c.title, c.points, Status.ENV_ERROR, "not run") for c in lab.checks],
    )


__all__ = [
    "Environment",
    "environment",
    "grade",
    "new_run_id",
    "run_checks",
]
