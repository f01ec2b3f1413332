"""Batch probes into one busybox `sh -c` script, run in parallel inside it, and parse what comes back.

Used by every vantage point that is a busybox shell (the probe pods, the outside container). The per-try
timeout is busybox `timeout` around each wget/nc/nslookup (whole seconds), or under one second the shell's own
watch; the caller caps the whole exec.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import shlex
from dataclasses import dataclass
from enum import StrEnum

from grader.base.names import PROGRESS_LOG

_progress = logging.getLogger(PROGRESS_LOG)


@dataclass(frozen=True)
class Op:
    kind: str  # "http" | "tcp" | "dns"
    target: str  # url, host, or dns name
    port: int = 0
    host_header: str | None = None
    dns_type: str = "A"


@dataclass(frozen=True)
class Outcome:
    rc: int
    err: str
    body: str


TICK_S = 0.05  # how often a sub-second try looks whether its command has ended


def build_script(ops: list[Op], per_try_s: float, nonce: str) -> str:
    t = max(1, round(per_try_s))
    lines = ["d=/tmp/sl$$", "mkdir -p $d"]
    for i, op in enumerate(ops):
        if op.kind == "http":
            header = f" --header {shlex.quote('Host: ' + op.host_header)}" if op.host_header else ""
            cmd = f"wget -S -O $d/b{i}{header} {shlex.quote(op.target)} 2>$d/e{i}"
        elif op.kind == "tcp":
            cmd = f"nc -w {t} {shlex.quote(op.target)} {op.port} </dev/null >/dev/null 2>$d/e{i}"
        elif op.kind == "dns":
            query = shlex.quote(f"-type={op.dns_type.lower()}")
            cmd = f"nslookup {query} {shlex.quote(op.target)} >$d/b{i} 2>$d/e{i}"
        else:
            raise ValueError(f"unknown probe kind {op.kind}")
        lines.append(f"( {_bounded(cmd, per_try_s)}; echo $? >$d/r{i} ) &")
    lines.append("wait")
    for i in range(len(ops)):
        lines.append(
            f"echo '@@{nonce}:{i}:rc'; cat $d/r{i} 2>/dev/null; echo '@@{nonce}:{i}:err'; "
            f"cat $d/e{i} 2>/dev/null; echo '@@{nonce}:{i}:body'; head -c 8192 $d/b{i} 2>/dev/null; echo"
        )
    lines += [f"echo '@@{nonce}:end'", "rm -rf $d", "exit 0"]
    return "\n".join(lines)


def _bounded(cmd: str, per_try_s: float) -> str:
    """cmd, ended (exit 143, as `timeout` reports) once per_try_s has passed. busybox `timeout` counts whole
    seconds; under one second the shell watches the command itself, in TICK_S steps (busybox sleep takes
    fractions)."""
    if per_try_s >= 1:
        return f"timeout {max(1, round(per_try_s))} {cmd}"
    ticks = max(1, math.ceil(per_try_s / TICK_S))
    return (
        f"{cmd} & p=$!; n=0; while kill -0 $p 2>/dev/null && [ $n -lt {ticks} ]; do sleep {TICK_S}; "
        "n=$((n+1)); done; kill $p 2>/dev/null; wait $p"
    )


def new_nonce() -> str:
    return secrets.token_hex(4)


def parse_output(text: str, count: int, nonce: str) -> list[Outcome] | None:
    """Outcomes in op order, or None when the script did not run to its end marker."""
    if f"@@{nonce}:end" not in text:
        return None
    parts: dict[tuple[int, str], list[str]] = {}
    key: tuple[int, str] | None = None
    marker = re.compile(rf"^@@{nonce}:(\d+):(rc|err|body)$")
    for line in text.split("\n"):
        m = marker.match(line)
        if m:
            key = (int(m.group(1)), m.group(2))
            parts[key] = []
        elif line == f"@@{nonce}:end":
            key = None
        elif key is not None:
            parts[key].append(line)
    outcomes = []
    for i in range(count):
        rc_text = "\n".join(parts.get((i, "rc"), [])).strip()
        outcomes.append(
            Outcome(
                rc=int(rc_text) if rc_text.lstrip("-").isdigit() else -1,
                err="\n".join(parts.get((i, "err"), [])).strip(),
                body="\n".join(parts.get((i, "body"), [])).rstrip("\n"),
            )
        )
    return outcomes


_STATUS = re.compile(r"(?:^\s*|returned error: )HTTP/\d(?:\.\d)?\s+(\d{3})", re.MULTILINE)


def http_status(outcome: Outcome) -> int | None:
    statuses = _STATUS.findall(outcome.err)
    return int(statuses[-1]) if statuses else None


class Failure(StrEnum):
    """How a wget/nc try failed, read once from busybox's stderr (its only report of it)."""

    TIMEOUT = "timed out"
    REFUSED = "connection refused"
    NO_NAME = "name does not resolve"
    NO_ROUTE = "no route to host"
    RESET = "connection reset"
    OTHER = ""  # the tool's own last line says it


def failure_of(outcome: Outcome) -> Failure:
    err = outcome.err.lower()
    if outcome.rc in (124, 143) or "timed out" in err:
        return Failure.TIMEOUT
    if "refused" in err:
        return Failure.REFUSED
    if "bad address" in err or "can't resolve" in err:
        return Failure.NO_NAME
    if "no route" in err or "unreachable" in err:
        return Failure.NO_ROUTE
    if "reset" in err:
        return Failure.RESET
    return Failure.OTHER


def failure_reason(outcome: Outcome, per_try_s: float) -> str:
    """A learner-readable reason for a failed wget/nc, from busybox's messages."""
    failure = failure_of(outcome)
    if failure is Failure.TIMEOUT:
        return f"timed out after {per_try_s:g}s"
    if failure is not Failure.OTHER:
        return failure.value
    last = outcome.err.strip().splitlines()[-1:] or [f"exit code {outcome.rc}"]
    return last[0].removeprefix("wget: ").removeprefix("nc: ")


def parse_nslookup(text: str) -> tuple[list[str], list[str], str]:
    """(addresses, cnames, error) from busybox nslookup output; the server's own address is skipped."""
    addresses: list[str] = []
    cnames: list[str] = []
    error = ""
    skip_next_address = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Server:"):
            skip_next_address = True
            continue
        if "can't find" in line or "NXDOMAIN" in line:
            error = "NXDOMAIN" if "NXDOMAIN" in line else line.strip("* ")
            continue
        m = re.search(r"canonical name = (\S+)", line)
        if m:
            name = m.group(1).rstrip(".")
            if name not in cnames:
                cnames.append(name)
            continue
        m = re.match(r"Address(?:\s+\d+)?:\s*(\S+)", line)
        if m:
            if skip_next_address:
                skip_next_address = False
                continue
            addr = m.group(1)
            if addr not in addresses:
                addresses.append(addr)
    return addresses, cnames, error


def announce(vantage: str, ops: list[Op]) -> list[Op]:
    """Say which vantage point probes what (the notebook's progress line); returns the ops."""
    said = ", ".join(f"{op.kind} {op.target}" + (f":{op.port}" if op.port else "") for op in ops[:3])
    _progress.info("from %s: %s%s", vantage, said, " ..." if len(ops) > 3 else "")
    return ops
