"""The notebook in a classroom: a student's server on a shared cluster (grader.classroom), told by
$SERVICELAB_GRADING_URL being set.

- check() asks the classroom's grading service (POST /grade?wait=true, the server pod's ServiceAccount token as
  Bearer), which grades the student's namespace with its own rights, and shows the report it returns as a local
  check() shows its own; the grading service's refusals and silences become one line (NotGraded).
- apply() writes into the student's own namespace with the student's own rights: nothing cluster-wide is read (no
  node list, no namespace get or create); the `${VAR}` values are the student's own, from the variables file.
- values(), reset(), cluster_ready() and explore() do what a student's rights allow (grader.learner.notebook).

Environment (the classroom's spawner sets the first two; the files' paths are overridable, for tests):
    SERVICELAB_GRADING_URL      the grading service, e.g. http://grading.servicelab-classroom.svc.cluster.local
    SERVICELAB_NAMESPACE        the student's namespace
    SERVICELAB_TOKEN_FILE       the pod's ServiceAccount token, read at every call (the kubelet renews it);
                                default /var/run/secrets/kubernetes.io/serviceaccount/token
    SERVICELAB_VARIABLES_FILE   the student's values of the labs' placeholders, a JSON object such as
                                {"NODE_PORT": "30123"}; default /etc/servicelab/variables.json
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from grader.base.errors import EnvError
from grader.base.wait import WaitTimeout, wait_for
from grader.catalogue.labs import Lab, with_variables
from grader.grading.results import LabResult
from grader.kube.client import Kube, KubeError, Obj
from grader.learner.boundary import ASK_INSTRUCTOR, GRADING_URL_ENV, NotGraded, one_line
from grader.reports import json as json_report

TOKEN_FILE_ENV = "SERVICELAB_TOKEN_FILE"
TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
VARIABLES_FILE_ENV = "SERVICELAB_VARIABLES_FILE"
VARIABLES_FILE = "/etc/servicelab/variables.json"
CONNECT_S = 10.0
ANSWER_S = 660.0  # the service answers ?wait=true once the grading is done, or after its own wait (600 s): 202
POLL_S = 900.0  # after a 202: how long check() keeps asking for that grading
ASK_S = 20.0  # a short question to the service (its health, the student's waiting gradings)
REACH_S = 60.0  # how long a call keeps trying a grading service that cannot be reached (a pod stopping, moved)
PROXY_SILENCES = (502, 503, 504)  # what a proxy in front of the service (the hub's) answers when the service does not
UNFINISHED = ("queued", "running")
RESTART_SERVER = (
    "restart your server (File > Hub Control Panel > Stop My Server, then Start My Server) and run check() again"
)


def grading_url() -> str:
    return os.environ.get(GRADING_URL_ENV, "").rstrip("/")


def token_file() -> Path:
    return Path(os.environ.get(TOKEN_FILE_ENV) or TOKEN_FILE)


def variables_file() -> Path:
    return Path(os.environ.get(VARIABLES_FILE_ENV) or VARIABLES_FILE)


# --- the student's values ------------------------------------------------------------------------------------
def student_variables() -> dict[str, str]:
    """The student's own values of the labs' placeholders (the variables file; none when it is absent)."""
    path = variables_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise EnvError(f"the classroom's values file {path} cannot be read: {err}") from err
    if not isinstance(data, dict) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in data.values()
    ):
        raise EnvError(f"the classroom's values file {path} is not a JSON object of names to values")
    return {str(name): str(value) for name, value in data.items()}


def student_values(lab: Lab, namespace: str, variables: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(values, missing) to fill the lab's placeholders with, as ClusterFacts gives them outside a classroom."""
    values = {**variables, "NAMESPACE": namespace}
    missing = {
        name: f"the classroom gives you no value for it (in {variables_file()}): tell your instructor"
        for name in lab.variables
        if name not in values
    }
    return values, missing


def student_lab(lab: Lab, variables: Mapping[str, str]) -> Lab:
    """The lab whose rules judge this student's answer and whose values the notebook shows: the student's own values
    (a NODE_PORT of their own is the one node port the lab's policy accepts)."""
    return with_variables(lab, variables)


def value_lines(lab: Lab, task: str, namespace: str, variables: Mapping[str, str]) -> list[str]:
    """What values() prints in a classroom: each placeholder of the task with the student's own value."""
    values, missing = student_values(lab, namespace, variables)
    return [
        f"${{{name}}} = {values[name]}" if name in values else f"${{{name}}} has no value: {missing[name]}"
        for name in lab.variables
        if "${" + name + "}" in task
    ]


