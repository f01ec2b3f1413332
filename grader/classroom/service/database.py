"""The gradebook's two databases behind one small interface: an SQLite file (the default, one service) or a
PostgreSQL server (replicas of the service sharing one gradebook).

The gradebook's SQL is written once, with `?` for its parameters and `{now}` for the database's own clock in
seconds since the epoch (every replica's heartbeat is measured on one clock, not on each pod's). A URL
postgresql://... or postgres://... picks PostgreSQL; anything else is the SQLite file's path. The driver for
PostgreSQL, psycopg 3 (`pip install 'servicelab[postgres]'`), is imported only when such a URL is given.

A URL may hold a password: `redacted()` is what logs, errors and status show, never the URL itself.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from grader.base.errors import BadInput, EnvError

POSTGRES_SCHEMES = ("postgresql", "postgres")
URL_RULE = "the gradebook is an SQLite file's path or a PostgreSQL URL postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
CONNECT_TIMEOUT_S = 10
# Two replicas starting at once must not both create the tables (PostgreSQL's CREATE ... IF NOT EXISTS races):
# the schema is made under this transaction-scoped advisory lock. Any number of our own; "slgb" in ASCII.
SCHEMA_LOCK = 0x736C6762
SECRET_PARAMS = {"password", "passfile", "sslpassword"}

Record = dict[str, Any]


class Database(Protocol):
    """One connection, used under the gradebook's lock (one thread at a time)."""

    shown: str  # where it is, for logs and errors: a path, or the URL without its password

    def begin(self, *, write: bool) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def execute(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[Record]: ...
    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None: ...
    def schema_lock(self) -> None: ...
    def close(self) -> None: ...


def is_url(where: str) -> bool:
    return "://" in where


def redacted(where: str) -> str:
    """where without its password (in the authority or as a password=... parameter): for logs and errors."""
    if not is_url(where):
        return where
    parts = urlsplit(where)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        netloc = f"{user}@{host}"
    params = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(k, "***" if k in SECRET_PARAMS else v) for k, v in params], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrubbed(text: str, where: str) -> str:
    """text (a driver's error) with where's password taken out, should the driver have quoted it."""
    secrets = [p for p in _passwords(where) if p]
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _passwords(where: str) -> list[str]:
    if not is_url(where):
        return []
    parts = urlsplit(where)
    found = [v for k, v in parse_qsl(parts.query) if k in SECRET_PARAMS]
    return [*found, parts.password] if parts.password else found


def check_url(where: str) -> None:
    """BadInput unless where is a PostgreSQL URL with a host or a database to reach (the password not shown)."""
    parts = urlsplit(where)
    if parts.scheme not in POSTGRES_SCHEMES:
        problem = f"the scheme '{parts.scheme}' is not PostgreSQL's" if is_url(where) else "is not a URL"
        raise BadInput(
            f"gradebook URL {redacted(where)!r}: {problem}",
            rule=URL_RULE,
            fix="write postgresql://USER:PASSWORD@HOST:5432/DATABASE (or leave it out for the SQLite file)",
        )
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise BadInput(
            f"gradebook URL {redacted(where)!r}: its port is not a number from 0 to 65535 (or names several hosts)",
            rule=URL_RULE,
            fix="one server: postgresql://USER:PASSWORD@HOST:5432/DATABASE",
        ) from None
    if not (parts.hostname or parts.path.strip("/") or parse_qsl(parts.query)):
        raise BadInput(
            f"gradebook URL {redacted(where)!r} names no server and no database",
            rule=URL_RULE,
            fix="name the server and the database: postgresql://USER:PASSWORD@HOST:5432/DATABASE",
        )


def open_database(where: str) -> tuple[Database, str]:
    """The database at where, and its SQL for 'now' in seconds since the epoch."""
    if is_url(where):
        check_url(where)
        return Postgres(where), "EXTRACT(EPOCH FROM clock_timestamp())::double precision"
    return Sqlite(where), "((julianday('now') - 2440587.5) * 86400.0)"


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Record:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class Sqlite:
    """One SQLite file in WAL mode: readers (the class page) never wait on a grading's write."""

    def __init__(self, path: str) -> None:
        self.shown = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = _dict_row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a result told to a student is on disk
        self._db.execute("PRAGMA foreign_keys=ON")

    def begin(self, *, write: bool) -> None:
        self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def commit(self) -> None:
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        self._db.execute("ROLLBACK")

    def execute(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[Record]:
        return list(self._db.execute(sql, args).fetchall())

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._db.executemany(sql, rows)

    def schema_lock(self) -> None:
        """BEGIN IMMEDIATE holds the file's one write lock already."""

    def close(self) -> None:
        self._db.close()


class Postgres:
    """One connection to a PostgreSQL server, opened again when it was lost (the server restarted, a network
    blip): a transaction that had not begun is retried once on the new connection; one cut short raises."""

    def __init__(self, url: str) -> None:
        self.shown = redacted(url)
        self._url = url
        try:
            import psycopg  # noqa: PLC0415 - the [postgres] extra: only a PostgreSQL gradebook needs it
            from psycopg.rows import dict_row  # noqa: PLC0415
        except ImportError:
            raise EnvError(
                f"the gradebook {self.shown} is PostgreSQL, and its driver psycopg is not installed: "
                "pip install 'servicelab[postgres]' (the classroom-grading image has it)"
            ) from None
        self._psycopg = psycopg
        self._dict_row = dict_row
        self._conn: Any = None
        self._connect()

    def _connect(self) -> None:
        if self._conn is not None:
            self._conn.close()
        try:
            self._conn = self._psycopg.connect(
                self._url, autocommit=True, row_factory=self._dict_row, connect_timeout=CONNECT_TIMEOUT_S
            )
        except self._psycopg.Error as err:
            self._conn = None
            raise EnvError(
                f"cannot reach the gradebook {self.shown}: {scrubbed(str(err).strip(), self._url)}"
            ) from None

    def begin(self, *, write: bool) -> None:
        # reads see one snapshot: a result and its checks as one grading wrote them
        statement = "BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        if self._conn is None or self._conn.closed:
            self._connect()
        try:
            self._conn.execute(statement)
        except self._psycopg.OperationalError:  # nothing done yet: the same again on a new connection
            self._connect()
            self._conn.execute(statement)

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if not self._conn.closed:
            self._conn.execute("ROLLBACK")

    def execute(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[Record]:
        cursor = self._conn.execute(_placeholders(sql), list(args))
        return list(cursor.fetchall()) if cursor.description else []

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(_placeholders(sql), rows)

    def schema_lock(self) -> None:
        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", [SCHEMA_LOCK])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def _placeholders(sql: str) -> str:
    """The shared SQL's `?` as psycopg's `%s` (the gradebook's SQL has no literal ? or %)."""
    return re.sub(r"\?", "%s", sql)
