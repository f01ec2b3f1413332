"""Containers on the kind docker network: the `outside` client and the partner API server.

`servicelab-outside` is a vantage point outside the cluster that works on every OS (Docker
Desktop does not route the host to the kind network). `servicelab-partner` is the server the
ExternalName lab points at: its network alias api.partner.example resolves through docker's
DNS, which kind nodes forward to, so cluster DNS resolves it too.
"""

from __future__ import annotations

from grader import images
from grader.cluster import docker

OUTSIDE = "servicelab-outside"
PARTNER = "servicelab-partner"
PARTNER_HOST = "api.partner.example"

_SPECS = {
    OUTSIDE: (images.BUSYBOX, ["sleep", "2147483647"], ()),
    PARTNER: (images.AGNHOST, ["netexec", "--http-port=80"], (PARTNER_HOST,)),
}


def ensure(name: str) -> bool:
    """Start the container unless it runs; True if this call created it."""
    image, args, aliases = _SPECS[name]
    state = docker.container_state(name)
    if state is not None:
        if state.get("State", {}).get("Running"):
            return False
        docker.remove_container(name)
    if not docker.has_image(image):
        docker.pull(image)
    docker.run_container(name, image, args, aliases=aliases)
    return True


def remove(name: str) -> bool:
    state = docker.container_state(name)
    if state is None or not docker.container_is_ours(state):
        return False
    docker.remove_container(name)
    return True
