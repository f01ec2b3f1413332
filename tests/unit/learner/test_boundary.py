"""The notebook boundary: servicelab's errors are one line naming the fix, never a traceback (grader.learner.boundary),
and every notebook function that grades nothing prints that line; check() fails its cell with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from grader.base.errors import BadInput, EnvError, ServicelabError
from grader.kube.errors import KubeError, KubeUnreachable
from grader.learner import boundary, notebook

UNREACHABLE = "unable to connect to the server https://127.0.0.1:1: Connection refused"


def lost() -> EnvError:
    """As grader.cluster.facts.discover raises it: an EnvError from a KubeUnreachable."""
    try:
        raise KubeUnreachable(UNREACHABLE)
    except KubeUnreachable as err:
        try:
            raise EnvError(f"the cluster does not answer (context current): {err}") from err
        except EnvError as env:
            return env


def test_an_unreachable_cluster_is_one_line_that_says_servicelab_up() -> None:
    said = boundary.explain(lost())
    assert said.count("\n") == 0
    assert "`servicelab up`" in said
    assert UNREACHABLE in said
    assert boundary.explain(KubeUnreachable("no usable kubeconfig\n(context current)")).count("\n") == 0


def test_another_environment_fault_asks_the_cluster_which_fix_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boundary, "cluster_answers", lambda context=None: True)
    said = boundary.explain(EnvError("probe pod probe-x did not start:\nimage missing"))
    assert said == (
        "ENV-ERROR: probe pod probe-x did not start: image missing. Fix: `servicelab doctor` in a terminal names "
        "what to mend; `servicelab up` repairs most of it"
    )
    monkeypatch.setattr(boundary, "cluster_answers", lambda context=None: False)
    assert "`servicelab up` in a terminal" in boundary.explain(KubeError("Error from server (Forbidden): no"))


def test_a_learners_mistake_keeps_file_line_rule_and_fix() -> None:
    err = BadInput("unknown field", file="your manifest", line=3, rule="a Service has spec", fix="remove it")
    assert boundary.explain(err) == "your manifest:3: unknown field\n  rule: a Service has spec\n  fix: remove it"


def test_not_graded_shows_as_its_message_in_ipython_and_is_an_env_error() -> None:
    err = boundary.NotGraded("ENV-ERROR: the lab cluster does not answer")
    assert isinstance(err, EnvError)
    assert err._render_traceback_() == ["ENV-ERROR: the lab cluster does not answer"]
    assert boundary.NotGradedInput("a\n  rule: b")._render_traceback_() == ["a", "  rule: b"]


def test_prints_errors_prints_ours_and_keeps_a_bugs_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    @boundary.prints_errors
    def broken(kind: type[Exception]) -> int:
        raise kind("the lab cluster does not answer")

    assert broken(KubeUnreachable) is None
    out = capsys.readouterr()
    assert out.out.count("\n") == 1
    assert "`servicelab up`" in out.out
    assert not out.err
    with pytest.raises(ZeroDivisionError):
        broken(ZeroDivisionError)


# --- every notebook function, with no cluster: one line, on stdout --------------------------------------------------
class NoCluster:
    """A Kube whose every call finds no API server."""

    def __init__(self, context: str | None = None, **_: Any) -> None:
        self.context = context

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise KubeUnreachable(UNREACHABLE)

        return call


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SERVICELAB_DATA", str(tmp_path))
    monkeypatch.delenv("SERVICELAB_NAMESPACE", raising=False)
    monkeypatch.setattr(notebook, "Kube", NoCluster)
    monkeypatch.setattr(boundary, "Kube", NoCluster)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("cluster_ready", ()),
        ("explore", ("clusterip",)),
        ("flow", ("clusterip",)),
        ("reset", ("clusterip",)),
        ("values", ("static-ip",)),
        ("observe_network", ()),
        ("clear_other_lab", ("ingress",)),
    ],
)
@pytest.mark.usefixtures("no_cluster")
def test_with_no_cluster_each_function_prints_one_line_with_the_fix(
    name: str, args: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    call = getattr(notebook, name)
    assert call(*args) is None
    out = capsys.readouterr()
    assert out.out.count("\n") == 1, out.out
    assert out.out.startswith("ENV-ERROR: the lab cluster does not answer: start the lab cluster with `servicelab up`")
    assert not out.err


@pytest.mark.usefixtures("no_cluster")
def test_with_no_cluster_the_answer_cell_says_not_applied_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    class Shell:
        user_ns: dict[str, Any] = {}  # noqa: RUF012 - one per test
        magics: dict[str, Any] = {}  # noqa: RUF012

        def register_magic_function(self, fn: Any, magic_kind: str, magic_name: str) -> None:
            self.magics[magic_name] = fn

    shell = Shell()
    notebook.load_ipython_extension(shell)
    shell.magics["servicelab_answer"]("clusterip", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n")
    out = capsys.readouterr()
    assert out.out.count("\n") == 1, out.out
    assert out.out.startswith("not applied: ENV-ERROR: the lab cluster does not answer")
    assert "`servicelab up`" in out.out


def test_with_no_cluster_check_fails_its_cell_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def environment(context: str | None) -> Any:
        raise lost()

    monkeypatch.setattr(notebook, "environment", environment)
    with pytest.raises(boundary.NotGraded) as raised:
        notebook.check("clusterip")
    assert len(raised.value._render_traceback_()) == 1
    assert "`servicelab up`" in str(raised.value)
    assert capsys.readouterr().out == ""  # the line is the cell's error, shown once


def test_check_on_an_unknown_lab_fails_with_rule_and_fix() -> None:
    with pytest.raises(boundary.NotGradedInput) as raised:
        notebook.check("no-such-lab")
    lines = raised.value._render_traceback_()
    assert lines[0].startswith("no lab 'no-such-lab'")
    assert any(line.strip().startswith("fix:") for line in lines)
    assert isinstance(raised.value, ServicelabError)


# --- the setup cell's cluster_ready(): one line either way ----------------------------------------------------------
class LabCluster:
    """Nodes and the lab's controllers (grader.cluster.status.CONTROLLERS) as the API shows them."""

    def __init__(self, context: str | None = None, *, node_ready: bool = True, traefik_ready: int = 1) -> None:
        self.node_ready, self.traefik_ready = node_ready, traefik_ready

    def list(self, kind: str, *_: Any, **__: Any) -> list[dict[str, Any]]:
        assert kind == "nodes"
        ready = {"type": "Ready", "status": "True" if self.node_ready else "False"}
        return [{"metadata": {"name": f"n{i}"}, "status": {"conditions": [ready]}} for i in range(3)]

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        ready = self.traefik_ready if name == "traefik" else 1
        if kind == "daemonset":
            status = {"desiredNumberScheduled": 3, "numberReady": 3, "updatedNumberScheduled": 3}
            return {"spec": {}, "status": status}
        return {"spec": {"replicas": 1}, "status": {"readyReplicas": ready, "updatedReplicas": 1}}


