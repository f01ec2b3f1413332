"""The gradebook's two backends for the classroom's tests: an SQLite file, and a real PostgreSQL server (_postgres)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import _postgres
import pytest

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres() -> Iterator[_postgres.Server]:
    """One server for the whole run (each xdist worker its own), stopped at the end."""
    server = _postgres.start()
    yield server
    _postgres.stop(server)


@pytest.fixture(params=BACKENDS)
def gradebook_where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's gradebook is: an SQLite file of its own, or a PostgreSQL database of its own (its URL)."""
    if request.param == "sqlite":
        return str(tmp_path / "state" / "gradebook.sqlite")
    server: _postgres.Server = request.getfixturevalue("postgres")
    return server.new_database()
