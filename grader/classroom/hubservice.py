"""The grading service as the hub knows it, for the instructor's class page behind the hub's login
(grader.classroom.service.huboauth): its entry in the hub's services, the role that lets the class's people reach
it, and the grading container's settings. Pure functions of their arguments.

- Service `grading` with a `url`: the hub's proxy routes /services/grading/ to it (keeping the prefix) and the hub
  makes it OAuth client `service-grading`, redirect URI /services/grading/oauth_callback, secret = its api_token.
- Its OAuth tokens get no scope beyond identifying the person: GET /hub/api/user always answers a token about its
  own user with `name` and `admin` (JupyterHub's read:users:name!user, which every OAuth token holds). The
  service's own API token needs no role either: it is only the OAuth client's secret.
- `oauth_no_confirm`: no "authorize access?" page, the service is part of the classroom.
- The hub lets a person complete the login with a service only with access:services!service=grading. Admins (the
  class's instructors) hold it; the hub's default `user` role, redefined here, gives it to every user too, so that
  a student opening the class page is refused by the service (403, logged and kept like every refusal) instead of
  by the hub (403 in the hub's log only).
"""

from __future__ import annotations

from typing import Any

from grader.classroom.service import huboauth

SERVICE = huboauth.SERVICE
API_TOKEN = "grading_api_token"  # the hub Secret's key: the service's API token in the hub (its OAuth secret)
API_TOKEN_ENV = "CLASSROOM_GRADING_API_TOKEN"  # that key in the hub's environment (as hub_deployment passes keys)
SESSION_SECRET = "grading_session_secret"  # the hub Secret's key: signs the service's cookies (kept over restarts)
START_WAIT_S = 10  # how long the hub waits for the service at its start (it comes up after the hub on `up`)


def service_entry(url: str) -> dict[str, Any]:
    """The hub's c.JupyterHub.services entry without its api_token, which the hub config adds from its environment
    (os.environ[API_TOKEN_ENV]) so no secret is in the ConfigMap. url: where the hub and its proxy reach the service,
    manifests.GRADING_URL (Service `grading`, whose endpoint is the container)."""
    return {
        "name": SERVICE,
        "url": url,
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": [],  # identify only: no action on the person's behalf
        "display": False,  # not in the students' Services menu; instructors open /services/grading/ (up prints it)
        "timeout": START_WAIT_S,
    }


def load_roles() -> list[dict[str, Any]]:
    """The hub's c.JupyterHub.load_roles entries for the class page: every user of the hub (the students `up`
    makes through the REST API, and any made later) may complete the hub's login with the service, which then
    refuses anyone but an admin. It redefines the hub's default `user` role, so no list of names is kept here."""
    return [
        {
            "name": "user",
            "description": "their own things, and the grading service's pages (it lets only instructors in)",
            "scopes": ["self", f"access:services!service={SERVICE}"],
        }
    ]


def container_settings(hub_url: str, api_token: str, session_secret: str) -> dict[str, str]:
    """The grading container's environment for the hub's login. hub_url: the hub's proxy as the container reaches
    it on the kind network (http://<node>:<nodePort>/); the browser is sent to the same origin it came from, so
    SERVICELAB_HUB_PUBLIC_URL stays unset."""
    return {
        "SERVICELAB_HUB_API_URL": f"{hub_url.rstrip('/')}/hub/api",
        "JUPYTERHUB_API_TOKEN": api_token,
        "SERVICELAB_SESSION_SECRET": session_secret,
    }
