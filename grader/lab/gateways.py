"""A Gateway the learner wrote, as a door to probe: where it listens, once its implementation has taken it.

The address comes from the Gateway's own status, as on AKS, where each Gateway gets its own proxy and load balancer
address; on kind Traefik writes its Service's address there (fixtures/traefik). A check probes that address on the
port its task names. What keeps a Gateway from being a door is the learner's mistake (FAIL, or BLOCKED for checks
that depend on it) unless the implementation itself is absent or silent (ENV-ERROR).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from grader.base.errors import EnvError
from grader.base.names import TRAEFIK_NAMESPACE, TRAEFIK_TLS_PORT
from grader.base.outcomes import Diagnosis
from grader.base.wait import WaitTimeout, wait_for
from grader.kube.client import KubeError, KubeUnreachable, Obj
from grader.lab import traefik_view
from grader.lab.context import LabContext
from grader.probes.observed import HttpsAnswer

GATEWAYS = "gateways.gateway.networking.k8s.io"
GATEWAY_CLASSES = "gatewayclasses.gateway.networking.k8s.io"
TRAEFIK_CONTROLLER = "traefik.io/gateway-controller"
TAKEN_S = 30.0  # Traefik's provider writes a new Gateway's status within seconds (throttle 2 s)


@dataclass(frozen=True)
class Door:
    """A Gateway its implementation has taken: the address its status gives, and the Gateway as last read."""

    address: str
    gateway: Obj
    controller: str = ""  # the GatewayClass's controllerName: who serves it

    def listeners(self) -> list[dict[str, Any]]:
        return listeners_of(self.gateway)


def listeners_of(gateway: Obj) -> list[dict[str, Any]]:
    """The Gateway's listeners as written (spec.listeners), mappings only."""
    return [x for x in (gateway.get("spec") or {}).get("listeners") or [] if isinstance(x, dict)]


def _read(lab: LabContext, kind: str, name: str, namespace: str | None) -> Obj | None:
    try:
        return lab.kube.get(kind, name, namespace)
    except KubeUnreachable as err:
        raise EnvError(err.diagnosis) from err
    except KubeError as err:
        raise EnvError(f"cannot read {kind} {name}: {err}") from err


def conditions(obj: Obj) -> dict[str, dict[str, Any]]:
    """The object's status conditions by type, those written for its current generation only."""
    generation = obj.get("metadata", {}).get("generation")
    return {
        str(c.get("type")): c
        for c in (obj.get("status") or {}).get("conditions") or []
        if c.get("observedGeneration") in (None, generation)
    }


def listener_problems(gateway: Obj) -> list[str]:
    """Each listener its implementation did not accept, with its reason and message (from status.listeners)."""
    said = []
    for listener in (gateway.get("status") or {}).get("listeners") or []:
        for c in listener.get("conditions") or []:
            bad = (c.get("type") in ("Accepted", "Programmed", "ResolvedRefs") and c.get("status") == "False") or (
                c.get("type") == "Conflicted" and c.get("status") == "True"
            )
            if bad:
                said.append(f"listener {listener.get('name')}: {c.get('reason')} ({c.get('message', '')})")
                break
    return said


