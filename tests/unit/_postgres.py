"""A real PostgreSQL server for the unit tests: Debian's `postgresql` package, started in a temporary folder
(initdb + pg_ctl, loopback only, a password), stopped at the end; one empty database per test.

Missing PostgreSQL (or psycopg, the [postgres] extra) is a failure, not a skip: a gradebook backend nobody tested
must not look green. .ci/run installs the server and `nox -s unit` the driver. A developer who knows they lack
them, and accepts not testing PostgreSQL, says so: SERVICELAB_SKIP_POSTGRES=1 turns the failure into a skip that
names the reason (pytest -ra lists it).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

SKIP_ENV = "SERVICELAB_SKIP_POSTGRES"
USER = "servicelab"
START_TIMEOUT_S = 60
INSTALL = "apt-get install -y --no-install-recommends postgresql (.ci/run does), and `nox -s unit` (psycopg)"


@dataclass
class Server:
    port: int
    password: str
    folder: Path
    run_as: list[str]  # runuser -u postgres -- when we are root: initdb refuses root

    host: str = "127.0.0.1"  # where this machine reaches it

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        return f"postgresql://{USER}:{password or self.password}@{self.host}:{self.port}/{database}"

    def new_database(self) -> str:
        """An empty database of its own; its URL."""
        import psycopg  # noqa: PLC0415

        name = f"gradebook_{secrets.token_hex(6)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def kill_connections(self, database_url: str) -> int:
        """Cut every connection to the database (as a server restart would); how many were cut."""
        import psycopg  # noqa: PLC0415

        name = database_url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as admin:
            found = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s", [name]
            ).fetchone()
        return int(found[0]) if found else 0


def _unavailable(reason: str) -> None:
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"PostgreSQL gradebook NOT TESTED ({SKIP_ENV}=1): {reason}")
    pytest.fail(f"{reason}: install it ({INSTALL}), or set {SKIP_ENV}=1 to skip these tests knowingly", pytrace=False)


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps each major version apart)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start(also_on: str = "", clients: tuple[str, ...] = ()) -> Server:
    """A server on loopback, and also_on another address of this machine (an e2e test gives the kind network's
    gateway, where pods and containers reach it); clients: more networks (CIDRs) whose clients log in with the
    password."""
    try:
        import psycopg  # noqa: F401, PLC0415
    except ImportError:
        _unavailable("psycopg (servicelab's [postgres] extra) is not installed")
    bin_dir = binaries()
    if bin_dir is None:
        _unavailable("no PostgreSQL server under /usr/lib/postgresql/*/bin")
        raise AssertionError("unreachable")
    folder = Path(tempfile.mkdtemp(prefix="slpg-"))  # short: the unix socket's path has a 107-byte bound
    run_as: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")  # Debian's package makes this user
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    password = secrets.token_urlsafe(16)
    pwfile = folder / "pw"
    pwfile.write_text(password + "\n", encoding="utf-8")
    if run_as:
        os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
    data = folder / "data"
    subprocess.run(
        [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
         "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    with (data / "pg_hba.conf").open("a", encoding="utf-8") as hba:
        hba.writelines(f"host all {USER} {cidr} scram-sha-256\n" for cidr in clients)
    port = _free_port(also_on or "127.0.0.1")
    listen = ",".join(["127.0.0.1", *([also_on] if also_on else [])])
    options = f"-c listen_addresses={listen} -p {port} -k {folder} -c fsync=off"
    subprocess.run(
        [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", options,
         "-w", "-t", str(START_TIMEOUT_S), "start"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return Server(port, password, folder, run_as)


def stop(server: Server) -> None:
    bin_dir = binaries()
    assert bin_dir is not None
    subprocess.run(
        [*server.run_as, str(bin_dir / "pg_ctl"), "-D", str(server.folder / "data"), "-m", "fast", "-w", "stop"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    shutil.rmtree(server.folder, ignore_errors=True)
