"""Addresses the lab carves out of the kind docker network: MetalLB pools and the static IPs."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# Offsets back from the subnet's broadcast address; on a /16 the pools are a.b.255.200-219 and
# a.b.255.220-239, far from where docker hands out container addresses (the start of the subnet).
_PUBLIC_FIRST, _INTERNAL_FIRST, _POOL_SIZE, _STATIC_OFFSET = 55, 35, 20, 10
# A classroom's own static IPs (grader.classroom): two bands of CLASS_BAND addresses, one for each student's
# STATIC_IP and one for their INTERNAL_STATIC_IP, below the lab pools and far above where docker hands out
# container addresses (the start of the subnet). On a /16: a.b.254.0-199 and a.b.253.0-199.
CLASS_BAND = 200  # as many as a class has students at most (grader.classroom.values.MAX_STUDENTS)
_CLASS_STATIC_FIRST, _CLASS_INTERNAL_FIRST = 511, 767  # offsets back from the broadcast address
CLASS_MIN_ADDRESSES = 1024  # a /22: the bands stay in the upper three quarters, clear of the containers


@dataclass(frozen=True)
class LabAddresses:
    public_first: str
    public_last: str
    internal_first: str
    internal_last: str
    static_ip: str  # inside public's span, in pool `static`: the static-ip lab asks for it
    internal_static_ip: str  # inside internal's span, in pool `internal-static`
    # a classroom's band of its students' internal static IPs (class_bands), '' on a subnet too small for one: the
    # internet container has no route to it, as to `internal`
    class_internal_first: str = ""
    class_internal_last: str = ""

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
        class_internal_first=at(_CLASS_INTERNAL_FIRST) if network.num_addresses >= CLASS_MIN_ADDRESSES else "",
        class_internal_last=(
            at(_CLASS_INTERNAL_FIRST - CLASS_BAND + 1) if network.num_addresses >= CLASS_MIN_ADDRESSES else ""
        ),
    )


@dataclass(frozen=True)
class ClassBands:
    static: tuple[str, ...]  # each student's STATIC_IP comes from here (a public address, on kind)
    internal: tuple[str, ...]  # each student's INTERNAL_STATIC_IP


def class_bands(subnet: str) -> ClassBands:
    """The classroom's two bands in the kind network's subnet; ValueError when it is too small for them."""
    network = ipaddress.ip_network(subnet, strict=False)
    if network.version != 4 or network.num_addresses < CLASS_MIN_ADDRESSES:
        raise ValueError(
            f"the kind network's IPv4 subnet {subnet} is too small for a classroom's static IPs "
            f"(need {CLASS_MIN_ADDRESSES} addresses, a /22 or larger)"
        )
    top = network.broadcast_address

    def band(back: int) -> tuple[str, ...]:
        return tuple(str(top - back + step) for step in range(CLASS_BAND))

    return ClassBands(static=band(_CLASS_STATIC_FIRST), internal=band(_CLASS_INTERNAL_FIRST))