# --- the grading service --------------------------------------------------------------------------------------
def _token() -> str:
    path = token_file()
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise NotGraded(
            f"ENV-ERROR: your server's token {path} cannot be read ({err.strerror or err}). Fix: {RESTART_SERVER}"
        ) from err


def _why(err: BaseException) -> str:
    """The operating system's words for a lost connection (refused, no such host), else the error's kind."""
    seen: BaseException | None = err
    for _ in range(10):  # requests wraps urllib3's error, which wraps the socket's
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        inner = getattr(seen, "reason", None)
        nested = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = inner if isinstance(inner, BaseException) else nested or seen.__cause__ or seen.__context__
    return type(err).__name__


def _ask(
    method: str, path: str, *, timeout_s: float, body: Obj | None = None, reach_s: float | None = None
) -> requests.Response:
    """One request to the grading service as this student; its silence as NotGraded (one line).

    While the service cannot be reached (connection refused or reset, or a proxy in front of it answering 502, 503
    or 504 in its own words) the request is sent again until reach_s has passed: a grading pod that is stopping
    (a rolling update, a replica moved) is out of the Service's endpoints within seconds, and another one answers.
    The service's own refusals (JSON with an `error`) are answers, never tried again."""
    url = grading_url()
    reach_s = REACH_S if reach_s is None else reach_s

    def reached() -> tuple[requests.Response | None, str]:
        try:
            answer = requests.request(
                method,
                url + path,
                json=body,
                headers={"Authorization": f"Bearer {_token()}", "Accept": "application/json"},
                timeout=(CONNECT_S, timeout_s),
            )
        except requests.ConnectionError as err:  # refused, reset, no such host, or no connection within CONNECT_S
            return None, f"does not answer ({_why(err)})"
        except requests.Timeout as err:
            late = f"did not answer within {timeout_s:.0f} s"
            raise NotGraded(f"ENV-ERROR: the grading service at {url} {late}. Fix: {ASK_INSTRUCTOR}") from err
        except requests.RequestException as err:
            raise NotGraded(
                f"ENV-ERROR: the grading service at {url} does not answer ({_why(err)}). Fix: {ASK_INSTRUCTOR}"
            ) from err
        if answer.status_code in PROXY_SILENCES and "error" not in _body(answer):
            return None, f"is not reached: HTTP {answer.status_code} from in front of it ({_said(answer)})"
        return answer, f"answered HTTP {answer.status_code}"

    try:
        return wait_for(
            reached, what=f"the grading service at {url}", timeout_s=reach_s, interval_s=0.5, max_interval_s=4.0
        )
    except WaitTimeout as err:
        last = err.last_state
        if reach_s >= 1:  # a refusal's reason keeps its parentheses: "(Connection refused, tried for 60 s)"
            tried = f", tried for {reach_s:.0f} s"
            last = last[:-1] + tried + ")" if last.startswith("does not answer (") else last + tried
        raise NotGraded(f"ENV-ERROR: the grading service at {url} {last}. Fix: {ASK_INSTRUCTOR}") from err


def _body(answer: requests.Response) -> dict[str, Any]:
    try:
        data = answer.json()
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {}


def _said(answer: requests.Response) -> str:
    """The service's own words for a refusal (its JSON `error`), else the start of what it sent."""
    error = _body(answer).get("error")
    return one_line(str(error) if error else answer.text[:200]) or answer.reason or "no reason given"


def _refusal(answer: requests.Response) -> NotGraded:
    """A refusal of the grading service as the one line the student sees."""
    status, said = answer.status_code, _said(answer)
    if status == 401:
        return NotGraded(
            f"ENV-ERROR: the grading service does not know your server's token ({said}). Fix: {RESTART_SERVER}"
        )
    if status == 403:
        return NotGraded(
            f"not graded: the grading service refused ({said}). Fix: grade your own work; {ASK_INSTRUCTOR}"
        )
    if status == 429:
        waiting = _waiting()
        count = {None: "too many gradings of yours are", 1: "1 grading of yours is"}.get(
            waiting, f"{waiting} gradings of yours are"
        )
        return NotGraded(f"not graded: {count} waiting; wait for them, then run check() again ({said})")
    if status == 503:
        after = answer.headers.get("Retry-After", "")
        later = f"run check() again in {after} s" if after.isdigit() else "run check() again in a minute"
        return NotGraded(f"ENV-ERROR: the grading service cannot grade now ({said}). Fix: {later}")
    if status == 400:
        return NotGraded(f"not graded: the grading service refused the request ({said})")
    return NotGraded(f"ENV-ERROR: the grading service answered HTTP {status} ({said}). Fix: {ASK_INSTRUCTOR}")


