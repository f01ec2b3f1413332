"""The grader on the real lab cluster: every probe kind, every verdict path, the must-not-reach rule.

Uses the demo lab in tests/data/labs/demo. Run: pytest --e2e tests/e2e/test_grader_e2e.py
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader import cli
from grader.base.errors import EnvError
from grader.base.outcomes import Fail
from grader.catalogue.labs import Lab, load_lab
from grader.grading.deploy import apply_into, delete_namespace, ensure_namespace, wait_deployments
from grader.grading.environment import Environment, environment
from grader.grading.results import Status, Verdict
from grader.grading.session import grade, run_checks
from grader.intake.manifests import manifest_files
from grader.kube.client import MANAGED_BY_KEY, RUN_ID_KEY, Kube
from grader.lab.context import LabContext

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).parent.parent / "data" / "labs" / "demo"


@pytest.fixture(scope="module")
def context(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--kube-context"))


@pytest.fixture(scope="module")
def lab() -> Lab:
    return load_lab(str(DEMO))


@pytest.fixture(scope="module")
def env(context: str) -> Iterator[Environment]:
    with environment(context) as opened:
        yield opened


@pytest.fixture(scope="module")
def ready_ns(env: Environment, lab: Lab) -> Iterator[str]:
    """The demo solution applied and ready, for probe-level tests."""
    ns = f"e2e-demo-{env.run_id}"
    ensure_namespace(env.kube, ns, env.run_id, must_be_new=True, facts=env.facts)
    try:
        files = [(f, str(f)) for f in manifest_files(lab.solution.path)]
        apply_into(env.kube, lab, ns, env.facts, env.run_id, files=files)
        wait_deployments(env.kube, ns, ["web"], 120)
        yield ns
    finally:
        delete_namespace(env.kube, ns)


@pytest.fixture
def ctx(env: Environment, ready_ns: str) -> LabContext:
    return env.context(ready_ns)


def test_solution_gets_full_marks(env: Environment, lab: Lab) -> None:
    files = [(f, str(f)) for f in manifest_files(lab.solution.path)]
    result = grade(lab, env, case_files=files)
    assert result.verdict is Verdict.PASS, [(c.id, c.status, c.message, c.detail) for c in result.checks]
    assert result.fraction == 1.0
    assert result.matrix.cells


def test_every_probe_kind(ctx: LabContext) -> None:
    svc = ctx.service("web")
    eps = ctx.wait_ready_endpoints(svc, count=3)
    assert len(eps.pod_names) == 3
    http = ctx.probe.http_get(svc.url("/hostname")).must_succeed(hint="x")
    assert http.status == 200
    assert http.body in eps.pod_names
    assert ctx.probe.collect_hostnames(svc.url("/hostname"), expect=eps.pod_names).must_cover(hint="x").ok
    assert ctx.probe.tcp_connect(svc.cluster_ip or "", 80).connected
    assert ctx.probe.dns(svc.dns).must_resolve(hint="x", to=svc.cluster_ip).addresses == [svc.cluster_ip]
    cname = ctx.probe.dns(ctx.service("partner").dns, "CNAME")
    assert cname.cnames == ["api.partner.example"]
    assert ctx.other_probe.http_get(svc.url("/hostname", host=svc.dns)).ok
    node_port = ctx.service("web-np").port().node_port
    node = ctx.worker_nodes[0]
    assert ctx.outside.http_get(f"http://{node.internal_ip}:{node_port}/hostname").must_succeed(hint="x").ok
    if ctx.host.available:
        assert ctx.host.http_get(f"http://{node.internal_ip}:{node_port}/hostname").ok


def test_nxdomain_and_refused_are_observed_not_crashes(ctx: LabContext) -> None:
    missing = ctx.probe.dns(f"nope.{ctx.namespace}.svc.cluster.local", deadline_s=2)
    assert missing.error == "NXDOMAIN"
    with pytest.raises(Fail):
        missing.must_resolve(hint="no such name")
    web = ctx.service("web")
    refused = ctx.probe.http_get(f"http://{ctx.wait_ready_endpoints(web, 1).addresses[0]}:9999/", deadline_s=2)
    assert refused.error == "connection refused"
    assert len(refused.attempts) >= 1


def test_must_not_reach_counts_after_known_good(ctx: LabContext) -> None:
    svc = ctx.service("web")
    ctx.outside.must_not_reach(svc.url("/hostname"), hint="ClusterIP must stay private")
    cell = ctx.matrix.cell("outside container", "web ClusterIP")
    assert cell is not None
    assert (cell.expected, cell.observed) == (False, False)
    with pytest.raises(Fail):
        ctx.probe.must_not_reach(svc.url("/hostname"), hint="reachable in the cluster")


def test_must_not_reach_without_a_reachable_known_good_is_env_error(env: Environment, ready_ns: str) -> None:
    fresh = env.context(ready_ns)
    svc = fresh.service("web")
    with pytest.raises(EnvError, match="cannot be judged"):
        fresh.outside.must_not_reach(svc.url("/hostname"), hint="x", known_good="http://192.0.2.1/")


def test_wrong_cases_fail_exactly_their_check_with_hints(context: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check-solutions", str(DEMO), "--context", context]) == 0, capsys.readouterr().out


def test_grade_cli_with_manifests_writes_reports_and_cleans_up(
    context: str, lab: Lab, tmp_path: Path, kube: Kube
) -> None:
    out = tmp_path / "r.json"
    wrong = lab.path / "wrong" / "wrong-selector"
    code = cli.main(
        [
            "grade",
            str(DEMO),
            "--manifests",
            str(wrong),
            "--context",
            context,
            "--json",
            str(out),
            "--junit",
            str(tmp_path / "r.xml"),
            "--markdown",
            str(tmp_path / "r.md"),
        ]
    )
    data = json.loads(out.read_text())
    assert code == 1
    assert data["verdict"] == "FAIL"
    failed = {c["id"]: c["message"] for c in data["checks"] if c["status"] == "fail"}
    assert list(failed) == ["all_backends"]
    assert "matches no pod" in failed["all_backends"]
    assert "app=web" in failed["all_backends"]  # shows the pods' labels
    ns = data["namespace"]
    left = kube.get("namespace", ns)
    assert left is None or left.get("metadata", {}).get("deletionTimestamp")


def test_bad_manifest_is_rejected_by_dry_run_before_anything_is_applied(
    context: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "svc.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec: {type: NodePort, selector: {app: web}, ports: [{port: 80, nodePort: 80}]}\n"
    )
    assert cli.main(["grade", str(DEMO), "--manifests", str(tmp_path), "--context", context]) == 2
    assert "nodePort" in capsys.readouterr().err


def test_missing_probe_image_is_env_error_not_zero(context: str, lab: Lab) -> None:
    files = [(f, str(f)) for f in manifest_files(lab.solution.path)]
    with environment(context, probe_image="docker.io/library/busybox:0.0.0-servicelab-missing") as broken:
        broken.pods_ready_timeout_s = 60
        result = grade(lab, broken, case_files=files)
    assert result.verdict is Verdict.ENV_ERROR
    assert result.fraction is None
    assert "probe pod" in result.diagnosis
    assert all(c.status is Status.ENV_ERROR for c in result.checks)


def test_unreachable_context_is_env_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["grade", str(DEMO), "--context", "servicelab-no-such-context"]) == 3


def test_notebook_flow_apply_then_check(context: str, lab: Lab, kube: Kube, capfd: pytest.CaptureFixture[str]) -> None:
    from grader import apply, check  # noqa: PLC0415 - the public notebook API

    ns = "e2e-notebook-demo"
    try:
        text = (lab.solution.path / "services.yaml").read_text()
        applied = apply(text, lab=str(DEMO), namespace=ns, context=context)
        assert "Service/web" in applied
        score = check(str(DEMO), namespace=ns, context=context)
        out, err = capfd.readouterr()
        assert err == ""
        assert score == 1.0, out
    finally:
        delete_namespace(kube, ns)


def test_run_checks_reuses_probe_pods(env: Environment, lab: Lab, ready_ns: str) -> None:
    first = env.pod_vantages()
    run_checks(lab, ready_ns, env)
    assert env.pod_vantages() is first


def test_nothing_of_a_run_is_left_behind(env: Environment, kube: Kube, ready_ns: str) -> None:
    """Runs last in this module: every namespace of the run except the shared one is gone or going."""
    env.pod_vantages()
    env.close()
    namespaces = kube.list("namespaces", selector=f"{MANAGED_BY_KEY}=servicelab,{RUN_ID_KEY}={env.run_id}")
    alive = [
        ns["metadata"]["name"]
        for ns in namespaces
        if not ns.get("metadata", {}).get("deletionTimestamp") and ns["metadata"]["name"] != ready_ns
    ]
    assert alive == []


def test_in_a_jupyter_kernel_check_shows_html_and_writes_no_stderr(context: str, lab: Lab, kube: Kube) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    ns = "e2e-kernel-demo"
    text = (lab.solution.path / "services.yaml").read_text()
    cells = [
        "from grader import apply, check",
        f"applied = apply({text!r}, lab={str(DEMO)!r}, namespace={ns!r}, context={context!r})",
        f"score = check({str(DEMO)!r}, namespace={ns!r}, context={context!r})\nscore",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    try:
        nbclient.NotebookClient(nb, timeout=180, kernel_name="python3").execute()
    finally:
        delete_namespace(kube, ns)
    outputs = [o for cell in nb.cells for o in cell.outputs]
    assert not [o for o in outputs if o.get("name") == "stderr" or o.get("output_type") == "error"], outputs
    html = [o for o in outputs if o.get("output_type") == "display_data" and "text/html" in o.get("data", {})]
    assert html
    assert "Reachability" in html[0]["data"]["text/html"]
    assert nb.cells[2].outputs[-1]["data"]["text/plain"] == "1.0"
