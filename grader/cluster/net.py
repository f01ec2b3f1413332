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
    static_ip: str  # inside public's span, in pool `static`: the static-ip lab asks for it
    internal_static_ip: str  # inside internal's span, in pool `internal-static`

    @property
    def public_range(self) -> str:
        return f"{self.public_first}-{self.public_last}"

    @property
    def internal_range(self) -> str:
        return f"{self.internal_first}-{self.internal_last}"

    @property
    def public_auto_ranges(self) -> list[str]:
        """Pool `public`: its span without the static IP, so no auto-assigned Service can be handed that."""
        return _without(self.public_first, self.public_last, self.static_ip)

    @property
    def internal_ranges(self) -> list[str]:
        """Pool `internal`: its span without the internal static IP."""
        return _without(self.internal_first, self.internal_last, self.internal_static_ip)


def _without(first: str, last: str, hole: str) -> list[str]:
    """The range first-last as MetalLB ranges, with the one address `hole` left out."""
    low, high, gap = (int(ipaddress.IPv4Address(a)) for a in (first, last, hole))
    parts = [(low, gap - 1), (gap + 1, high)]
    return [f"{ipaddress.IPv4Address(a)}-{ipaddress.IPv4Address(b)}" for a, b in parts if a <= b]


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
