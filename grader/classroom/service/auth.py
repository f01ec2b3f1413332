"""Who is calling: a student's server pod (its ServiceAccount token, asked of the API server by a TokenReview)
or the instructor (a configured token, or any check the hub provides). Every refusal is written to the audit log.

A student is `system:serviceaccount:servicelab-student-<name>:<sa>`: the namespace names the student, and the
student's pod holds the token of a ServiceAccount of that namespace only. Any other authenticated identity is
refused (403), an unknown or expired token is unauthenticated (401).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, Protocol

from grader.base.text import printable
from grader.kube.client import Kube, KubeError, KubeUnreachable

STUDENT_NAMESPACE_PREFIX = "servicelab-student-"
_SERVICE_ACCOUNT = re.compile(r"^system:serviceaccount:(?P<namespace>[a-z0-9-]{1,63}):(?P<account>[a-z0-9.-]{1,253})$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
REVIEW_CACHE_S = 30.0  # a burst of check() calls asks the API server once; a revoked token stops working within it

audit = logging.getLogger("servicelab.service.audit")


class Unauthenticated(Exception):
    """401: no token, or one the API server does not know (expired, revoked, of another cluster)."""


class Forbidden(Exception):
    """403: a known caller asking for what is not theirs."""

    def __init__(self, who: str, what: str, why: str) -> None:
        super().__init__(f"{what}: {why}")
        self.who, self.what, self.why = who, what, why


class ReviewUnavailable(Exception):
    """503: the API server could not be asked who the caller is."""


@dataclass(frozen=True)
class Student:
    name: str
    namespace: str
    username: str  # as the API server said it

    def __str__(self) -> str:
        return f"student {self.name} ({self.username})"


@dataclass(frozen=True)
class Instructor:
    name: str = "instructor"

    def __str__(self) -> str:
        return self.name


Caller = Student | Instructor


class TokenReviewer(Protocol):
    def __call__(self, token: str) -> str | None:
        """The username the token authenticates, None when it authenticates nobody."""


def kube_token_review(kube: Kube) -> TokenReviewer:
    """TokenReview (authentication.k8s.io/v1) through the service's own Kube: its ServiceAccount needs `create` on
    tokenreviews, nothing else for this."""

    def review(token: str) -> str | None:
        try:
            answer = kube.create(
                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
            )
        except KubeUnreachable as err:
            raise ReviewUnavailable(err.diagnosis) from err
        except KubeError as err:
            raise ReviewUnavailable(f"TokenReview refused ({err.status} {err.reason}): {err}") from err
        status = answer.get("status") or {}
        if not status.get("authenticated"):
            return None
        username = (status.get("user") or {}).get("username")
        return str(username) if username else None

    return review


def student_of(username: str) -> Student | None:
    """The student a ServiceAccount username stands for, None when it is no student's."""
    found = _SERVICE_ACCOUNT.match(username)
    if found is None or not found.group("namespace").startswith(STUDENT_NAMESPACE_PREFIX):
        return None
    name = found.group("namespace").removeprefix(STUDENT_NAMESPACE_PREFIX)
    if not _DNS_LABEL.match(name):
        return None
    return Student(name, found.group("namespace"), username)


def instructor_token(expected: str) -> Callable[[str], bool]:
    """The simplest instructor check: one configured token, compared in constant time."""
    want = expected.encode()

    def check(token: str) -> bool:
        return bool(want) and hmac.compare_digest(token.encode(), want)

    return check


def bearer(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; Unauthenticated when there is none."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send Authorization: Bearer <your server's ServiceAccount token>")
    return token.strip()


class Authenticator:
    """Turns an Authorization header into a Caller; caches a reviewed token for REVIEW_CACHE_S (by its hash)."""

    def __init__(
        self,
        review: TokenReviewer,
        is_instructor: Callable[[str], bool] = lambda _: False,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._review = review
        self._is_instructor = is_instructor
        self._clock = clock
        self._cache: dict[str, tuple[float, str | None]] = {}

    def caller(self, header: str | None) -> Caller:
        token = bearer(header)
        if self._is_instructor(token):
            return Instructor()
        username = self._reviewed(token)
        if username is None:
            raise Unauthenticated("the API server does not know this token (expired, revoked, or not this cluster's)")
        student = student_of(username)
        if student is None:
            refuse(username, "use the grading service", "not a student's ServiceAccount")
        return student

    def _reviewed(self, token: str) -> str | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        known = self._cache.get(key)
        if known is not None and now - known[0] < REVIEW_CACHE_S:
            return known[1]
        username = self._review(token)
        if len(self._cache) > 10_000:  # a flood of made-up tokens must not grow memory without end
            self._cache.clear()
        self._cache[key] = (now, username)
        return username


def refuse(who: object, what: str, why: str) -> NoReturn:
    """Log the refusal (who, what, when: the log record's time) and raise Forbidden."""
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # one line each, whatever a caller put into the names: printable() escapes line breaks and control characters
    audit.warning("refused: who=%s what=%s why=%s at=%s", printable(str(who)), printable(what), printable(why), at)
    raise Forbidden(str(who), what, why)


def must_be_own(caller: Caller, what: str, *, student: str | None = None, namespace: str | None = None) -> None:
    """A student may name only themselves and their own namespace; the instructor anyone. Forbidden (logged)
    otherwise."""
    if isinstance(caller, Instructor):
        return
    if student is not None and student != caller.name:
        refuse(caller, what, f"student {student} is not you")
    if namespace is not None and namespace != caller.namespace:
        refuse(caller, what, f"namespace {namespace} is not yours ({caller.namespace})")