def _waiting() -> int | None:
    """How many of the student's gradings are waiting or running (their own results), None when unknown."""
    try:
        answer = _ask("GET", "/results", timeout_s=ASK_S, reach_s=0)
    except NotGraded:
        return None
    results = _body(answer).get("results") if answer.status_code == 200 else None
    if not isinstance(results, list):
        return None
    return sum(1 for row in results if isinstance(row, dict) and row.get("state") in UNFINISHED)


def grade_remotely(lab: str, *, answer_s: float = ANSWER_S, poll_s: float = POLL_S) -> LabResult:
    """The grading service's result for the student's namespace (the LabResult its report was made from)."""
    answer = _ask("POST", "/grade?wait=true", timeout_s=answer_s, body={"lab": lab})
    if answer.status_code == 202:
        row = _finished(str(_body(answer).get("job") or ""), poll_s)
    elif answer.status_code == 200:
        row = _body(answer)
    else:
        raise _refusal(answer)
    return _result_of(row)


def _finished(job: str, poll_s: float) -> dict[str, Any]:
    """The grading's row once it is no longer queued or running (GET /results/<job>)."""
    if not job:
        raise NotGraded(f"ENV-ERROR: the grading service took the grading but named no job. Fix: {ASK_INSTRUCTOR}")

    def done() -> tuple[dict[str, Any] | None, str]:
        answer = _ask("GET", f"/results/{job}", timeout_s=ASK_S)
        if answer.status_code != 200:
            raise _refusal(answer)
        row = _body(answer)
        state = row.get("state")
        return (None if state in UNFINISHED else row), f"grading {job} is {state}"

    try:
        return wait_for(done, what=f"grading {job}", timeout_s=poll_s, interval_s=2.0, max_interval_s=10.0)
    except WaitTimeout as err:
        raise NotGraded(f"ENV-ERROR: {one_line(str(err))}. Fix: run check() again later; {ASK_INSTRUCTOR}") from err


def _result_of(row: dict[str, Any]) -> LabResult:
    """A gradebook row (grader.classroom.service.gradebook Row.to_dict) as the LabResult of its report."""
    state, report = row.get("state"), row.get("report")
    if state != "done" or report is None:
        why = one_line(str(row.get("error") or f"the grading ended {state or 'without a state'}"))
        raise NotGraded(f"not graded: {why}")
    try:
        return json_report.from_dict(report)
    except json_report.UnreadableReport as err:
        raise NotGraded(
            f"ENV-ERROR: the grading service's report cannot be read ({err}). Fix: {ASK_INSTRUCTOR}"
        ) from err


def service_answers() -> str:
    """'' when the grading service says it is healthy (GET /healthz), else what is wrong, in one line."""
    try:
        answer = _ask("GET", "/healthz", timeout_s=ASK_S, reach_s=0)
    except NotGraded as err:
        return str(err)
    return "" if answer.status_code == 200 else f"the grading service's health check answered HTTP {answer.status_code}"


# --- the student's namespace ------------------------------------------------------------------------------------
class OwnReads:
    """A Kube's reads in the student's namespace (grader.learner.lookaround's Reads): what the student's Role does
    not let them read comes back empty, and `refused` names it, so a table can say so instead of failing."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.refused: list[str] = []

    def list(
        self, kind: str, namespace: str | None = None, selector: str | None = None, all_namespaces: bool = False
    ) -> list[Obj]:
        try:
            return self.kube.list(kind, namespace, selector, all_namespaces)
        except KubeError as err:
            if err.status != 403:
                raise
            self.refused.append(kind)
            return []

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        try:
            return self.kube.get(kind, name, namespace)
        except KubeError as err:
            if err.status != 403:
                raise
            self.refused.append(f"{kind} {name}")
            return None

    def refusals(self) -> str:
        """One line naming what could not be read, '' when everything could."""
        if not self.refused:
            return ""
        return f"not shown: your classroom rights do not let you read {', '.join(dict.fromkeys(self.refused))}"
