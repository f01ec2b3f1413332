"""The reachability matrix: rows are vantage points, columns are targets, each cell expected vs observed.

Probes record cells as checks run; reports render the matrix as text and HTML. Every record is also kept as an
Observation of the check running then: its evidence (grader.grading.evidence judges whether it earns the points).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

API = "API"  # the vantage of an Observation that read a learner's object instead of probing


@dataclass(frozen=True)
class Observation:
    """One thing a check saw: a probe's outcome from a vantage point, or (vantage API) a field of a learner's object
    as the API returned it."""

    vantage: str
    target: str
    expected: bool | None  # True: must reach; False: must not reach; None: only observed (a field read's)
    observed: bool  # reached; for a field read: the field is set
    detail: str = ""  # what was seen: "HTTP 200", "3/3 backends", a field's value
    address: str = ""  # host:port the probe aimed at ('' when not one address)
    control: str = ""  # must-not-reach: the host:port that must answer where it must, for the silence to count
    see: str = ""  # the check that observes that control answering

    @property
    def ok(self) -> bool | None:
        return None if self.expected is None else self.expected == self.observed

    @property
    def field_read(self) -> bool:
        return self.vantage == API

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class Cell:
    vantage: str
    target: str
    expected: bool | None  # True: must reach; False: must not reach; None: only observed
    observed: bool
    detail: str = ""
    check: str = ""

    @property
    def ok(self) -> bool | None:
        return None if self.expected is None else self.expected == self.observed


@dataclass
class Matrix:
    cells: list[Cell] = field(default_factory=list)
    _labels: dict[str, str] = field(default_factory=dict)
    current_check: str = ""
    evidence: dict[str, list[Observation]] = field(default_factory=dict)  # check id -> what it observed, in order

    def name_target(self, address: str, label: str) -> None:
        """Give an address (host or host:port) a readable column name, e.g. 'web ClusterIP'."""
        self._labels.setdefault(address, label)

    def label_for(self, host: str, port: int | None = None) -> str:
        if port is not None and f"{host}:{port}" in self._labels:
            return self._labels[f"{host}:{port}"]
        if host in self._labels:
            base = self._labels[host]
            return f"{base}:{port}" if port is not None and port not in (80,) else base
        return f"{host}:{port}" if port is not None else host

    def record(
        self,
        vantage: str,
        target: str,
        *,
        expected: bool | None,
        observed: bool,
        detail: str = "",
        address: str = "",
        control: str = "",
        see: str = "",
    ) -> None:
        """A probe's outcome: a cell of the matrix, and an Observation of the running check (see Observation)."""
        self.observe(Observation(vantage, target, expected, observed, detail, address, control, see))
        # one cell per (vantage, target): the last expectation and observation win
        for cell in self.cells:
            if cell.vantage == vantage and cell.target == target:
                if expected is not None or cell.expected is None:
                    cell.expected, cell.observed, cell.detail = expected, observed, detail
                    cell.check = self.current_check or cell.check
                return
        self.cells.append(Cell(vantage, target, expected, observed, detail, self.current_check))

    def observe(self, seen: Observation) -> None:
        """Keep an observation as evidence of the check running now (outside a check there is nothing to earn)."""
        if self.current_check:
            self.evidence.setdefault(self.current_check, []).append(seen)

    @property
    def rows(self) -> list[str]:
        return list(dict.fromkeys(cell.vantage for cell in self.cells))

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(cell.target for cell in self.cells))

    def cell(self, vantage: str, target: str) -> Cell | None:
        return next((c for c in self.cells if c.vantage == vantage and c.target == target), None)

    def to_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "columns": self.columns,
            "cells": [
                {
                    "vantage": c.vantage,
                    "target": c.target,
                    "expected": c.expected,
                    "observed": c.observed,
                    "ok": c.ok,
                    "detail": c.detail,
                    "check": c.check,
                }
                for c in self.cells
            ],
        }
