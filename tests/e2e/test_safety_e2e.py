"""Grading other people's manifests on the real cluster: refusals write nothing, the fence holds, signals
and killed runs leave nothing behind.

Run: pytest --e2e tests/e2e/test_safety_e2e.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _corpus import made_case
from _runs import grading_process, namespaces_of

from grader import cli
from grader.base.errors import BadInput
from grader.base.wait import wait_for
from grader.catalogue.labs import load_lab
from grader.grading.deploy import apply_into, delete_namespace, ensure_namespace
from grader.grading.environment import environment
from grader.grading.fence import learner_user
from grader.grading.session import grade
from grader.grading.sweep import sweep
from grader.kube.client import MANAGED_BY_KEY, MANAGED_BY_VALUE, Kube
from grader.learner.notebook import apply as notebook_apply

pytestmark = pytest.mark.e2e

TESTS = Path(__file__).parent.parent
REPO = TESTS.parent
CORPUS = sorted(p for root in ("hostile", "badinput") for p in (TESTS / root).iterdir() if p.is_dir())
MANAGED = f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}"
KINDS = "namespaces,services,deployments,pods,configmaps,ingresses,httproutes,endpointslices,rolebindings"


def test_every_refusal_writes_nothing_to_the_cluster(
    context: str, kube: Kube, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before = _snapshot(kube)
    refused = []
    for case in CORPUS:
        spec = yaml.safe_load((case / "case.yaml").read_text())
        folder = made_case(case, spec, tmp_path)
        code = cli.main(["grade", spec["lab"], "--manifests", str(folder), "--context", context])
        err = capsys.readouterr().err
        refused.append((case.name, code, spec["refuses"] in err))
    assert [r for r in refused if r[1:] != (2, True)] == []
    assert _snapshot(kube) - before == set()  # nothing new; what vanished meanwhile is other runs' cleanup


def _snapshot(kube: Kube) -> set[str]:
    """Namespaces and grader-labelled objects, but those of other runs (namespaces another process owns)."""
    mine = f"/{os.getpid()}"
    names = {
        n["metadata"]["name"]
        for n in kube.list("namespaces")
        if (n["metadata"].get("annotations") or {}).get("servicelab.dev/owner", mine).endswith(mine)
    }
    objects = {o for o in _snapshot_managed(kube) if o.split("/")[1] in names | {""}}
    return {f"Namespace/{n}" for n in names} | objects


def _snapshot_managed(kube: Kube) -> set[str]:
    return {
        f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
        for o in kube.list(KINDS, all_namespaces=True, selector=MANAGED)
    }


def test_learner_objects_are_applied_with_namespace_rights_only(context: str, kube: Kube) -> None:
    lab = load_lab("clusterip")
    with environment(context) as env:
        ns = f"fence-{env.run_id}"
        ensure_namespace(env.kube, ns, env.run_id, must_be_new=True, facts=env.facts, policy=lab.policy)
        try:
            apply_into(
                env.kube, lab, ns, env.facts, env.run_id, files=[(lab.solution.path / "service.yaml", "service.yaml")]
            )
            user = learner_user(ns)

            def can(verb: str, resource: str, namespace: str, group: str = "") -> bool:  # kubectl auth can-i --as
                review = kube.as_user(user).create(
                    {
                        "apiVersion": "authorization.k8s.io/v1",
                        "kind": "SelfSubjectAccessReview",
                        "spec": {
                            "resourceAttributes": {
                                "verb": verb,
                                "resource": resource,
                                "group": group,
                                "namespace": namespace,
                            }
                        },
                    }
                )
                return bool(review.get("status", {}).get("allowed"))

            assert can("create", "services", ns)
            assert not can("create", "services", "default")
            assert not can("create", "pods", ns)  # the clusterip lab's answer is Services only
            assert not can("create", "rolebindings", ns, "rbac.authorization.k8s.io")
            labels = (kube.get("namespace", ns) or {})["metadata"]["labels"]
            assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
            assert kube.get("resourcequota", "servicelab", ns) is not None
            assert kube.get("service", "web", ns) is not None  # applied as the learner account
        finally:
            delete_namespace(env.kube, ns)


def test_an_unconfined_seccomp_profile_is_refused_before_the_cluster_hears_of_it(context: str, tmp_path: Path) -> None:
    """seccomp Unconfined was left to Pod Security at apply time; the pod policy now refuses it with file:line,
    so no namespace is made for it (the cluster's pod guard refuses it too: `servicelab up` dry-runs that)."""
    lab = load_lab("readiness")
    for src in lab.solution.path.glob("*.yaml"):
        text = src.read_text().replace(
            "      containers:\n",
            "      securityContext:\n        seccompProfile:\n          type: Unconfined\n      containers:\n",
            1,
        )
        (tmp_path / src.name).write_text(text)
    with environment(context) as env, pytest.raises(BadInput) as refused:
        grade(lab, env, manifests=tmp_path)
    assert "seccompProfile" in refused.value.render()
    assert refused.value.line is not None


def test_doctor_on_a_healthy_cluster() -> None:
    doctor = subprocess.run(
        [sys.executable, "-m", "grader.cli", "doctor"], capture_output=True, text=True, check=False, timeout=120
    )
    assert doctor.returncode == 0, doctor.stdout
    assert "All is well." in doctor.stdout


def test_notebook_apply_refuses_a_namespace_it_did_not_make(context: str) -> None:
    answer = (REPO / "labs/clusterip/solution/service.yaml").read_text()
    with pytest.raises(BadInput, match="was not created by servicelab"):
        notebook_apply(answer, "clusterip", namespace="kube-system", context=context)


def _grading_run(context: str, lab: str = "readiness") -> subprocess.Popen[str]:
    return grading_process(lab, "--context", context)


def _run_namespaces(kube: Kube, pid: int) -> list[str]:
    return namespaces_of(kube, pid)


def _wait_for_namespace(kube: Kube, proc: subprocess.Popen[str]) -> list[str]:
    def made() -> tuple[list[str] | None, str]:
        found = _run_namespaces(kube, proc.pid)
        grading = [n for n in found if n.startswith("readiness-")]
        return (found if grading else None), f"namespaces of pid {proc.pid}: {found}; exit {proc.poll()}"

    return wait_for(made, what="the run's grading namespace", timeout_s=60, interval_s=0.2)


def _wait_gone(kube: Kube, names: list[str]) -> None:
    def gone() -> tuple[bool | None, str]:
        left = [n for n in names if kube.get("namespace", n) is not None]
        return (True if not left else None), f"still there: {left}"

    wait_for(gone, what="the run's namespaces deleted", timeout_s=120, interval_s=0.5)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_grading_unwinds_and_deletes(context: str, kube: Kube, signum: int) -> None:
    proc = _grading_run(context)
    names = _wait_for_namespace(kube, proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "stopped by" in err
    _wait_gone(kube, names)


def test_a_killed_run_is_swept_by_the_next(context: str, kube: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    proc = _grading_run(context)
    names = _wait_for_namespace(kube, proc)
    proc.kill()
    proc.communicate(timeout=30)  # reaps it and closes its pipes
    assert cli.main(["sweep", "--context", context]) == 0
    assert all(n in capsys.readouterr().out for n in names)
    _wait_gone(kube, names)


def test_sweep_removes_a_dead_runs_finalizers(context: str, kube: Kube) -> None:
    """A namespace stuck terminating on a finalizer: sweep takes it off, on an object without our labels (as a
    learner's pod template makes them)."""
    dead_pid = _a_dead_pid()
    ns = f"stuck-{dead_pid}"
    labels = {MANAGED_BY_KEY: MANAGED_BY_VALUE, "servicelab.dev/role": "grading"}
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": ns,
                "labels": labels,
                "annotations": {"servicelab.dev/owner": f"{os.uname().nodename}/{dead_pid}"},
            },
        }
    )
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "held", "namespace": ns, "finalizers": ["example.com/hold"]},
        }
    )
    kube.delete("namespace", ns)
    swept = sweep(kube, older_than_s=3600)
    assert ns in {s.namespace for s in swept}
    _wait_gone(kube, [ns])


def _a_dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_no_grader_namespace_left_behind(kube: Kube) -> None:
    """After this module's runs (pass, refusal, signals, kill -9 + sweep): nothing of a dead run remains."""

    def cleared() -> tuple[bool | None, str]:
        left = _leftovers(kube)  # a namespace still terminating gets the time it needs
        return (True if not left else None), f"left: {left}"

    wait_for(cleared, what="no dead run's namespace left", timeout_s=120, interval_s=1)


def _leftovers(kube: Kube) -> list[str]:
    mine = {str(os.getpid())}
    found = []
    for ns in kube.list("namespaces", selector=MANAGED):
        meta = ns["metadata"]
        role = meta.get("labels", {}).get("servicelab.dev/role")
        owner = (meta.get("annotations") or {}).get("servicelab.dev/owner", "/").split("/")[-1]
        if role in ("grading", "probe") and owner not in mine and not _alive(owner):
            found.append(f"{meta['name']} ({ns.get('status', {}).get('phase')})")
    return found


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
