"""What a lab's checks.py uses, and all it imports of grader: `from grader.lab import LabContext, Fail, ...`.

A check is a pytest test taking the `lab` fixture (a `LabContext`): it probes from vantage points, reads the
learner's objects, and ends in PASS (kept only on an `Observation` that supports it), or raises `Fail` (the
learner's mistake, with a hint and its diagnosis id), `Blocked` (an earlier failure hides what it would observe),
`NotApplicable` or `EnvError`. docs/WRITING_CHECKS.md documents every name here.
The modules of this package (context, services, kit, diagnose, gateways, routes, unready, traefik_*) are the grader's
own; labs import this front door only (tests/unit/lab/test_front_door.py checks it).
"""

from grader.base.errors import EnvError
from grader.base.outcomes import Blocked, Diagnosis, Fail, NotApplicable
from grader.base.wait import WaitTimeout, wait_for
from grader.lab.context import LabContext
from grader.lab.diagnose import endpoints_diagnosis, matches, pod_ready, port_mismatch
from grader.lab.gateways import door as gateway_door
from grader.lab.gateways import fingerprint, https_through, listener_problems, listeners_of, secret_certificate
from grader.lab.kit import (
    also_exposing,
    inside_route,
    internet_facing,
    remember_route,
    require_route,
    route_endpoints,
    route_known_broken,
    selected_pods,
)
from grader.lab.routes import first_wrong, poll_routes, require_served, route_owner
from grader.lab.services import Endpoints, Service, ServicePort
from grader.probes.matrix import Observation
from grader.probes.observed import DnsResult, HostnamesResult, HttpResult, HttpsAnswer, TcpResult

__all__ = [
    "Blocked",
    "Diagnosis",
    "DnsResult",
    "Endpoints",
    "EnvError",
    "Fail",
    "HostnamesResult",
    "HttpResult",
    "HttpsAnswer",
    "LabContext",
    "NotApplicable",
    "Observation",
    "Service",
    "ServicePort",
    "TcpResult",
    "WaitTimeout",
    "also_exposing",
    "endpoints_diagnosis",
    "fingerprint",
    "first_wrong",
    "gateway_door",
    "https_through",
    "inside_route",
    "internet_facing",
    "listener_problems",
    "listeners_of",
    "matches",
    "pod_ready",
    "poll_routes",
    "port_mismatch",
    "remember_route",
    "require_route",
    "require_served",
    "route_endpoints",
    "route_known_broken",
    "route_owner",
    "secret_certificate",
    "selected_pods",
    "wait_for",
]
