"""The HTTP API (WSGI, served by the standard library's wsgiref with a thread per request).

Students (Authorization: Bearer <their server pod's ServiceAccount token>):
    POST /grade {"lab": ID}            202 {"job": ...}; with ?wait=true (or "wait": true) the result when it is
                                       done (up to wait_s, else still 202); 429 when too many are waiting
    GET  /results                      the caller's own gradings, newest first
    GET  /results/<job>                one grading (the caller's own)
    GET  /me                           {"student", "namespace", "variables"}: who the service takes the caller for,
                                       and the values it grades them with (their own node port); 400 for the
                                       instructor
The instructor (Authorization: Bearer <instructor token>, or the check the service was given):
    GET /class                         the class page (HTML)
    GET /export.csv                    student, lab, score, max, finished: each latest scored result
    GET /export/nbgrader               nbgrader export's CSV
    and every student endpoint for any student (?student= on /results)
A browser (no Authorization header) on those three pages, when the hub's login is configured (huboauth): sent
through the hub's OAuth login (GET /oauth_callback comes back), then a hub admin is the instructor and anyone
else is refused. Anyone: GET /healthz.

Every path is served at / (students' servers, through Service `grading`) and under /services/grading/ (through the
hub's proxy, which keeps the prefix).

A student naming another student or namespace gets 403, logged (auth.audit) and kept in the gradebook.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIEnvironment

from grader.classroom.service import classpage, huboauth, nbexport
from grader.classroom.service.auth import (
    Authenticator,
    Caller,
    Forbidden,
    Instructor,
    ReviewUnavailable,
    Student,
    Unauthenticated,
    must_be_own,
    refuse,
)
from grader.classroom.service.fairqueue import FairQueue, GradeFn, Hooks, Job, QueueFull
from grader.classroom.service.gradebook import Gradebook

log = logging.getLogger("servicelab.service")

MAX_BODY = 64 * 1024
DEFAULT_WAIT_S = 600.0
_STATUS = {
    200: "200 OK",
    202: "202 Accepted",
    302: "302 Found",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    413: "413 Content Too Large",
    429: "429 Too Many Requests",
    503: "503 Service Unavailable",
}


# The instructor's pages a browser may open through the hub's login, and what a refusal says was asked.
BROWSER_PAGES = {
    "/class": "read the class page",
    "/export.csv": "export the gradebook",
    "/export/nbgrader": "export the gradebook",
}


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def _json(status: int, data: Any) -> Answer:
    return Answer(status, (json.dumps(data, indent=1) + "\n").encode())


def gradebook_hooks(book: Gradebook) -> Hooks:
    """The queue's moves, written to the gradebook."""

    def finished(job: Job) -> None:
        at = job.finished or time.time()
        if job.report is not None:
            book.finished(job.id, at, job.report)
        else:
            book.failed(job.id, at, job.error)

    return Hooks(
        queued=lambda job: book.queued(job.id, job.student, job.lab, job.namespace, job.requested),
        started=lambda job: book.started(job.id, job.started or time.time()),
        finished=finished,
    )


