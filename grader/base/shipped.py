"""Where the grader finds what it ships with: the lab catalogue, the cluster fixtures, the course notebooks.

Installed from a wheel they sit inside the package (grader/_shipped/, copied there by setup.py); in a
checkout they are the repository's top-level folders.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # grader/


def shipped(name: str) -> Path:
    """labs, fixtures or notebooks: the installed copy when the package carries one, else the checkout's."""
    inside = _PACKAGE / "_shipped" / name
    return inside if inside.is_dir() else _PACKAGE.parent / name
