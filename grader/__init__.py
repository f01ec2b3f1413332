"""servicelab: hands-on labs and a behaviour-probing grader for Kubernetes Services.

Notebook API: `from grader import check, apply`. Imported lazily, so `import grader.kube.client` stays light.
(No submodule may be called `check` or `apply`: it would shadow these names once imported.)
"""

from __future__ import annotations

from typing import Any

__all__ = ["apply", "check"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from grader.learner import notebook  # noqa: PLC0415 - lazy: keeps the lower layers importable alone

        return getattr(notebook, name)
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