def test_cluster_ready_says_ready_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(notebook, "Kube", LabCluster)
    notebook.cluster_ready()
    assert capsys.readouterr().out == "the lab cluster is ready\n"


def test_cluster_ready_names_what_is_wrong_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(notebook, "Kube", lambda context=None: LabCluster(node_ready=False, traefik_ready=0))
    notebook.cluster_ready()
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert out.startswith("ENV-ERROR: the lab cluster is not ready: node n0 is not Ready; node n1 is not Ready;")
    assert "deployment traefik/traefik: 0/1 ready" in out
    assert out.rstrip().endswith(
        "Fix: `servicelab doctor` in a terminal names what to mend; `servicelab up` repairs most of it"
    )


@pytest.mark.parametrize("kubeconfig", ["missing", "refused"])
def test_with_the_real_client_no_kubeconfig_and_a_refused_server_are_one_line(
    kubeconfig: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "kubeconfig"
    if kubeconfig == "refused":  # a stopped cluster: its port refuses connections
        path.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
            "clusters: [{name: gone, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]\n"
            "users: [{name: u, user: {token: t}}]\ncontexts: [{name: gone, context: {cluster: gone, user: u}}]\n"
        )
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.setenv("SERVICELAB_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("SERVICELAB_NAMESPACE", raising=False)
    for call in (notebook.cluster_ready, lambda: notebook.explore("clusterip"), lambda: notebook.flow("clusterip")):
        call()
        out = capsys.readouterr()
        assert out.out.count("\n") == 1, out.out
        assert out.out.startswith(
            "ENV-ERROR: the lab cluster does not answer: start the lab cluster with `servicelab up`"
        )
        assert not out.err
