"""The real grading function: the grader in place in the student's namespace (what check() grades), in a worker
process of its own; here without a cluster: the cases that end before any probe runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from _kube_fakes import FakeHttp, fake_kube

from grader.classroom.service.__main__ import in_cluster_kubeconfig
from grader.classroom.service.fairqueue import NotGradable
from grader.classroom.service.live import LiveGrader, LiveSpec, grade_in_place
from grader.grading.environment import Environment
from grader.kube.api import Session

NS = "servicelab-student-ann"


def test_a_namespace_that_is_not_there_is_not_graded_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    http = FakeHttp()  # GET the namespace: 404
    env = Environment(fake_kube(monkeypatch, http), "abc123")
    kind, said = grade_in_place(env, NS, "nodeport")
    assert kind == "refused"
    assert f"namespace {NS} does not exist" in said
    assert [s.path for s in http.api_calls()] == [f"/api/v1/namespaces/{NS}"]  # read, nothing written


def test_a_value_no_variable_can_have_is_refused_before_the_cluster_hears_of_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http = FakeHttp()
    env = Environment(fake_kube(monkeypatch, http), "abc123")
    kind, said = grade_in_place(env, NS, "nodeport", {"NODE_PORT": "80"})
    assert kind == "refused"
    assert "the value '80' of NODE_PORT is not a node port" in said
    assert http.api_calls() == []


def test_a_cluster_that_does_not_answer_is_an_env_error_report(monkeypatch: pytest.MonkeyPatch) -> None:
    env = Environment(fake_kube(monkeypatch, FakeHttp(fail=ConnectionRefusedError("refused"))), "abc123")
    kind, report = grade_in_place(env, NS, "nodeport")
    assert kind == "report"
    assert report["schema"] == "servicelab.result/v1"
    assert (report["lab"], report["namespace"], report["verdict"], report["score"]) == (
        "nodeport",
        NS,
        "ENV-ERROR",
        None,
    )
    assert "the cluster does not answer" in report["diagnosis"]
    assert {c["status"] for c in report["checks"]} == {"env-error"}


def test_an_unknown_lab_is_refused_by_the_worker_process() -> None:
    grader = LiveGrader(LiveSpec(kubeconfig="/nonexistent/kubeconfig"), timeout_s=60)
    try:
        with pytest.raises(NotGradable, match="no-such-lab"):
            grader(NS, "no-such-lab")
        with pytest.raises(NotGradable, match="no-such-lab"):  # the same process, still serving
            grader(NS, "no-such-lab")
        with pytest.raises(NotGradable, match="NODE_PORT is not a node port"):  # the values reach the process
            grader(NS, "nodeport", {"NODE_PORT": "80"})
        assert len(grader._all) == 1
    finally:
        grader.close()
    assert grader._all == []


def test_in_a_pod_the_service_talks_as_its_service_account(tmp_path: Path) -> None:
    account = tmp_path / "sa"
    account.mkdir()
    (account / "token").write_text("eyJ-the-pods-token")
    (account / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (account / "namespace").write_text("servicelab-grading\n")
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    path = in_cluster_kubeconfig(tmp_path, account, env)
    from kubernetes import client, config  # noqa: PLC0415 - as grader.kube.api loads it

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=cfg, persist_config=False)
    assert cfg.host == "https://10.96.0.1:443"
    assert cfg.get_api_key_with_prefix("BearerToken", alias="authorization") == "Bearer eyJ-the-pods-token"
    assert cfg.ssl_ca_cert == str(account / "ca.crt")
    assert Session(None, str(path)).client().configuration.host == "https://10.96.0.1:443"  # grader.kube reads it
    with pytest.raises(SystemExit, match="needs a pod"):
        in_cluster_kubeconfig(tmp_path, account, {})
