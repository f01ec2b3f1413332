"""A classroom in a real browser (issue 24): `servicelab classroom up` with one student and one instructor; the
student logs in through the hub's login form in headless Chromium, their server starts, the reference answer goes
into their copy of notebook 01 (~/servicelab-notebooks, written by the server's postStart hook) through the Jupyter
contents API with the browser's own cookies, JupyterLab runs every cell and shows the check's report (every check
PASS with full points, graded by the classroom's grading service). Then the instructor logs in and opens the class
page behind the hub's login (/services/grading/class) and sees the student's PASS. Screenshots under reports/ (CI
artifacts).

Run alone: pytest --e2e -m classroom tests/e2e/test_classroom_browser.py -s
It deploys into servicelab-classroom and servicelab-student-* only, and takes it all down, pass or fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from _jupyterlab import chromium
from test_classroom_e2e import _secret, classroom_up  # the classroom's lifecycle, as that e2e drives it

from grader.base.wait import wait_for
from grader.catalogue.labs import load_lab
from grader.classroom import manifests as m
from grader.kube.client import Kube

pytestmark = [pytest.mark.e2e, pytest.mark.classroom]

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "notebooks" / "source" / "01-clusterip" / "clusterip.ipynb"
NOTEBOOK = f"{m.NOTEBOOKS_DIR}/01-clusterip/clusterip.ipynb"  # in the server's home: its postStart hook's copy
REPORTS = REPO / "reports"
STUDENT, INSTRUCTOR, LAB = "ada", "teacher", "clusterip"
SERVER_S = 300.0  # the hub's KubeSpawner start_timeout
CHECK_S = 600.0  # the whole notebook, the grading service's grading included
VALUES = f"""\
students: [{STUDENT}]
instructors: [{INSTRUCTOR}]
labs: [{LAB}]
resources:
  cpu: {{request: 100m, limit: "1"}}
  memory: {{request: 256Mi, limit: 512Mi}}
"""
# A fetch from the page (so with its cookies) carrying the single-user server's _xsrf cookie as JupyterLab does.
FETCH_JS = """
const [url, method, body, done] = arguments;
const xsrf = (document.cookie.match(/(?:^|;\\s*)_xsrf=([^;]*)/) || [])[1] || '';
fetch(url, {method: method, credentials: 'same-origin',
            headers: {'X-XSRFToken': decodeURIComponent(xsrf), 'Content-Type': 'application/json'},
            body: body === null ? undefined : body})
  .then(r => r.text().then(t => done({status: r.status, text: t})))
  .catch(e => done({status: 0, text: String(e)}));
"""
KERNEL_JS = (
    "const e = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');"
    "return e ? e.dataset.status : 'no notebook toolbar yet'"
)
ERRORS_JS = (
    "return Array.from(document.querySelectorAll('.jp-RenderedText[data-mime-type=\"application/vnd.jupyter.error\"]'))"
    ".map(e => e.textContent.slice(0, 400))"
)
# The check's report (grader.reports.html): each row of its table as cell texts, and its verdict line.
REPORT_JS = """
const report = Array.from(document.querySelectorAll('.servicelab')).find(d => d.querySelector('table th'));
if (!report) return null;
const table = report.querySelector('table');
return {head: (report.querySelector('p') || {}).textContent || '',
        rows: Array.from(table.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(c => c.innerText))};
