"""Group work items into chains: items whose claims overlap (directly or through others) share a chain.

A chain runs in order on one worker; different chains hold nothing in common and may run at the same time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

from grader.parallel.claims import overlaps

T = TypeVar("T")


def build_chains(items: Sequence[T], claims_of: Callable[[T], frozenset[str]]) -> list[list[T]]:
    """Chains in the order of their first item; inside a chain, items keep their order."""
    claims = [claims_of(item) for item in items]
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees flat
            i = parent[i]
        return i

    owners: dict[str, list[int]] = {}
    for i, held in enumerate(claims):
        for claim in held:
            owners.setdefault(claim, []).append(i)
    distinct = sorted(owners)
    for a_pos, a in enumerate(distinct):  # overlap is not only equality (wildcards): compare distinct claims
        for b in distinct[a_pos:]:
            if overlaps(a, b):
                for i in (*owners[a], *owners[b]):
                    parent[root(i)] = root(owners[a][0])
    groups: dict[Hashable, list[T]] = {}
    for i, item in enumerate(items):
        groups.setdefault(root(i), []).append(item)
    return list(groups.values())
