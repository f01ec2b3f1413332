"""The API server's errors as servicelab reads them: refused (KubeError) or not answering (KubeUnreachable).

Both are environment faults unless a caller knows the learner's object caused them. The text reads as kubectl
prints it, so learners see the same words either way; callers tell errors apart by what they carry (status,
reason, details, the refused object, the subclass), never by the text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from grader.base.errors import EnvironmentFault


@dataclass(frozen=True)
class StatusDetails:
    """The object a Status is about: for Forbidden the resource the authorizer or admission checked
    (`kind` is then its plural, e.g. `services`), for Invalid the object's kind (`Service`)."""

    name: str = ""
    group: str = ""
    kind: str = ""


class KubeError(EnvironmentFault, RuntimeError):
    """The API server answered no (validation, conflict, forbidden, a webhook behind it refused, ...)."""

    def __init__(
        self, message: str, *, status: int | None = None, reason: str = "", details: StatusDetails | None = None
    ) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status, for errors from the API
        self.reason = reason  # the Status reason: NotFound, Invalid, AlreadyExists, InternalError, ...
        self.details = details or StatusDetails()
        self.refused: tuple[str, str] | None = None  # (kind, name) of the object Kube.apply() was sending

    @property
    def server_side(self) -> bool:
        """The API server (or etcd, or a webhook it called) failed, or asks us to come back later: a 5xx or a
        429 is never the request's own fault."""
        return self.status is not None and (self.status >= 500 or self.status == 429)


class UnknownKind(KubeError):
    """The server serves no such resource (a name or a manifest's apiVersion/kind that discovery lacks)."""


class KubeUnreachable(EnvironmentFault, RuntimeError):
    """No API server answered: an environment problem, never the learner's."""

    @property
    def diagnosis(self) -> str:
        """The one wording of it that the learner sees (as EnvError's diagnosis)."""
        return f"the cluster does not answer: {self}"


# apimachinery's words for an error that came without a Status body (errors.NewGenericServerResponse)
_GENERIC = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "the server has asked for the client to provide credentials"),
    403: ("Forbidden", "the server does not allow access to the requested resource"),
    404: ("NotFound", "the server could not find the requested resource"),
    409: ("Conflict", "the server reported a conflict"),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
    500: ("InternalError", "an error on the server has prevented the request from succeeding"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted"),
}


def api_error(status: int, body: bytes) -> KubeError:
    """The API's answer as kubectl prints it: `Error from server (Invalid): Service "web" is invalid: ...`."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    details = StatusDetails()
    if isinstance(doc, dict) and doc.get("kind") == "Status" and doc.get("message"):
        reason, message = str(doc.get("reason") or ""), str(doc["message"])
        found = doc.get("details")
        found = found if isinstance(found, dict) else {}
        details = StatusDetails(
            str(found.get("name") or ""), str(found.get("group") or ""), str(found.get("kind") or "")
        )
    else:
        reason, message = _GENERIC.get(status, ("", f"the server responded with the status code {status}"))
        text = body.decode(errors="replace").strip()
        message += f" ({text[:300]})" if text else ""  # e.g. a proxy's page: keep what it said
    return KubeError(
        f"Error from server ({reason}): {message}" if reason else f"Error from server: {message}",
        status=status,
        reason=reason,
        details=details,
    )
