"""JUnit XML: one testcase per check (failure = FAIL, error = ENV-ERROR, skipped = n/a).

Messages are escaped by grader.base.text.printable: XML 1.0 cannot hold most control characters at all.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from grader.base.text import printable
from grader.grading.results import LabResult, Status


def to_xml(result: LabResult) -> str:
    suite = ET.Element(
        "testsuite",
        {
            "name": f"servicelab.{result.lab}",
            "tests": str(len(result.checks)),
            "failures": str(sum(c.status is Status.FAIL for c in result.checks)),
            "errors": str(sum(c.status is Status.ENV_ERROR for c in result.checks)),
            "skipped": str(sum(c.status is Status.NA for c in result.checks)),
            "time": f"{result.duration_s:.3f}",
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", result.verdict.value),
        ("score", str(result.score)),
        ("max_score", str(result.max_score)),
        ("namespace", result.namespace),
    ):
        ET.SubElement(props, "property", {"name": name, "value": value})
    diagnosis = printable(result.diagnosis, lines=True)
    for c in result.checks:
        case = ET.SubElement(
            suite, "testcase", {"classname": f"servicelab.{result.lab}", "name": c.id, "time": f"{c.duration_s:.3f}"}
        )
        message = printable(c.message, lines=True)
        text = message + (f"\n{printable(c.detail, lines=True)}" if c.detail else "")
        if c.status is Status.FAIL:
            ET.SubElement(case, "failure", {"message": message[:500]}).text = text
        elif c.status is Status.ENV_ERROR:
            ET.SubElement(case, "error", {"message": (message or diagnosis)[:500]}).text = text or diagnosis
        elif c.status is Status.BLOCKED:  # not observed: no points, but not a mistake of its own
            ET.SubElement(case, "skipped", {"message": message[:500], "type": "blocked"})
        elif c.status is Status.NA:
            ET.SubElement(case, "skipped", {"message": message[:500]})
    if result.env_error:
        ET.SubElement(suite, "system-err").text = printable(result.env_error, lines=True)
    return ET.tostring(suite, encoding="unicode")


def write(result: LabResult, path: Path) -> None:
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n' + to_xml(result) + "\n", encoding="utf-8")
