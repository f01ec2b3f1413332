"""What must hold before `servicelab up` creates anything; each failure says how to fix it."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from grader.base.errors import EnvError
from grader.base.names import TRAEFIK_NODE_PORT
from grader.cluster import docker
from grader.cluster.tools import find_kind, prefer_offline_bin

LAB_NODE_PORT = 30007  # the NodePort lab's
HOST_PORTS = (LAB_NODE_PORT, TRAEFIK_NODE_PORT)  # fixtures/kind-config.yaml extraPortMappings
_INOTIFY = {"max_user_watches": 524288, "max_user_instances": 512}


@dataclass
class Preflight:
    kind_binary: str = ""
    notes: list[str] = field(default_factory=list)


def check() -> Preflight:
    result = Preflight()
    ok, detail = docker.engine_answers()
    if not ok:
        raise EnvError(f"the Docker engine does not answer ({detail}): {docker.docker_fix()}")
    prefer_offline_bin()
    result.kind_binary = find_kind()
    result.notes += _inotify()
    return result


def check_ports_free() -> None:
    """Only before creating a cluster: a running lab cluster holds these ports itself."""
    busy = [port for port in HOST_PORTS if _port_busy(port)]
    if busy:
        raise EnvError(
            f"host port(s) {busy} on 127.0.0.1 are in use; the lab cluster maps NodePort {LAB_NODE_PORT} and "
            f"Traefik's {TRAEFIK_NODE_PORT} there: stop what listens on them (e.g. 'ss -ltnp')"
        )


def _inotify() -> list[str]:
    notes = []
    for key, want in _INOTIFY.items():
        path = Path("/proc/sys/fs/inotify") / key
        if not path.exists():
            continue  # not Linux (Docker Desktop runs its own VM)
        have = int(path.read_text())
        if have >= want:
            continue
        if os.geteuid() == 0:
            path.write_text(str(want))
            notes.append(f"raised fs.inotify.{key} from {have} to {want} (kubelets on 3 nodes need it)")
        else:
            notes.append(
                f"fs.inotify.{key} is {have}; if pods fail with 'too many open files' run: "
                f"sudo sysctl fs.inotify.{key}={want}"
            )
    return notes


def _port_busy(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
