"""Every grading of a submission holds the Leases of its claims from before it applies until its namespace is
gone: grade, a notebook's answer, grade-batch, course autograde and check-solutions all grade through here."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from grader.catalogue.labs import load_lab
from grader.grading import session

REPO = Path(__file__).resolve().parents[3]


class _Facts:
    missing: dict[str, str] = {}  # noqa: RUF012 - read only

    def values_for(self, namespace: str) -> dict[str, str]:
        return {"STATIC_IP": "172.18.255.210", "INTERNAL_STATIC_IP": "172.18.255.230", "NAMESPACE": namespace}


def _grade(monkeypatch: pytest.MonkeyPatch, lab_id: str, *, fail_apply: bool = False) -> list[Any]:
    events: list[Any] = []

    @contextlib.contextmanager
    def holding(kube: object, claims: frozenset[str], run_id: str, timeout_s: float) -> Iterator[None]:
        events.append(("hold", sorted(claims)))
        try:
            yield
        finally:
            events.append("release")

    def apply_into(*args: object, **kwargs: object) -> list[object]:
        events.append("apply")
        if fail_apply:
            raise session.EnvError("the API server is not answering")
        return []

    monkeypatch.setattr(session.leases, "holding", holding)
    monkeypatch.setattr(session.leases, "wait_released", lambda kube, ns, claims: events.append(("released", ns)))
    monkeypatch.setattr(session, "ensure_namespace", lambda *a, **k: events.append("namespace"))
    monkeypatch.setattr(session, "apply_into", apply_into)
    monkeypatch.setattr(session, "wait_deployments", lambda *a, **k: None)
    monkeypatch.setattr(session, "run_checks", lambda lab, ns, env: events.append("checks") or "result")
    monkeypatch.setattr(session, "delete_namespace", lambda kube, ns: events.append(("deleted", ns)))
    kube = SimpleNamespace(get=lambda kind, name: None, context="kind-servicelab")
    env: Any = SimpleNamespace(kube=kube, facts=_Facts(), run_id="r1")
    lab = load_lab(str(REPO / "labs" / lab_id))
    session.grade(lab, env, namespace="ns-1", manifests=REPO / "labs" / lab_id / "solution")
    return events


def test_a_node_port_is_held_from_before_apply_until_the_namespace_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    events = _grade(monkeypatch, "nodeport")
    hold, *rest = events
    assert hold[0] == "hold"
    assert any(claim.startswith("nodeport:") for claim in hold[1])
    assert rest == ["namespace", "apply", "checks", ("deleted", "ns-1"), ("released", "ns-1"), "release"]


def test_a_static_address_is_held_as_the_address_the_cluster_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    hold = _grade(monkeypatch, "static-ip")[0]
    assert "ip:172.18.255.210" in hold[1]


def test_the_claims_go_even_when_the_grading_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    events = _grade(monkeypatch, "nodeport", fail_apply=True)
    assert events[-3:] == [("deleted", "ns-1"), ("released", "ns-1"), "release"]


def test_a_lab_with_no_cluster_wide_claim_holds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    events = _grade(monkeypatch, "clusterip")
    assert events[0] == ("hold", [])
    assert ("released", "ns-1") not in events
