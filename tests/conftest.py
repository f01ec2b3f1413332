"""Shared pytest setup: cluster tests (and browser tests) run only with --e2e, and then must run."""

from __future__ import annotations

import os

import pytest

from grader.cluster.tools import prefer_offline_bin
from grader.kube.client import Kube

# On machines with the offline build, use its kubectl: it matches the lab cluster's version.
prefer_offline_bin()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("servicelab-tests")
    group.addoption(
        "--e2e", action="store_true", default=False, help="run the end-to-end tests against the real lab cluster"
    )
    group.addoption(
        "--kube-context",
        default=os.environ.get("SERVICELAB_CONTEXT", "kind-servicelab"),
        help="kubeconfig context of the lab cluster (default: kind-servicelab)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests that break the cluster on purpose (and mend it) run after all others; the leftovers check last.
    items.sort(key=lambda item: ("last" in item.keywords, "disruptive" in item.keywords))
    if config.getoption("--e2e"):
        # An e2e run that selects no cluster test must fail, not pass quietly.
        if items and not any("e2e" in item.keywords or "browser" in item.keywords for item in items):
            raise pytest.UsageError("--e2e was given but no e2e test was collected")
        return
    skip = pytest.mark.skip(reason="needs the lab cluster: run 'servicelab up', then pytest --e2e")
    in_a_browser = pytest.mark.skip(reason="needs chromium (tools/browser/install): pytest --e2e runs it")
    for item in items:
        if item.get_closest_marker("browser"):  # no cluster, but a browser: in the e2e stage of nox -s tests
            item.add_marker(in_a_browser)
        elif "e2e" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def context(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--kube-context"))


@pytest.fixture(scope="session")
def kube(request: pytest.FixtureRequest) -> Kube:
    return Kube(context=request.config.getoption("--kube-context"))