class GradingService:
    """The WSGI application: `GradingService(...)` is callable as `app(environ, start_response)`."""

    def __init__(
        self,
        book: Gradebook,
        auth: Authenticator,
        grade: GradeFn,
        *,
        known_lab: Callable[[str], bool],
        workers: int = 4,
        per_student: int = 5,
        wait_s: float = DEFAULT_WAIT_S,
        assignment_of: Callable[[str], str] = nbexport.assignment_of,
        variables_of: Callable[[str], Mapping[str, str]] = lambda student: {},
        browser: huboauth.HubLogin | None = None,
    ) -> None:
        self.book = book
        self.auth = auth
        self.browser = browser  # None: no browser login, the Bearer tokens only
        self.known_lab = known_lab
        self.wait_s = wait_s
        self.assignment_of = assignment_of
        self.variables_of = variables_of  # student -> their own values (grader.classroom.assignment)
        self.queue = FairQueue(grade, workers=workers, per_student=per_student, hooks=gradebook_hooks(book))

    def close(self) -> None:
        self.queue.stop()
        self.book.close()

    # --- WSGI ---------------------------------------------------------------------------------------
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            answer = self.handle(environ)
        except HttpError as err:
            answer = _json(err.status, {"error": str(err)})
        except Unauthenticated as err:
            answer = _json(401, {"error": str(err)})
            answer.headers.append(("WWW-Authenticate", 'Bearer realm="servicelab"'))
        except Forbidden as err:
            self._keep_refusal(err)
            answer = _json(403, {"error": str(err)})
        except ReviewUnavailable as err:
            log.warning("TokenReview unavailable: %s", err)
            answer = _json(503, {"error": f"cannot check your token now: {err}"})
            answer.headers.append(("Retry-After", "5"))
        except huboauth.HubUnreachable as err:
            log.warning("hub unreachable: %s", err)
            answer = _json(503, {"error": f"cannot ask the hub who you are now: {err}"})
            answer.headers.append(("Retry-After", "5"))
        headers = [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(answer.body))),
            ("Cache-Control", "no-store"),
            *answer.headers,
        ]
        start_response(_STATUS.get(answer.status, f"{answer.status} Error"), headers)
        return [answer.body]

    def _keep_refusal(self, err: Forbidden) -> None:
        try:
            self.book.refused(time.time(), err.who, err.what, err.why)
        except Exception:  # the audit log has it already; the refusal stands
            log.exception("could not keep the refusal in the gradebook")

    def handle(self, environ: WSGIEnvironment) -> Answer:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path, proxied = _local_path(str(environ.get("PATH_INFO", "/")))
        query = {k: v[-1] for k, v in parse_qs(str(environ.get("QUERY_STRING", ""))).items()}
        if path == "/healthz":
            return _json(200, {"ok": True})
        redirect = self._hub_redirect(environ, method, path, proxied)
        if redirect is not None:
            return redirect
        routes: dict[tuple[str, str], Callable[[Caller, WSGIEnvironment, dict[str, str]], Answer]] = {
            ("POST", "/grade"): self.post_grade,
            ("GET", "/results"): self.get_results,
            ("GET", "/me"): self.get_me,
            ("GET", "/class"): self.get_class,
            ("GET", "/export.csv"): self.get_export_csv,
            ("GET", "/export/nbgrader"): self.get_export_nbgrader,
        }
        route = routes.get((method, path))
        if route is None and path.startswith("/results/") and path.count("/") == 2:
            if method != "GET":
                raise HttpError(405, f"{method} {path}: only GET")
            caller = self.auth.caller(environ.get("HTTP_AUTHORIZATION"))
            return self.get_result(caller, path.removeprefix("/results/"))
        if route is None:
            known = {p for _, p in routes} | {"/results/<job>", "/healthz"}
            if path in known:
                raise HttpError(405, f"{method} {path}: not allowed")
            raise HttpError(404, f"no such endpoint {path} (known: {', '.join(sorted(known))})")
        visitor = self._visitor(environ, method, path)
        if visitor is not None:
            return route(_hub_caller(visitor, BROWSER_PAGES[path]), environ, query)
        caller = self.auth.caller(environ.get("HTTP_AUTHORIZATION"))
        return route(caller, environ, query)

    # --- browsers, through the hub's login ----------------------------------------------------------
    def _browser_visit(self, environ: WSGIEnvironment, method: str, path: str) -> bool:
        """A browser opening an instructor's page (no Authorization header) while the hub's login is on."""
        return (
            self.browser is not None
            and method == "GET"
            and path in BROWSER_PAGES
            and not environ.get("HTTP_AUTHORIZATION")
        )

    def _visitor(self, environ: WSGIEnvironment, method: str, path: str) -> huboauth.Visitor | None:
        if self.browser is None or not self._browser_visit(environ, method, path):
            return None
        return self.browser.visitor(environ)

    def _hub_redirect(self, environ: WSGIEnvironment, method: str, path: str, proxied: bool) -> Answer | None:
        """The hub's login steps: its link to the service (the prefix) to the class page; the way back from the
        hub's login; a browser without a session to the hub's login, then back to the page it asked for."""
        if method == "GET" and path == "/" and proxied:
            return _reply(huboauth.Reply(302, [("Location", f"{huboauth.PREFIX}/class")]))
        if self.browser is None or method != "GET":
            return None
        if path == huboauth.CALLBACK:
            return _reply(self.browser.callback(environ))
        if self._browser_visit(environ, method, path) and self.browser.visitor(environ) is None:
            asked = str(environ.get("QUERY_STRING", ""))
            return _reply(self.browser.login(environ, f"{huboauth.PREFIX}{path}" + (f"?{asked}" if asked else "")))
        return None

    # --- students -----------------------------------------------------------------------------------
    def post_grade(self, caller: Caller, environ: WSGIEnvironment, query: dict[str, str]) -> Answer:
        body = _body(environ)
        lab = body.get("lab")
        if not isinstance(lab, str) or not lab:
            raise HttpError(400, 'send {"lab": "<lab id>"}')
        if isinstance(caller, Instructor):
            student, namespace = str(body.get("student") or ""), str(body.get("namespace") or "")
            if not student or not namespace:
                raise HttpError(400, "the instructor names the student and the namespace to grade")
        else:
            student, namespace = caller.name, caller.namespace
            must_be_own(
                caller,
                f"grade {lab}",
                student=_text_or_none(body.get("student")),
                namespace=_text_or_none(body.get("namespace")),
            )
        if not self.known_lab(lab):
            raise HttpError(400, f"unknown lab {lab!r}")
        try:
            job = self.queue.submit(student, namespace, lab, self.variables_of(student))
        except QueueFull as err:
            answer = _json(429, {"error": str(err)})
            answer.headers.append(("Retry-After", "30"))
            return answer
        wait = query.get("wait", "").lower() in ("1", "true", "yes") or body.get("wait") is True
        if wait and job.done.wait(self.wait_s):
            return _json(200, self._row(job.id))
        return _json(202, {"job": job.id, "state": job.state, "href": f"/results/{job.id}"})

    def get_me(self, caller: Caller, environ: WSGIEnvironment, query: dict[str, str]) -> Answer:
        if not isinstance(caller, Student):
            raise HttpError(400, "/me is a student's: the instructor has no namespace nor values of their own")
        variables = dict(self.variables_of(caller.name))
        return _json(200, {"student": caller.name, "namespace": caller.namespace, "variables": variables})

    def get_results(self, caller: Caller, environ: WSGIEnvironment, query: dict[str, str]) -> Answer:
        student = query.get("student")
        if isinstance(caller, Student):
            must_be_own(caller, "read results", student=student)
            student = caller.name
        if not student:
            raise HttpError(400, "the instructor names the student: /results?student=NAME")
        return _json(200, {"student": student, "results": [r.to_dict() for r in self.book.of_student(student)]})

    def get_result(self, caller: Caller, job: str) -> Answer:
        row = self.book.get(job)
        if row is None:
            raise HttpError(404, f"no grading {job}")
        if isinstance(caller, Student) and row.student != caller.name:
            refuse(caller, f"read result {job}", f"it is student {row.student}'s")
        return _json(200, row.to_dict())

    def _row(self, job: str) -> dict[str, Any]:
        row = self.book.get(job)
        if row is None:  # written before the job could start: only a gradebook failure gets here
            raise HttpError(503, f"grading {job} is not in the gradebook")
        return row.to_dict()

    # --- the instructor -----------------------------------------------------------------------------
    def _instructor(self, caller: Caller, what: str) -> None:
        if not isinstance(caller, Instructor):
            refuse(caller, what, "only the instructor")

    def get_class(self, caller: Caller, environ: WSGIEnvironment, query: dict[str, str]) -> Answer:
        self._instructor(caller, "read the class page")
        return Answer(200, classpage.render(self.book.latest()).encode(), "text/html; charset=utf-8")

    def get_export_csv(self, caller: Caller, environ: WSGIEnvironment, query: dict[str, str]) -> Answer:
        self._instructor(caller, "export the gradebook")
        return _csv(self.book.export_csv(), "grades.csv")

    def get_export_nbgrader(self, caller: Caller, environ: WSGIEnvironment, query: dict[str, str]) -> Answer:
        self._instructor(caller, "export the gradebook")
        return _csv(nbexport.nbgrader_csv(self.book.latest_scored(), self.assignment_of), "nbgrader-grades.csv")


