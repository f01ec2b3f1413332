"""One grading: judge and apply (optional), wait, run the checks through pytest, clean up.

It runs in an `grader.grading.environment.Environment`, opened once and reused by many gradings.
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
from collections.abc import Mapping
from pathlib import Path

import pytest

from grader.base import interrupt
from grader.base.errors import BadInput, EnvError
from grader.catalogue.labs import Lab, facts_for, with_variables
from grader.grading.deploy import apply_into, delete_namespace, ensure_namespace, wait_deployments
from grader.grading.environment import Environment
from grader.grading.plugin import GradingPlugin
from grader.grading.results import CheckResult, LabResult, Status
from grader.grading.submission import judge_submission, learner_files
from grader.intake.manifests import STARTER, Doc
from grader.kube.client import KubeUnreachable
from grader.parallel import leases
from grader.parallel.claims import placeholder_values, submission_claims
from grader.probes.base import ProbePolicy

log = logging.getLogger("servicelab.session")


def run_checks(lab: Lab, namespace: str, env: Environment) -> LabResult:
    """Run checks.py against what is in namespace (with the lab's values: facts_for); never raises for environment
    problems."""
    result = LabResult(
        lab=lab.id, title=lab.title, namespace=namespace, run_id=env.run_id, context=env.kube.context or ""
    )
    start = time.monotonic()
    try:
        ctx = env.context(namespace, lab.ready_timeout_s)
        ctx.facts = facts_for(lab, ctx.facts)  # this grading's values, in a copy: the Environment's stay shared
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
        # No plugin that happens to be installed (xdist, anyio, rerunfailures, randomly...) joins a grading:
        # it cannot reorder or re-run checks, and its import (~0.3 s) is not paid on every run.
        "--disable-plugin-autoload",
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
        code = pytest.main(args, plugins=[plugin.registrar()])
    for name in set(sys.modules) - before:  # a lab's checks module is re-imported each run
        module_file = getattr(sys.modules[name], "__file__", None) or ""
        if module_file.startswith(str(lab.path)):
            del sys.modules[name]
    if sink.getvalue().strip():
        log.debug("pytest output:\n%s", sink.getvalue())
    return code


def grade(
    lab: Lab,
    env: Environment,
    *,
    namespace: str | None = None,
    manifests: Path | None = None,
    case_files: list[tuple[Path, str]] | None = None,
    text: str | None = None,
    variables: Mapping[str, str] | None = None,
) -> LabResult:
    """Grade one lab. With manifests (a folder), case_files or text: judge them (no cluster contact), then a
    fresh fenced namespace, apply, wait, grade, delete. Without: grade what is already in namespace
    (default lab-<id>). variables: the learner's own values (a classroom's: their node port) over the lab's
    defaults and the cluster's, for this grading only (with_variables: the judge accepts them too); the
    Environment's shared facts are not changed. BadInput propagates (exit 2)."""
    if variables:
        lab = with_variables(lab, variables)
    files = case_files if case_files is not None else (learner_files(manifests) if manifests else None)
    if files is None and text is None:
        return _grade_in_place(lab, env, namespace or lab.default_namespace)
    docs = judge_submission(lab, files, text)  # every refusal happens here, before the cluster hears of it
    ns = namespace or f"{lab.id}-{env.run_id}-{secrets.token_hex(2)}"[:63]
    try:
        facts = env.facts
        claims = submission_claims(lab, docs, placeholder_values(facts, ns))
        # What a namespace holds cluster-wide (a nodePort, an address, an HTTP host) is held by a Lease from before
        # it is applied until it is gone: every grading path on a shared cluster waits for the same thing here.
        with leases.holding(env.kube, claims, env.run_id, leases.CLAIM_WAIT_S):
            return _grade_fresh(lab, env, ns, docs, claims)
    except (KubeUnreachable, EnvError) as err:
        return _env_result(lab, env, ns, err.diagnosis)


def _grade_fresh(lab: Lab, env: Environment, ns: str, docs: list[Doc], claims: frozenset[str]) -> LabResult:
    if env.kube.get("namespace", ns) is not None:
        raise BadInput(
            f"namespace {ns} already exists",
            rule="grading --manifests applies into a fresh namespace and deletes it afterwards",
            fix="pass another --namespace, or omit it",
        )
    try:
        ensure_namespace(env.kube, ns, env.run_id, must_be_new=True, facts=env.facts, policy=lab.policy)
        applied = apply_into(env.kube, lab, ns, env.facts, env.run_id, docs=docs)
        starter = [d.name for d in applied if d.kind == "Deployment" and d.origin == STARTER]
        wait_deployments(env.kube, ns, starter, lab.ready_timeout_s)
        return run_checks(lab, ns, env)
    finally:
        with interrupt.shielded():
            delete_namespace(env.kube, ns)
            if claims:  # a terminating namespace still serves its routes and holds its nodePorts
                leases.wait_released(env.kube, ns, claims)


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


__all__ = ["grade", "run_checks"]
