"""The gradebook's database choice: a URL is PostgreSQL (its driver only then), a path SQLite; a URL's password is
never shown; a lost PostgreSQL connection is opened again."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import _postgres
import pytest

from grader.base.errors import BadInput, EnvError
from grader.classroom.service import database
from grader.classroom.service.__main__ import main as service_main
from grader.classroom.service.gradebook import Gradebook

T0 = 1_800_000_000.0
REPLICAS = 6


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://grader:s3cret@db:5432/class", "postgresql://grader:***@db:5432/class"),
        ("postgres://grader@db/class", "postgres://grader@db/class"),
        ("postgresql://db/class?user=g&password=s3cret&sslmode=require", "postgresql://db/class?user=g&password=***&sslmode=require"),
        ("postgresql://a:b:c@db/class", "postgresql://a:***@db/class"),
        ("/data/gradebook.sqlite", "/data/gradebook.sqlite"),
    ],
)  # fmt: skip
def test_a_urls_password_is_never_shown(url: str, shown: str) -> None:
    assert database.redacted(url) == shown
    assert database.scrubbed(f"FATAL: {url} refused", url).count("s3cret") == 0


@pytest.mark.parametrize("url", ["mysql://grader:s3cret@db/class", "sqlite:///data/g.sqlite", "postgresql://"])
def test_only_a_postgresql_url_is_taken(url: str) -> None:
    with pytest.raises(BadInput) as refused:
        Gradebook(url)
    assert "s3cret" not in refused.value.render()
    assert refused.value.rule == database.URL_RULE
    assert refused.value.fix


def test_without_its_driver_a_postgresql_gradebook_is_an_environment_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg raises ImportError
    with pytest.raises(EnvError, match=r"servicelab\[postgres\]") as missing:
        Gradebook("postgresql://grader:s3cret@db/class")
    assert "s3cret" not in str(missing.value)
    assert "grader:***@db" in str(missing.value)


def test_an_sqlite_gradebook_never_imports_the_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    Gradebook(tmp_path / "g.sqlite").close()


def test_a_wrong_password_is_refused_without_showing_either(postgres: _postgres.Server) -> None:
    wrong = postgres.url(password="not-the-password")
    with pytest.raises(EnvError, match="cannot reach the gradebook") as refused:
        Gradebook(wrong)
    assert "not-the-password" not in str(refused.value)
    assert postgres.password not in str(refused.value)


def test_a_lost_connection_is_opened_again(postgres: _postgres.Server) -> None:
    url = postgres.new_database()
    book = Gradebook(url, heartbeat_s=3600)
    try:
        book.queued("j1", "ann", "nodeport", "servicelab-student-ann", T0)
        assert postgres.kill_connections(url) == 1  # as a database restart would
        book.started("j1", T0 + 1)  # its BEGIN meets the dead connection: a new one, and the write goes through
        row = book.get("j1")
        assert row is not None
        assert (row.state, row.started) == ("running", T0 + 1)
    finally:
        book.close()


def test_the_service_will_not_start_on_a_gradebook_it_cannot_use(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SERVICELAB_VARIABLES_JSON", raising=False)
    assert service_main(["--gradebook", "mysql://grader:s3cret@db/class"]) == 2
    said = capsys.readouterr().err
    assert "not PostgreSQL's" in said
    assert "rule:" in said
    assert "s3cret" not in said
    monkeypatch.setenv("SERVICELAB_GRADEBOOK", "postgresql://grader:s3cret@db/class")  # as the container gets it
    monkeypatch.setitem(sys.modules, "psycopg", None)
    assert service_main([]) == 3
    said = capsys.readouterr().err
    assert "servicelab[postgres]" in said
    assert "s3cret" not in said


def test_replicas_starting_at_once_make_the_tables_once(postgres: _postgres.Server) -> None:
    """CREATE TABLE IF NOT EXISTS races in PostgreSQL (two creators, one unique violation): the advisory lock."""
    url = postgres.new_database()
    opened: list[Gradebook] = []
    failed: list[BaseException] = []
    barrier = threading.Barrier(REPLICAS)

    def start(name: str) -> None:
        barrier.wait(timeout=30)
        try:
            opened.append(Gradebook(url, instance=name))
        except BaseException as err:
            failed.append(err)

    threads = [threading.Thread(target=start, args=(f"grading-{i}",)) for i in range(REPLICAS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert failed == []
        assert len(opened) == REPLICAS
    finally:
        for book in opened:
            book.close()