def door(
    lab: LabContext,
    name: str,
    *,
    blocked_by: str | None = None,
    refused: Callable[[Obj], Diagnosis] | None = None,
) -> Door:
    """The Gateway `name` of the lab's namespace once its implementation has taken it (status Accepted with an
    address). A learner's mistake FAILs (with `blocked_by`: BLOCKED, naming that check); `refused` names the lab's
    own mistake in a Gateway its implementation refused (empty: the general words). An implementation that never
    answers is ENV-ERROR."""

    def mistake(diagnosis: Diagnosis) -> Door:
        if blocked_by:
            lab.blocked(blocked_by, f"the Gateway {name} is not serving: {diagnosis.text}")
        lab.fail(diagnosis.text, diagnosis=diagnosis.id)

    gateway = _read(lab, GATEWAYS, name, lab.namespace)
    if gateway is None:
        others = [g["metadata"]["name"] for g in lab.objects(GATEWAYS)]
        return mistake(
            Diagnosis(
                "gateway/no-gateway",
                f"There is no Gateway {name} in the namespace"
                + (f" (Gateways there: {', '.join(others)})" if others else "")
                + ". On AKS with app routing your team writes the Gateway (gatewayClassName approuting-istio, a "
                "listener on port 80) and attaches its HTTPRoutes to it; no shared Gateway is made for you.",
            )
        )
    class_name = str((gateway.get("spec") or {}).get("gatewayClassName", ""))
    gateway_class = _read(lab, GATEWAY_CLASSES, class_name, None)
    if gateway_class is None:
        classes = sorted(c["metadata"]["name"] for c in lab.kube.list(GATEWAY_CLASSES))
        return mistake(
            Diagnosis(
                "gateway/class-unknown",
                f"Gateway {name} asks for GatewayClass {class_name}, which this cluster does not have (it has: "
                f"{', '.join(classes) or 'none'}). AKS's application routing add-on names its Gateway API "
                "implementation approuting-istio.",
            )
        )
    controller = str((gateway_class.get("spec") or {}).get("controllerName", ""))
    if controller == TRAEFIK_CONTROLLER:
        lab.traefik()  # ENV-ERROR when the implementation itself does not answer

    def taken() -> tuple[Door | None, str]:
        current = _read(lab, GATEWAYS, name, lab.namespace)
        if current is None:
            raise EnvError(f"Gateway {name} vanished while the grader waited for it")
        accepted = conditions(current).get("Accepted", {})
        addresses = [a.get("value") for a in (current.get("status") or {}).get("addresses") or [] if a.get("value")]
        state = f"Accepted={accepted.get('status', 'unset')} addresses={addresses or 'none'}"
        if accepted.get("status") == "False":
            return Door("", current, controller), state  # refused: the learner's mistake, said below
        if accepted.get("status") == "True" and addresses:
            return Door(str(addresses[0]), current, controller), state
        return None, state

    try:
        found = wait_for(taken, what=f"Gateway {name} taken by {controller}", timeout_s=TAKEN_S)
    except WaitTimeout as err:
        raise EnvError(
            f"no Gateway API implementation took Gateway {name} (GatewayClass {class_name}, controller "
            f"{controller}) within {TAKEN_S:.0f} s: {err.last_state}. Is its controller running? ('servicelab status')"
        ) from err
    if not found.address:
        accepted = conditions(found.gateway).get("Accepted", {})
        said = "; ".join(listener_problems(found.gateway))
        return mistake(
            (refused(found.gateway) if refused else Diagnosis())
            or Diagnosis(
                "gateway/not-accepted",
                f"Gateway {name} was refused: {accepted.get('reason')} ({accepted.get('message', '')})"
                + (f"; {said}." if said else "."),
            )
        )
    return found


def secret_certificate(lab: LabContext, secret: str) -> bytes:
    """The certificate (DER) of a TLS Secret of the lab's namespace, one the lab's starter gives: ENV-ERROR when it is
    absent or not a certificate (the grader applied it)."""
    obj = _read(lab, "secrets", secret, lab.namespace)
    pem = ((obj or {}).get("data") or {}).get("tls.crt", "")
    try:
        return ssl.PEM_cert_to_DER_cert(base64.b64decode(pem).decode())
    except (ValueError, binascii.Error) as err:
        raise EnvError(
            f"the lab's TLS Secret {secret} holds no certificate ({err}): the starter was not applied"
        ) from err


def fingerprint(certificate: bytes) -> str:
    """SHA-256 of a DER certificate, as `openssl x509 -fingerprint -sha256` prints it (first 8 bytes, then ...)."""
    digest = hashlib.sha256(certificate).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, 16, 2)) + "..." if certificate else "none"


PORT_FORWARD = "port-forward"  # the vantage name of a TLS exchange through the Traefik pod's portforward stream


def https_through(
    lab: LabContext,
    door: Door,
    port: int,
    server_name: str,
    path: str,
    *,
    deadline_s: float,
    done: Callable[[HttpsAnswer], bool],
) -> tuple[HttpsAnswer, str]:
    """(answer, vantage): GET path over TLS from the Gateway's address and listener port, asking for server_name, until
    done(answer) or the deadline. From this machine where it reaches the cluster's addresses; else, for a Gateway
    Traefik serves, through the Traefik pod's portforward stream to the same listener (TLS and routing as a client
    gets them, without the load balancer's hop, which the HTTP checks cross); else n/a."""
    if lab.host.available or door.controller != TRAEFIK_CONTROLLER or port != TRAEFIK_TLS_PORT:
        answer = lab.host.https_get(door.address, port, server_name, path, deadline_s=deadline_s, done=done)
        return answer, lab.host.name
    last: list[HttpsAnswer] = []

    def attempt() -> tuple[HttpsAnswer | None, str]:
        pods = traefik_view.serving_pods(lab.kube)
        if not pods:
            answer = HttpsAnswer(f"https://{server_name}{path}", error="no ready Traefik pod")
        else:
            try:
                certificate, got = lab.kube.pod_https_get(
                    pods[0], TRAEFIK_NAMESPACE, TRAEFIK_TLS_PORT, server_name, path, timeout=5.0
                )
                answer = HttpsAnswer(
                    f"https://{server_name}{path} via {pods[0]}",
                    certificate,
                    got.status,
                    got.body.decode(errors="replace"),
                )
            except (KubeError, KubeUnreachable) as err:
                answer = HttpsAnswer(f"https://{server_name}{path} via {pods[0]}", error=str(err)[:200])
        last[:] = [answer]
        return (answer if done(answer) else None), answer.observed

    try:
        answer = wait_for(attempt, what=f"https://{server_name}{path} through Traefik", timeout_s=deadline_s)
        return answer, PORT_FORWARD
    except WaitTimeout:
        return last[0], PORT_FORWARD
