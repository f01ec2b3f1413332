"""Containers on the kind docker network: the `outside` and `internet` clients, the partner API server.

`servicelab-outside` is a vantage point outside the cluster that works on every OS (Docker
Desktop does not route the host to the kind network). `servicelab-partner` is the server the
ExternalName lab points at: its network alias api.partner.example resolves through docker's
DNS, which kind nodes forward to, so cluster DNS resolves it too. Every lab pod can reach it, so
it serves two answers and nothing else: busybox httpd with /hostname (its name, a file) and
/cgi-bin/clientip (the caller's address and port, a CGI script); no command endpoint such as
agnhost netexec's /shell, /exit or /upload. `servicelab-internet` stands
for a client on the internet: on AKS an internal load balancer has a private VNet address that
the internet has no route to; this container has blackhole routes for the `internal` pool, so
it reaches public frontends and never internal ones.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from grader.base import images
from grader.base.names import INTERNET_CONTAINER, OUTSIDE_CONTAINER, PARTNER_CONTAINER, PARTNER_HOST, PARTNER_PORT
from grader.cluster import docker
from grader.cluster.net import LabAddresses

_FOREVER = ["sleep", "2147483647"]
# Revision of each container's spec (a label on it): one made from an older spec is made again. 2: the busybox
# clients run docker's init as PID 1, which reaps what a probe script leaves (busybox `timeout` leaves one
# zombie per probe; `sleep` as PID 1 never reaps, and they held 2,701 of this host's 32,768 PIDs after 25 min).
# The partner's 2: busybox httpd in place of agnhost netexec, whose /shell ran any command a lab pod sent.
REVISION_LABEL = "dev.servicelab.revision"
# internet 3: no route to a classroom's internal static IPs either
_REVISIONS = {OUTSIDE_CONTAINER: "2", INTERNET_CONTAINER: "3", PARTNER_CONTAINER: "2"}
# The caller's "address:port" ("[address]:port" for IPv6), as agnhost's /clientip answered. busybox httpd
# listens on IPv6 and IPv4 at once and gives REMOTE_ADDR in brackets, an IPv4 caller as ::ffff:a.b.c.d.
# labs/external-traffic-local/starter/web.yaml serves the same script (a unit test holds them equal).
CLIENTIP_CGI = r"""#!/bin/sh
ip=${REMOTE_ADDR#\[}
ip=${ip%\]}
ip=${ip#::ffff:}
case $ip in *:*) ip="[$ip]" ;; esac
printf 'Content-Type: text/plain\r\n\r\n%s:%s' "$ip" "$REMOTE_PORT"
"""


def partner_script(root: str = "/srv", port: int = PARTNER_PORT) -> str:
    """The partner's start (its image is upstream busybox): its answers written under root, then httpd on
    port. The container's name is its hostname, as netexec's /hostname answered."""
    return f"""mkdir -p {root}/cgi-bin
printf %s "$(hostname)" >{root}/hostname
cat >{root}/cgi-bin/clientip <<'EOF'
{CLIENTIP_CGI}EOF
chmod 555 {root}/cgi-bin/clientip
exec httpd -f -p {port} -h {root}
"""


def _spec(name: str, addresses: LabAddresses) -> tuple[str, list[str], tuple[str, ...], list[str]]:
    """image, command, network aliases, extra docker run options."""
    if name == OUTSIDE_CONTAINER:
        return images.BUSYBOX, _FOREVER, (), ["--init"]
    if name == PARTNER_CONTAINER:
        return images.BUSYBOX, ["sh", "-c", partner_script()], (PARTNER_HOST,), ["--init"]
    spans = [(addresses.internal_first, addresses.internal_last)]
    if addresses.class_internal_first:  # a classroom's students' internal static IPs are as private
        spans.append((addresses.class_internal_first, addresses.class_internal_last))
    blocks = [
        block
        for first, last in spans
        for block in ipaddress.summarize_address_range(ipaddress.IPv4Address(first), ipaddress.IPv4Address(last))
    ]
    routes = "; ".join(f"ip route add blackhole {block}" for block in blocks)
    command = ["sh", "-c", f"{routes}; exec {' '.join(_FOREVER)}"]
    return images.BUSYBOX, command, (), ["--init", "--cap-add", "NET_ADMIN"]


def ensure(name: str, addresses: LabAddresses) -> bool:
    """Start the container unless it runs from the current spec; True if this call created it."""
    image, args, aliases, options = _spec(name, addresses)
    state = docker.container_state(name)
    if state is not None:
        if state.get("State", {}).get("Running") and current(name, state):
            return False
        docker.remove_container(name)
    if not docker.has_image(image):
        docker.pull(image)
    label = ["--label", f"{REVISION_LABEL}={_REVISIONS[name]}"]
    docker.run_container(name, image, args, aliases=aliases, options=[*label, *options])
    return True


def current(name: str, state: dict[str, Any] | None) -> bool:
    """Whether the container was made from its current spec (one made before the revision label: revision 1) and
    from the image its spec names now (busybox 1.36.1 before 1.37.0)."""
    config = (state or {}).get("Config") or {}
    made = str((config.get("Labels") or {}).get(REVISION_LABEL) or "1")
    return made == _REVISIONS[name] and config.get("Image", images.BUSYBOX) == images.BUSYBOX


def remove(name: str) -> bool:
    state = docker.container_state(name)
    if state is None or not docker.container_is_ours(state):
        return False
    docker.remove_container(name)
    return True