"""
PROMPTS_JS = "return Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map(e => e.textContent)"
OUTPUTS_JS = (
    "return Array.from(document.querySelectorAll('.jp-OutputArea-output')).slice(-3)"
    ".map(o => o.textContent.slice(0, 400))"
)
ROWS_JS = (
    "return Array.from(document.querySelectorAll('table tr')).map(r => Array.from(r.cells).map(c => c.textContent))"
)


@pytest.fixture
def classroom(kube: Kube, context: str, tmp_path: Path) -> Iterator[str]:
    with classroom_up(kube, context, tmp_path / "classroom.yaml", VALUES) as hub:
        yield hub


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as driver:
        driver.set_script_timeout(60)
        yield driver


def _screenshot(driver: Any, name: str) -> None:
    """A CI artifact: `nox -s tests` lists reports/*.png at its end."""
    REPORTS.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(REPORTS / name)), f"Chromium wrote no screenshot {name}"
    assert (REPORTS / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _log_in(driver: Any, hub: str, user: str, password: str, then: str = "") -> None:
    """The hub's login form, as a person fills it in; `then`: where the hub sends the browser afterwards."""
    driver.get(f"{hub}hub/login" + (f"?next={quote(then)}" if then else ""))
    wait_for(
        lambda: (True if driver.find_elements("id", "username_input") else None, driver.current_url),
        what="the hub's login form",
        timeout_s=60,
    )
    driver.find_element("id", "username_input").send_keys(user)
    driver.find_element("id", "password_input").send_keys(password)
    driver.find_element("id", "login_submit").click()


def _in_jupyterlab(driver: Any, student: str) -> tuple[bool | None, str]:
    """The student's JupyterLab has loaded (the hub's spawn page sends the browser there once the server is up)."""
    url = driver.current_url
    shell = driver.execute_script("return !!document.querySelector('#jp-main-dock-panel')")
    if f"/user/{student}/" in url and shell:
        return True, url
    progress = driver.execute_script(
        "const p = document.querySelector('#progress-message, .progress-log, .alert'); return p ? p.textContent : ''"
    )
    return None, f"at {url}: {' '.join(str(progress).split())[:300]}"


def _contents(driver: Any, url: str, method: str = "GET", model: dict[str, Any] | None = None) -> tuple[int, str]:
    answer = driver.execute_async_script(FETCH_JS, url, method, None if model is None else json.dumps(model))
    return int(answer["status"]), str(answer["text"])


def _copy(driver: Any, url: str) -> tuple[dict[str, Any] | None, str]:
    """The notebook's model from the contents API, once it is there."""
    status, text = _contents(driver, f"{url}?content=1")
    return (json.loads(text)["content"] if status == 200 else None), f"HTTP {status}: {text[:200]}"


def _kernel_idle(driver: Any) -> tuple[bool | None, str]:
    state = driver.execute_script(KERNEL_JS)
    return (True if state == "idle" else None), f"kernel: {state}"


def _run_all(driver: Any) -> None:
    """Run > Run All Cells, as a person clicks it."""
    driver.find_element("xpath", "//li[contains(@class,'lm-MenuBar-item')][normalize-space()='Run']").click()
    item = ".lm-Menu-item[data-command='runmenu:run-all']"
    wait_for(
        lambda: (True if driver.find_elements("css selector", item) else None, "the Run menu not open"),
        what="Run All Cells in the Run menu",
        timeout_s=10,
    )
    driver.find_element("css selector", item).click()


def _answered(copy: dict[str, Any]) -> dict[str, Any]:
    """The learner's copy with every answer cell (nbgrader solution cells: the manifest and the knowledge answers)
    holding the reference answer of the instructor's source notebook."""
    source = json.loads(SOURCE.read_text(encoding="utf-8"))
    reference = {
        c["metadata"]["nbgrader"]["grade_id"]: c["source"]
        for c in source["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    filled = 0
    for cell in copy["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in reference:
            cell["source"] = reference[grade_id]
            filled += 1
    assert filled == len(reference), f"the copy has {filled} of the {len(reference)} answer cells {sorted(reference)}"
    return copy


def _report(driver: Any) -> tuple[dict[str, Any] | None, str]:
    """The check's report once it is shown. JupyterLab stops running the cells at the first failing one (a
    traceback, or servicelab's one-line message for it): then no report will come, and this says why at once."""
    errors = driver.execute_script(ERRORS_JS)
    if errors:
        raise AssertionError(f"a cell failed: {errors}")
    found = driver.execute_script(REPORT_JS)
    if found and found["rows"]:
        return found, f"report: {found['head']}"
    prompts = [p.strip() for p in driver.execute_script(PROMPTS_JS)]
    ran = sum(p[1:-2].isdigit() for p in prompts)  # "[12]:"
    waiting = sum(p == "[*]:" for p in prompts)
    if ran and not waiting:  # Run All queued every cell: none waits any more, and no report
        raise AssertionError(
            f"the cells stopped after {ran} without a report; last outputs {driver.execute_script(OUTPUTS_JS)}"
        )
    return None, f"kernel {driver.execute_script(KERNEL_JS)}; {ran} cells ran, {waiting} waiting; no report yet"


def test_a_student_runs_lab_01_in_the_browser_and_the_instructor_sees_the_pass(
    classroom: str, kube: Kube, browser: Any
) -> None:
    hub, driver = classroom, browser
    lab = load_lab(LAB)

    _log_in(driver, hub, STUDENT, _secret(kube, m.STUDENT_PASSWORD))
    try:
        wait_for(lambda: _in_jupyterlab(driver, STUDENT), what=f"{STUDENT}'s server and JupyterLab", timeout_s=SERVER_S)
    finally:
        _screenshot(driver, "classroom-student-server.png")

    contents = f"{hub}user/{STUDENT}/api/contents/{NOTEBOOK}"
    copy = wait_for(
        lambda: _copy(driver, contents),
        what=f"~/{NOTEBOOK} in {STUDENT}'s server (the postStart hook's copy)",
        timeout_s=60,
    )
    status, text = _contents(
        driver, contents, "PUT", {"type": "notebook", "format": "json", "content": _answered(copy)}
    )
    assert status == 200, text

    driver.get(f"{hub}user/{STUDENT}/lab/tree/{NOTEBOOK}")
    wait_for(lambda: _kernel_idle(driver), what="the notebook's kernel to start", timeout_s=180)
    _run_all(driver)
    try:
        report = wait_for(lambda: _report(driver), what="the check's report", timeout_s=CHECK_S, interval_s=2)
        driver.execute_script(
            "const t = Array.from(document.querySelectorAll('.servicelab')).find(d => d.querySelector('table th'));"
            "if (t) t.scrollIntoView();"
        )
    finally:  # kept either way: it shows what the student saw
        _screenshot(driver, "classroom-student-notebook-01.png")
    print("the report in the student's notebook:", json.dumps(report, indent=1))
    assert report["head"].startswith(f"PASS: {lab.total_points}/{lab.total_points} points"), report["head"]
    rows = report["rows"]
    assert len(rows) == len(lab.checks), rows
    for check, row in zip(lab.checks, rows, strict=True):
        assert check.title in row[0], (check.title, row)
        assert row[1:3] == [f"{check.points}/{check.points}", "PASS"], (check.id, row)

    with chromium() as teacher:  # another person, another browser: no cookie of the student's
        teacher.set_script_timeout(60)
        _log_in(teacher, hub, INSTRUCTOR, _secret(kube, m.INSTRUCTOR_PASSWORD), then="/services/grading/class")

        def student_row() -> tuple[list[str] | None, str]:
            rows = teacher.execute_script(ROWS_JS)
            mine = [r for r in rows if r and r[0] == STUDENT and r[1] == f"{lab.total_points}/{lab.total_points}"]
            title = teacher.title
            return (mine[0] if mine else None), f"at {teacher.current_url} ({title}): rows {rows[:6]}"

        try:
            row = wait_for(student_row, what=f"{STUDENT}'s pass on the class page", timeout_s=120, interval_s=2)
        finally:
            _screenshot(teacher, "classroom-class-page.png")
        assert teacher.current_url.startswith(f"{hub}services/grading/class"), teacher.current_url
        assert row[2 : 2 + len(lab.checks)] == ["PASS"] * len(lab.checks), row
        cookies = {c["name"]: c for c in teacher.get_cookies()}
        session = cookies["servicelab-grading-session"]
        assert (session["path"], session["httpOnly"], session.get("sameSite")) == ("/services/grading/", True, "Lax")
