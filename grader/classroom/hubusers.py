"""The class's students as users of the hub, made through the hub's REST API.

The hub admits exactly the users it has (`Authenticator.allow_existing_users`, no `allowed_users` in its
config): `servicelab classroom up` adds the values file's students who are not users yet (POST /hub/api/users,
as the classroom's hub service, whose role has `admin:users`), and an instructor may add one on the hub's admin
page. A user without a namespace of the classroom's (added on the admin page but not to the values file) can log
in but not start a server: the hub's spawner says what to do (grader.classroom.manifests).

A hub whose state is an emptyDir forgets its users when its pod goes: `up` again makes them again.
"""

from __future__ import annotations

from collections.abc import Sequence

from grader.base.errors import EnvError

TIMEOUT_S = 30.0


def add_students(hub_url: str, api_token: str, students: Sequence[str]) -> list[str]:
    """Make the students the hub does not have yet; returns those it made. hub_url: the proxy's, ending in /.
    EnvError when the hub refuses or does not answer."""
    import requests  # noqa: PLC0415 - ~0.03 s, only here

    headers = {"Authorization": f"token {api_token}"}
    missing = []
    for student in students:
        try:
            answer = requests.get(f"{hub_url}hub/api/users/{student}", headers=headers, timeout=TIMEOUT_S)
        except requests.RequestException as err:
            raise _unreachable(hub_url, err) from err
        if answer.status_code == 404:
            missing.append(student)
        elif answer.status_code != 200:
            raise _refused(f"GET /hub/api/users/{student}", answer.status_code, answer.text)
    if not missing:
        return []
    try:
        answer = requests.post(
            f"{hub_url}hub/api/users", headers=headers, json={"usernames": missing, "admin": False}, timeout=TIMEOUT_S
        )
    except requests.RequestException as err:
        raise _unreachable(hub_url, err) from err
    if answer.status_code != 201:
        raise _refused("POST /hub/api/users", answer.status_code, answer.text)
    return sorted(user["name"] for user in answer.json())


def _unreachable(hub_url: str, err: Exception) -> EnvError:
    return EnvError(
        f"the hub at {hub_url} did not answer its REST API ({type(err).__name__}): the class's students are not "
        "all hub users yet: run `servicelab classroom up` again once the hub answers"
    )


def _refused(request: str, status: int, body: str) -> EnvError:
    return EnvError(f"the hub answered {request} with HTTP {status}: {body[:300]} (the hub's log says why)")
