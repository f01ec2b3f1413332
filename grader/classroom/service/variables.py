"""Each student's own values, as the grading service reads them: a JSON file {"student": {"VAR": "value"}} that
`classroom up` writes from grader.classroom.assignment.variables_of (--variables-file, SERVICELAB_VARIABLES_FILE).

The file is read again when it changes (its modification time or size), so a student added by a later `up` is
graded with their own node port without restarting the service. A file that turns unreadable or malformed keeps
the values last read (logged): a grading never falls back to the lab's defaults because of a half-written file.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger("servicelab.service.variables")


class BadVariables(ValueError):
    """The variables file is not {"student": {"VAR": "value"}}."""


def parse_variables(text: str, shown: str) -> dict[str, dict[str, str]]:
    """The file's students and their values; BadVariables saying what is wrong where."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise BadVariables(f"{shown}: not JSON ({err})") from None
    if not isinstance(data, dict):
        raise BadVariables(f'{shown}: not a JSON object {{"student": {{"VAR": "value"}}}}')
    for student, values in data.items():
        if not isinstance(values, dict) or not all(
            isinstance(var, str) and isinstance(value, str) for var, value in values.items()
        ):
            raise BadVariables(f'{shown}: student {student!r}: not an object of strings {{"VAR": "value"}}')
    return {student: dict(values) for student, values in data.items()}


class VariablesFile:
    """Callable student -> their values ({} for a student the file does not name)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._values = self._read()  # a bad file at start is the caller's error (BadVariables, OSError)

    def _read(self) -> dict[str, dict[str, str]]:
        stat = self.path.stat()
        values = parse_variables(self.path.read_text(encoding="utf-8"), str(self.path))
        self._seen = (stat.st_mtime_ns, stat.st_size)
        return values

    def __call__(self, student: str) -> Mapping[str, str]:
        with self._lock:
            try:
                stat = self.path.stat()
                if (stat.st_mtime_ns, stat.st_size) != self._seen:
                    self._values = self._read()
            except (OSError, BadVariables) as err:
                log.warning("keeping the variables last read: %s", err)
            return dict(self._values.get(student, {}))
