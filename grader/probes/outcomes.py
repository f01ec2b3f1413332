"""Reading one probe's outcome: did it answer, succeed, differ from the interceptor; a one-line summary."""

from __future__ import annotations

from urllib.parse import urlsplit

from grader.probes.shell import Op, Outcome, failure_reason, http_status, parse_nslookup

SINKHOLE = "198.51.100.1"  # TEST-NET-2 (RFC 5737): never routed, so whatever answers there is an interceptor


def control_for(op: Op) -> Op:
    """The same probe aimed at the never-routed SINKHOLE address (same port, path and Host header)."""
    if op.kind == "tcp":
        return Op("tcp", SINKHOLE, op.port)
    parts = urlsplit(op.target)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Op("http", parts._replace(netloc=f"{SINKHOLE}:{port}").geturl(), host_header=op.host_header)


def answered(op: Op, out: Outcome) -> bool:
    return http_status(out) is not None if op.kind == "http" else out.rc == 0


def differs(target: Outcome, control: Outcome) -> bool:
    """Whether the target's HTTP answer is not the interceptor's (status or body differ)."""
    status = http_status(target)
    if status is None:
        return False
    return status != http_status(control) or target.body.strip() != control.body.strip()


def succeeded(op: Op, out: Outcome) -> bool:
    if op.kind == "http":
        status = http_status(out)
        return status is not None and status < 500
    if op.kind == "tcp":
        return out.rc == 0
    addresses, cnames, _ = parse_nslookup(out.body + "\n" + out.err)
    return bool(cnames if op.dns_type == "CNAME" else addresses)


def summary(op: Op, out: Outcome, per_try_s: float) -> str:
    if op.kind == "http":
        status = http_status(out)
        return f"HTTP {status}" if status else failure_reason(out, per_try_s)
    if op.kind == "tcp":
        return "connected" if out.rc == 0 else failure_reason(out, per_try_s)
    addresses, cnames, error = parse_nslookup(out.body + "\n" + out.err)
    return ", ".join(cnames + addresses) or error or "no records"


def split_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
