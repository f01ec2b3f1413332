"""The marks every object servicelab creates carries: it deletes only objects that carry them."""

from __future__ import annotations

import os
import socket

# Every object servicelab creates carries these labels, and it deletes only objects that do.
MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "servicelab"
RUN_ID_KEY = "servicelab.dev/run"
MANAGED_LABELS = {MANAGED_BY_KEY: MANAGED_BY_VALUE}
OWNER_KEY = "servicelab.dev/owner"  # annotation: host/pid of the process that made it (for `servicelab sweep`)


def owner_annotation() -> dict[str, str]:
    return {OWNER_KEY: f"{socket.gethostname()}/{os.getpid()}"}


def managed_labels(run_id: str | None = None) -> dict[str, str]:
    labels = dict(MANAGED_LABELS)
    if run_id:
        labels[RUN_ID_KEY] = run_id
    return labels


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
