"""Warm shells into an outside container, with a stand-in `docker` that runs a local shell (`docker exec -i C
sh` -> `sh`): one shell serves batch after batch; a script that ends early, hangs or breaks the shell costs
that shell, with an EnvError that says why, never a wrong answer."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from grader.base.errors import EnvError
from grader.probes.outside import OutsideVantage
from grader.probes.shell import Op
from grader.probes.warm import ShellPool, WarmShell


@pytest.fixture(autouse=True)
def local_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docker = tmp_path / "docker"
    docker.write_text('#!/bin/sh\n[ "$1 $2" = "exec -i" ] || exit 9\nshift 3\nexec "$@"\n')
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


def test_one_shell_serves_batch_after_batch() -> None:
    pool = ShellPool("outside")
    try:
        first = pool.run("echo $$; echo '@@n:end'", "@@n:end", 5)
        second = pool.run("echo $$; echo '@@m:end'", "@@m:end", 5)
    finally:
        pool.close()
    assert first.splitlines() == [first.splitlines()[0], "@@n:end"]
    assert first.splitlines()[0] == second.splitlines()[0]  # the same shell (its pid) both times


def test_a_script_that_exits_early_ends_its_shell_at_once() -> None:
    pool = ShellPool("outside")
    start = time.monotonic()
    with pytest.raises(EnvError, match="docker exec into outside failed"):
        pool.run("echo half; exit 3", "@@n:end", 10)
    assert time.monotonic() - start < 5  # told by the shell's own line, not by the deadline
    assert pool.run("echo '@@k:end'", "@@k:end", 5) == "@@k:end\n"  # a new shell for the next batch
    pool.close()


def test_a_script_that_hangs_is_cut_at_its_deadline() -> None:
    shell = WarmShell("outside")
    start = time.monotonic()
    assert shell.run("sleep 30; echo '@@n:end'", "@@n:end", 0.5) is None
    assert time.monotonic() - start < 3
    shell.close()


def test_a_shell_that_cannot_start_is_an_environment_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EnvError, match="cannot run docker here"):
        ShellPool("outside").run("echo '@@n:end'", "@@n:end", 5)


def test_the_outside_vantage_parses_what_the_warm_shell_gives() -> None:
    busybox = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if Path(p).exists()), None)
    if busybox is None:
        pytest.skip("no busybox here")
    pool = ShellPool("outside")
    vantage = OutsideVantage(container="outside", shells=pool)
    try:
        outcomes = vantage._run_ops([Op("dns", "localhost")], 1.0, 10)
    finally:
        pool.close()
    assert len(outcomes) == 1
    assert outcomes[0].rc != -1


def test_an_idle_shell_that_ended_meanwhile_is_not_used() -> None:
    pool = ShellPool("outside")
    pool.start_ahead()
    (idle,) = pool._idle
    idle.proc.kill()  # as when the container stops between two gradings
    idle.proc.wait()
    assert pool.run("echo '@@n:end'", "@@n:end", 5) == "@@n:end\n"
    pool.close()
