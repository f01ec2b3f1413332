"""kind, driven through its CLI."""

from __future__ import annotations

from dataclasses import dataclass

from grader.base.run import run

CONTEXT_PREFIX = "kind-"  # kind names a cluster's kubeconfig context kind-<name>


@dataclass(frozen=True)
class Kind:
    binary: str
    name: str

    @property
    def context(self) -> str:
        return f"{CONTEXT_PREFIX}{self.name}"

    def exists(self) -> bool:
        out = run([self.binary, "get", "clusters"], timeout=60).stdout
        return self.name in out.split()

    def create(self, image: str, config_yaml: str) -> None:
        # kind waits for nothing without --wait; `up` polls node readiness itself, with a deadline.
        run(
            [self.binary, "create", "cluster", "--name", self.name, "--image", image, "--config", "-"],
            input_text=config_yaml,
            timeout=900,
        )

    def delete(self) -> None:
        run([self.binary, "delete", "cluster", "--name", self.name], timeout=300)

    def node_containers(self) -> list[str]:
        return run([self.binary, "get", "nodes", "--name", self.name], timeout=60).stdout.split()

    def load_image(self, image: str) -> None:
        run([self.binary, "load", "docker-image", image, "--name", self.name], timeout=900)
