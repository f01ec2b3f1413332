"""Traefik's running configuration, read by the grader, on the real lab cluster: it is called live only when it
holds the Ingress as it is now, never in the window where Traefik still runs an older version of it.

Traefik takes in a change at once, but the next one only after its providers' throttle (2 s): an edit right
after another is served late, and routes.poll_routes must not judge on the older routers meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.base.wait import wait_for
from grader.catalogue.labs import load_lab
from grader.grading.deploy import apply_into, delete_namespace, ensure_namespace, wait_deployments
from grader.grading.environment import Environment, environment
from grader.lab import traefik_view

pytestmark = pytest.mark.e2e

LAB = Path(__file__).resolve().parents[2] / "labs" / "ingress"
HOST = "traefik-view.e2e.invalid"  # no lab claims it: the test may run beside any other


def _ingress(path: str) -> str:
    return f"""
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
spec:
  ingressClassName: traefik
  rules:
  - host: {HOST}
    http:
      paths:
      - path: {path}
        pathType: Prefix
        backend:
          service:
            name: store
            port:
              number: 80
"""


@pytest.fixture(scope="module")
def env(context: str) -> Iterator[Environment]:
    with environment(context) as opened:
        yield opened


@pytest.fixture
def namespace(env: Environment) -> Iterator[str]:
    lab = load_lab(str(LAB))
    ns = f"e2e-traefik-view-{env.run_id}"[:63]
    ensure_namespace(env.kube, ns, env.run_id, must_be_new=True, facts=env.facts, policy=lab.policy)
    try:
        apply_into(env.kube, lab, ns, env.facts, env.run_id, text=_ingress("/store"))
        wait_deployments(env.kube, ns, ["store", "api"], 120)
        yield ns
    finally:
        delete_namespace(env.kube, ns)


def _fingerprint(env: Environment, ns: str) -> str:
    return traefik_view.Reader(env.kube).fingerprint(ns, "ingresses", env.kube.list("ingresses", ns))


def _live(env: Environment, ns: str, path: str) -> tuple[bool | None, str]:
    found = _fingerprint(env, ns)
    return (True if found else None), (f"live, routes {path}" if found else "Traefik does not hold the Ingress yet")


def test_an_older_configuration_is_never_called_live(env: Environment, namespace: str) -> None:
    wait_for(lambda: _live(env, namespace, "/store"), what="Traefik runs the first Ingress", timeout_s=60)
    # A: a new path; Traefik takes it in at once (its last reload was long ago).
    env.kube.apply(_ingress("/shop"), namespace)
    wait_for(lambda: _live(env, namespace, "/shop"), what="Traefik runs the edit", timeout_s=60)
    # B: right after A, so Traefik holds it back for its throttle and still runs /shop meanwhile.
    env.kube.apply(_ingress("/cart"), namespace)
    seen: list[tuple[float, str]] = []
    start = time.monotonic()
    while time.monotonic() - start < 8.0 and not (seen and seen[-1][1]):
        seen.append((round(time.monotonic() - start, 2), _fingerprint(env, namespace)))
    stale = [t for t, found in seen if found and "/cart" not in found]
    assert not stale, f"called live on the routers before the edit at {stale} s"
    assert seen[-1][1], f"Traefik never ran the last edit in 8 s (fingerprints read at {[t for t, _ in seen]} s)"
    assert "/shop" not in seen[-1][1]
    print(f"not live for {seen[-1][0]} s after the edit, {len(seen) - 1} reads")  # the throttle's window
