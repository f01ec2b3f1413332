"""Addresses the lab carves out of the kind docker network: MetalLB pools and the static IPs."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# Offsets back from the subnet's broadcast address; on a /16 the pools are a.b.255.200-219 and
# a.b.255.220-239, far from where docker hands out container addresses (the start of the subnet).
_PUBLIC_FIRST, _INTERNAL_FIRST, _POOL_SIZE, _STATIC_OFFSET = 55, 35, 20, 10


@dataclass(frozen=True)
class LabAddresses:
    public_first: str
    public_last: str
    internal_first: str
    internal_last: str
    static_ip: str  # in `public`: the static-ip lab asks for it
    internal_static_ip: str  # in `internal`

    @property
    def public_range(self) -> str:
        return f"{self.public_first}-{self.public_last}"

    @property
    def internal_range(self) -> str:
        return f"{self.internal_first}-{self.internal_last}"


def lab_addresses(subnet: str) -> LabAddresses:
    network = ipaddress.ip_network(subnet, strict=False)
    if network.version != 4 or network.num_addresses < 256:
        raise ValueError(f"the kind network's IPv4 subnet {subnet} is too small for the lab pools (need /24 or larger)")
    top = network.broadcast_address

    def at(back: int) -> str:
        return str(top - back)

    return LabAddresses(
        public_first=at(_PUBLIC_FIRST),
        public_last=at(_PUBLIC_FIRST - _POOL_SIZE + 1),
        internal_first=at(_INTERNAL_FIRST),
        internal_last=at(_INTERNAL_FIRST - _POOL_SIZE + 1),
        static_ip=at(_PUBLIC_FIRST - _STATIC_OFFSET),
        internal_static_ip=at(_INTERNAL_FIRST - _STATIC_OFFSET),
    )
