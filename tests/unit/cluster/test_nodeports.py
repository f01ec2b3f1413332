"""The node-port witness: what each node's answer means, and which kube-proxy pods `up` replaces."""

from __future__ import annotations

from typing import Any

import pytest

from grader.base.run import Result
from grader.cluster import nodeports

NODES = {"cp": "172.18.0.5", "w1": "172.18.0.7", "w2": "172.18.0.4"}


class FakeKube:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def list(self, kind: str, namespace: str | None = None, selector: str | None = None) -> list[dict[str, Any]]:
        if kind == "nodes":
            return [
                {"metadata": {"name": n}, "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}
                for n, ip in NODES.items()
            ]
        assert (kind, namespace, selector) == ("pods", "kube-system", nodeports.KUBE_PROXY)
        return [{"metadata": {"name": f"kube-proxy-{n}"}, "spec": {"nodeName": n}} for n in NODES]

    def delete(self, kind: str, name: str, namespace: str | None = None) -> None:
        self.deleted.append(name)


def _answers(monkeypatch: pytest.MonkeyPatch, stdout: str) -> list[str]:
    scripts: list[str] = []

    def fake_run(argv: list[str], timeout: float, check: bool) -> Result:
        scripts.append(argv[-1])
        return Result(argv, 0, stdout, "")

    monkeypatch.setattr(nodeports, "run", fake_run)
    return scripts


def test_a_404_is_an_answer_and_a_refusal_names_the_node_and_its_address(monkeypatch: pytest.MonkeyPatch) -> None:
    scripts = _answers(
        monkeypatch,
        "@@1 1 wget: can't connect to remote host (172.18.0.7): Connection refused\n"
        "@@0 1 wget: server returned error: HTTP/1.1 404 Not Found\n"
        "@@2 143 \n",
    )
    ports = nodeports.probe(FakeKube())  # type: ignore[arg-type]
    assert [(p.node, p.ip) for p in ports] == list(NODES.items())
    assert ports[0].problem == ""
    assert "refused" in ports[1].problem
    assert "172.18.0.7" in ports[1].problem
    assert ports[2].problem == "node port 30080: no answer within 2s"
    assert all(f"http://{ip}:30080/" in scripts[0] for ip in NODES.values())


def test_a_probe_that_did_not_run_to_its_end_is_not_a_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    _answers(monkeypatch, "@@0 1 wget: server returned error: HTTP/1.1 404 Not Found\n")
    with pytest.raises(nodeports.NotProbed):
        nodeports.probe(FakeKube())  # type: ignore[arg-type]


def test_doctor_gets_a_fix_per_refusing_node(monkeypatch: pytest.MonkeyPatch) -> None:
    _answers(
        monkeypatch,
        "@@0 1 wget: server returned error: HTTP/1.1 404 Not Found\n"
        "@@1 1 wget: can't connect to remote host (172.18.0.7): Connection refused\n"
        "@@2 1 wget: server returned error: HTTP/1.1 404 Not Found\n",
    )
    ok, detail, fix = nodeports.examine(FakeKube(), "servicelab up")  # type: ignore[arg-type]
    assert not ok
    assert detail.startswith("w1 (172.18.0.7): node port 30080 refused")
    assert fix.startswith("servicelab up (replaces the kube-proxy pod of w1)")
    assert "--field-selector spec.nodeName=w1" in fix
    assert "nodeName=w2" not in fix


def test_only_the_kube_proxy_pods_of_the_named_nodes_are_replaced() -> None:
    kube = FakeKube()
    assert nodeports.replace_kube_proxy(kube, ["w1"]) == ["kube-proxy-w1"]  # type: ignore[arg-type]
    assert kube.deleted == ["kube-proxy-w1"]
