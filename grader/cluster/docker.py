"""Docker, as the lab cluster needs it: the kind network, our helper containers, images."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from grader.base.run import QUERY_TIMEOUT_S, RunError, ToolMissing, run
from grader.cluster.kindcli import CONTEXT_PREFIX
from grader.kube.client import MANAGED_BY_KEY, MANAGED_BY_VALUE

KIND_NETWORK = "kind"
INSPECT_S = 30.0
_DOCKER_FIX = (
    "start Docker (Docker Desktop, or 'sudo systemctl start docker'); on CI machines: tools/docker-engine/ensure-docker"
)


def engine_answers() -> tuple[bool, str]:
    try:
        result = run(["docker", "version", "--format", "{{.Server.Version}}"], timeout=QUERY_TIMEOUT_S, check=False)
    except ToolMissing:
        return False, "the docker command is not installed"
    except RunError:
        return False, f"docker did not answer within {QUERY_TIMEOUT_S:.0f}s"
    if result.code != 0:
        return False, (result.stderr.strip().splitlines() or ["no answer"])[-1]
    return True, result.stdout.strip()


def docker_fix() -> str:
    return _DOCKER_FIX


def inspect_all(names: Sequence[str], kind: str = "", *, timeout_s: float = INSPECT_S) -> list[dict[str, Any]] | None:
    """What `docker [KIND] inspect NAMES...` tells of each, in one call; None when docker knows one of them not.

    Raises ToolMissing, RunError (no answer in time) and ValueError (no JSON).
    """
    result = run(["docker", *([kind] if kind else []), "inspect", *names], timeout=timeout_s, check=False)
    if result.code != 0:
        return None
    data = json.loads(result.stdout)
    return data if isinstance(data, list) else None


def inspect(kind: str, name: str, *, timeout_s: float = INSPECT_S) -> dict[str, Any] | None:
    found = inspect_all([name], kind, timeout_s=timeout_s)
    return found[0] if found else None


def kind_ipv4_subnet(*, timeout_s: float = INSPECT_S) -> str | None:
    network = inspect("network", KIND_NETWORK, timeout_s=timeout_s)
    if network is None:
        return None
    for config in network.get("IPAM", {}).get("Config") or []:
        subnet = str(config.get("Subnet", ""))
        if subnet and ":" not in subnet:
            return subnet
    return None


def kind_network_addresses(*, timeout_s: float = INSPECT_S) -> set[str]:
    """The addresses of every container on the kind network (nodes, outside containers, anyone's): what no
    classroom may hand a student. Empty without the network."""
    network = inspect("network", KIND_NETWORK, timeout_s=timeout_s) or {}
    found = set()
    for container in (network.get("Containers") or {}).values():
        for key in ("IPv4Address", "IPv6Address"):
            if address := str((container or {}).get(key) or "").partition("/")[0]:
                found.add(address)
    return found


def container_state(name: str) -> dict[str, Any] | None:
    return inspect("container", name)


def container_name(container: dict[str, Any]) -> str:
    return str(container.get("Name", "")).lstrip("/")


def container_is_ours(container: dict[str, Any]) -> bool:
    labels = container.get("Config", {}).get("Labels") or {}
    return bool(labels.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE)


def container_ip(container: dict[str, Any], network: str = KIND_NETWORK) -> str | None:
    settings = container.get("NetworkSettings", {}).get("Networks", {}).get(network) or {}
    ip = settings.get("IPAddress")
    return str(ip) if ip else None


def parse_docker_time(stamp: str) -> datetime:
    """Docker's RFC 3339 times (nanoseconds, 'Z'); Python 3.11 reads them, keeping microseconds."""
    return datetime.fromisoformat(stamp)


def has_image(ref: str) -> bool:
    return inspect("image", ref) is not None


def pull(ref: str) -> None:
    run(["docker", "pull", ref], timeout=600)


def run_container(
    name: str,
    image: str,
    args: list[str],
    *,
    aliases: tuple[str, ...] = (),
    options: list[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    argv = [
        "docker",
        "run",
        "-d",
        "--name",
        name,
        "--network",
        KIND_NETWORK,
        "--restart",
        "unless-stopped",
        "--label",
        f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}",
        *(options or []),
    ]
    for alias in aliases:
        argv += ["--network-alias", alias]
    run([*argv, image, *args], timeout=120, env=env)


def remove_container(name: str) -> None:
    run(["docker", "rm", "-f", name], timeout=60, check=False)


def why_kind_unreachable(context: str | None) -> str | None:
    """Why a kind context's API server does not answer, when Docker can tell: engine down, cluster gone, stopped.

    None for other contexts, or when the control-plane container runs (then the cause is elsewhere).
    """
    if not context or not context.startswith(CONTEXT_PREFIX):
        return None
    cluster = context.removeprefix(CONTEXT_PREFIX)
    answers, detail = engine_answers()
    if not answers:
        return f"the Docker engine that runs kind does not answer ({detail}): {_DOCKER_FIX}, then 'servicelab up'"
    try:
        node = container_state(f"{cluster}-control-plane")
    except RunError as err:
        return f"docker could not inspect the cluster's containers: {err}"
    if node is None:
        return f"the kind cluster '{cluster}' is gone (no {cluster}-control-plane container): run 'servicelab up'"
    state = node.get("State", {})
    if not state.get("Running"):
        return (
            f"the kind cluster's {cluster}-control-plane container is {state.get('Status', 'stopped')}: "
            "run 'servicelab up'"
        )
    return None
