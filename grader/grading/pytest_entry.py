"""The pytest entry point (`pytest11: servicelab = grader.grading.pytest_entry`).

Loaded by every pytest run on a machine that installs servicelab, so it is inert: it only registers the
`check` marker and its own `--servicelab-*` options. With `--servicelab-lab LAB` it grades the objects
already in the namespace, through the same `grader.grading.environment.Environment` as `servicelab grade`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from grader.grading.plugin import CHECK_MARKER, PLUGIN_NAME, GradingPlugin

if TYPE_CHECKING:
    from grader.lab.context import LabContext


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("servicelab", "servicelab grading (inert unless --servicelab-lab is given)")
    group.addoption(
        "--servicelab-lab",
        default=None,
        metavar="LAB",
        help="grade LAB (id or folder) against the objects already in --servicelab-namespace",
    )
    group.addoption(
        "--servicelab-namespace",
        default=None,
        metavar="NS",
        help="namespace holding the learner's objects (default lab-<id>)",
    )
    group.addoption("--servicelab-context", default=None, metavar="CTX", help="kubeconfig context to grade on")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", CHECK_MARKER)
    if config.getoption("--servicelab-lab", default=None) and not config.pluginmanager.has_plugin(PLUGIN_NAME):
        _activate(config)


def _activate(config: pytest.Config) -> None:
    """`pytest --servicelab-lab LAB checks.py`: grade the objects already in the namespace."""
    from grader.catalogue.labs import facts_for, load_lab  # noqa: PLC0415
    from grader.grading.environment import Environment, new_run_id  # noqa: PLC0415
    from grader.kube.client import Kube  # noqa: PLC0415 - only when asked to grade

    lab = load_lab(str(config.getoption("--servicelab-lab")))
    namespace = config.getoption("--servicelab-namespace") or lab.default_namespace
    env = Environment(Kube(context=config.getoption("--servicelab-context")), new_run_id())

    def context() -> LabContext:
        ctx = env.context(namespace, lab.ready_timeout_s)
        ctx.facts = facts_for(lab, ctx.facts)  # the lab's values (its defaults) for its ${VAR}s
        return ctx

    plugin = GradingPlugin(context)
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    config.add_cleanup(env.close)
