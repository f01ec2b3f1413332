"""Vantage points in docker containers on the kind network: `docker exec` into busybox.

`servicelab-outside` is a client inside the "VNet"; `servicelab-internet` stands for the internet (it has no
route to the `internal` MetalLB pool, as the internet has none to an Azure internal load balancer).

Portable (also on Docker Desktop, where the host cannot route to the kind network). When docker or the
container is absent the vantage point is not available (n/a), never a failure.
"""

from __future__ import annotations

import json
from typing import Any

from grader.base.errors import EnvError
from grader.base.names import OUTSIDE_CONTAINER
from grader.base.run import QUERY_TIMEOUT_S, RunError, ToolMissing, run
from grader.probes.base import ProbePolicy, Vantage
from grader.probes.shell import Op, Outcome, build_script, new_nonce, parse_output
from grader.probes.warm import ShellPool


class OutsideVantage(Vantage):
    def __init__(
        self,
        container: str = OUTSIDE_CONTAINER,
        policy: ProbePolicy | None = None,
        partner_ip: str | None = None,
        name: str = "outside container",
        source_ip: str | None = None,
        *,
        shells: ShellPool | None = None,
        known_reason: str | None = None,
    ) -> None:
        super().__init__(name, policy, partner_ip)
        self.container = container
        self.shells = shells  # warm shells into the container; without, a docker exec per batch
        if known_reason is not None:  # its state, read with the cluster facts: no docker inspect of its own
            self.preset_reason(known_reason)
        self.recorder.source = source_ip  # its packets reach the nodes unchanged (same docker network)

    def _find_unavailable_reason(self) -> str:
        return _container_state(self.container)

    def _run_ops(self, ops: list[Op], per_try_s: float, timeout_s: float) -> list[Outcome]:
        nonce = new_nonce()
        text, failed = self._run_script(build_script(ops, per_try_s, nonce), f"@@{nonce}:end", timeout_s)
        outcomes = parse_output(text, len(ops), nonce)
        if outcomes is None or any(o.rc == -1 for o in outcomes):
            raise EnvError(f"{self.name}: {failed}")
        return outcomes

    def _run_script(self, script: str, end_marker: str, timeout_s: float) -> tuple[str, str]:
        """What the script printed, and what to say if that is not a whole answer: in a warm shell when there
        are some, else in a docker exec of its own."""
        try:
            if self.shells is not None:
                text = self.shells.run(script, end_marker, timeout_s)
                return text, f"a probe script in {self.container} did not finish: {text.strip()[-300:]}"
            result = run(["docker", "exec", self.container, "sh", "-c", script], timeout=timeout_s, check=False)
        except (EnvError, RunError, ToolMissing) as err:
            raise EnvError(f"{self.name}: {err}") from err
        said = (result.stderr or result.stdout).strip()[-300:]
        return result.stdout, f"docker exec into {self.container} failed (exit {result.code}): {said}"


def _container_state(name: str) -> str:
    try:
        result = run(["docker", "inspect", name], timeout=QUERY_TIMEOUT_S, check=False)
    except ToolMissing:
        return "docker is not installed here"
    except RunError:
        return "docker did not answer"
    if result.code != 0:
        return f"no docker container '{name}' (run 'servicelab up')"
    try:
        return container_reason(json.loads(result.stdout)[0])
    except (ValueError, IndexError, AttributeError):
        return f"cannot read the state of container '{name}'"


def container_reason(inspected: dict[str, Any]) -> str:
    """Why a container `docker inspect` described cannot be a vantage point ('' when it can)."""
    name = str(inspected.get("Name", "")).lstrip("/")
    return "" if (inspected.get("State") or {}).get("Running") else f"container '{name}' is not running"