def _local_path(raw: str) -> tuple[str, bool]:
    """The path below the hub's service prefix (when it came through the hub's proxy), without a trailing slash;
    and whether it came that way."""
    proxied = raw == huboauth.PREFIX or raw.startswith(f"{huboauth.PREFIX}/")
    path = raw.removeprefix(huboauth.PREFIX) if proxied else raw
    return (path.rstrip("/") or "/"), proxied


def _hub_caller(visitor: huboauth.Visitor, what: str) -> Instructor:
    """A hub admin is the class's instructor (the values' instructors are the hub's admins); anyone else is
    refused, logged like every refusal."""
    if not visitor.admin:
        refuse(f"hub user {visitor.name}", what, "only the class's instructors (the hub's admins)")
    return Instructor(f"hub admin {visitor.name}")


def _reply(reply: huboauth.Reply) -> Answer:
    return Answer(reply.status, reply.body, reply.content_type, reply.headers)


def _csv(text: str, name: str) -> Answer:
    answer = Answer(200, text.encode(), "text/csv; charset=utf-8")
    answer.headers.append(("Content-Disposition", f'attachment; filename="{name}"'))
    return answer


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _body(environ: WSGIEnvironment) -> dict[str, Any]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise HttpError(400, "Content-Length is not a number") from None
    if length > MAX_BODY:
        raise HttpError(413, f"the body is {length} bytes, at most {MAX_BODY}")
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise HttpError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise HttpError(400, "the body is a JSON object")
    return data
