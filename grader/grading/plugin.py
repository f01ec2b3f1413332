"""The grading plugin object: one CheckResult per check while pytest runs a lab's checks.py.

`grader.grading.session` runs pytest with a `GradingPlugin`; `grader.grading.pytest_entry` (the pytest11 entry point)
registers one when a lab author passes `--servicelab-lab LAB`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator

import pytest

from grader.base.errors import EnvError
from grader.base.names import PROGRESS_LOG
from grader.base.outcomes import Blocked, Fail, NotApplicable
from grader.grading import evidence
from grader.grading.results import CheckResult, Status
from grader.lab.context import LabContext

CHECK_MARKER = (
    "check(points, title, evidence=None): a servicelab check worth `points`, shown as `title`; evidence='object' for "
    "a structural check that earns its points on a field it reads (see docs/WRITING_CHECKS.md)"
)

_log = logging.getLogger(PROGRESS_LOG)


PLUGIN_NAME = "servicelab-grading"


class GradingPlugin:
    """Collects one CheckResult per check while pytest runs a lab's checks.py."""

    def __init__(self, context: Callable[[], LabContext]) -> None:
        self._context = context
        self._ctx: LabContext | None = None
        self.results: dict[str, CheckResult] = {}
        self.collect_errors: list[str] = []
        self._started: dict[str, float] = {}
        self._structural: set[str] = set()  # checks whose marker says evidence="object"

    def registrar(self) -> _Registrar:
        """What to pass as pytest.main(plugins=[...]): it registers this plugin under its fixed name."""
        return _Registrar(self)

    @pytest.fixture
    def lab(self, request: pytest.FixtureRequest) -> Iterator[LabContext]:
        if self._ctx is None:
            self._ctx = self._context()
        self._ctx.matrix.current_check = request.node.name.removeprefix("test_")
        yield self._ctx
        self._ctx.matrix.current_check = ""

    @property
    def context(self) -> LabContext | None:
        return self._ctx

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(str(report.longrepr)[-1500:])

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Every check has run: each PASS keeps its points only on evidence (grader.grading.evidence)."""
        observed = self._ctx.matrix.evidence if self._ctx is not None else {}
        evidence.settle(self.results, observed, self._structural)

    def pytest_runtest_logstart(self, nodeid: str) -> None:  # pytest passes the hook's arguments by name
        self._started[nodeid] = time.monotonic()
        _log.info("check %s", nodeid.rsplit("::", 1)[-1].removeprefix("test_"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self,
        item: pytest.Item,
        call: pytest.CallInfo[None],
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        marker = item.get_closest_marker("check")
        if marker is None:
            return report
        check_id = item.name.removeprefix("test_")
        if check_id in self.results and self.results[check_id].status is not Status.PASS:
            return report  # the first failure (setup or call) stands
        if marker.kwargs.get("evidence") == evidence.STRUCTURAL:
            self._structural.add(check_id)
        if report.when == "call" or call.excinfo is not None:
            result = _result(check_id, marker, call)
            result.duration_s = round(time.monotonic() - self._started.get(item.nodeid, time.monotonic()), 3)
            self.results[check_id] = result
        return report


def _result(check_id: str, marker: pytest.Mark, call: pytest.CallInfo[None]) -> CheckResult:
    points = int(marker.kwargs.get("points", 1))
    title = str(marker.kwargs.get("title", check_id))
    base = CheckResult(check_id, title, points, Status.PASS)
    exc = call.excinfo.value if call.excinfo is not None else None
    if exc is None:
        return base
    if isinstance(exc, Fail):
        base.status, base.message, base.detail, base.diagnosis = Status.FAIL, exc.hint, exc.detail, exc.diagnosis
    elif isinstance(exc, EnvError):
        base.status, base.message = Status.ENV_ERROR, exc.diagnosis
    elif isinstance(exc, Blocked):
        base.status, base.message = Status.BLOCKED, f"not observed: {exc.why} (blocked by {exc.by})"
        base.blocked_by = exc.by
    elif isinstance(exc, NotApplicable):
        base.status, base.message, base.without = Status.NA, exc.reason, exc.vantage
    elif isinstance(exc, pytest.skip.Exception):
        base.status, base.message = Status.NA, str(exc)
    elif isinstance(exc, AssertionError):
        base.status, base.message = Status.FAIL, str(exc).split("\n")[0] or "a check assertion failed"
    else:
        from grader.kube.client import KubeUnreachable  # noqa: PLC0415

        kind = "the cluster does not answer" if isinstance(exc, KubeUnreachable) else "the check itself crashed"
        base.status = Status.ENV_ERROR
        base.message = f"{kind}: {type(exc).__name__}: {exc}"[:1000]
    return base


class _Registrar:
    """Registers a GradingPlugin under PLUGIN_NAME at configure time, so --servicelab-lab (pytest_entry) sees
    it there and does not activate a second one."""

    def __init__(self, plugin: GradingPlugin) -> None:
        self.plugin = plugin

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", CHECK_MARKER)  # grader.grading.session loads no entry point, ours included
        config.pluginmanager.register(self.plugin, PLUGIN_NAME)
