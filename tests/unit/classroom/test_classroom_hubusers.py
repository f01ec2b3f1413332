"""The class's students made hub users through the hub's REST API (grader.classroom.hubusers), against a fake hub
over real HTTP that answers as JupyterHub does."""

from __future__ import annotations

import pytest
from _hub_fakes import FakeHub, running

from grader.base.errors import EnvError
from grader.classroom import hubusers


def _root(hub: FakeHub) -> str:
    return hub.url.removesuffix("hub/api")  # the proxy's address, ending in /


def test_up_adds_only_the_students_the_hub_lacks() -> None:
    with running(FakeHub(users={"teacher": True, "ada": False})) as hub:
        added = hubusers.add_students(_root(hub), hub.service_token, ["ada", "ben", "cai"])
        assert added == ["ben", "cai"]
        assert hub.posted == [{"usernames": ["ben", "cai"], "admin": False}]  # never as admins
        assert hub.users == {"teacher": True, "ada": False, "ben": False, "cai": False}


def test_up_again_adds_nobody_and_posts_nothing() -> None:
    with running(FakeHub(users={"ada": False, "ben": False})) as hub:
        assert hubusers.add_students(_root(hub), hub.service_token, ["ada", "ben"]) == []
        assert hub.posted == []


def test_a_refusing_hub_is_an_environment_error_that_names_the_request() -> None:
    with running(FakeHub(users={})) as hub, pytest.raises(EnvError) as refused:
        hubusers.add_students(_root(hub), "not-the-token", ["ada"])
    assert "GET /hub/api/users/ada with HTTP 403" in refused.value.diagnosis


def test_a_hub_that_does_not_answer_says_to_run_up_again() -> None:
    with running(FakeHub()) as hub:
        root = _root(hub)
    with pytest.raises(EnvError) as unreachable:
        hubusers.add_students(root, "t", ["ada"])  # the server is gone: connection refused
    assert "did not answer its REST API (ConnectionError)" in unreachable.value.diagnosis
    assert "servicelab classroom up` again" in unreachable.value.diagnosis
