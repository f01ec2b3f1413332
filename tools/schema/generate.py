"""Write grader/data/fields.json: the field names and types of the objects learners may write.

Read from the official `kubernetes` Python client's models (`pip install kubernetes`), so the grader can
refuse an unknown field before any cluster contact without importing that client at run time.
Gateway API's HTTPRoute and Gateway are not in the client: their fields are in grader/data/gatewayapi.json, kept
by hand.

    python3 tools/schema/generate.py      # rewrites grader/data/fields.json
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

ROOTS = ("V1Service", "V1Ingress", "V1ConfigMap", "V1Deployment", "V1Pod")
OUT = Path(__file__).resolve().parents[2] / "grader" / "data" / "fields.json"
_MODEL = re.compile(r"^(?!List$|Dict$)[A-Z]\w*$")


def _model(cls: str) -> type:
    return getattr(importlib.import_module("kubernetes.client.models"), cls)  # type: ignore[no-any-return]


def _inner(type_name: str) -> list[str]:
    """Model class names a type string refers to: List[V1X], Dict[str, V1X], V1X."""
    return [t for t in re.findall(r"[A-Za-z0-9]+", type_name) if _MODEL.match(t)]


def collect() -> dict[str, dict[str, str]]:
    types: dict[str, dict[str, str]] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in types:
            continue
        cls = _model(name)
        fields: dict[str, str] = {}
        for attr, type_name in cls.openapi_types.items():
            json_name = cls.attribute_map[attr]
            fields[json_name] = type_name
            todo += _inner(type_name)
        types[name] = dict(sorted(fields.items()))
    return dict(sorted(types.items()))


def main() -> int:
    version = importlib.import_module("kubernetes").__version__
    data = {"source": f"kubernetes python client {version}", "roots": list(ROOTS), "types": collect()}
    OUT.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(data['types'])} types, client {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
