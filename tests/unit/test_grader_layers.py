"""Lower layers never import upper ones (docs/ARCHITECTURE.md), checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GRADER = Path(__file__).resolve().parents[2] / "grader"

# module -> its layer; a module may import only from its own layer or lower ones (higher number = lower layer)
LAYERS = {
    "grader.cli": 0, "grader.notebook": 0,
    "grader.solutions": 1, "grader.session": 1, "grader.deploy": 1, "grader.plugin": 1, "grader.scoring": 1,
    "grader.reports": 1, "grader.labs": 1, "grader.checks": 1, "grader.results": 1,
    "grader.claims": 1, "grader.chains": 1, "grader.workers": 3,
    "grader.diagnose": 2, "grader.services": 2, "grader.manifests": 2, "grader.facts": 2, "grader.probes": 2,
    "grader.verdicts": 3, "grader.images": 3, "grader._kube": 3, "grader._run": 3,
}


def layer_of(module: str) -> int | None:
    for prefix, layer in sorted(LAYERS.items(), key=lambda kv: -len(kv[0])):
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(GRADER.rglob("*.py")):
        rel = path.relative_to(GRADER.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        if layer_of(name) is not None:
            found.append((name, path))
    return found


@pytest.mark.parametrize(("name", "path"), modules(), ids=[m for m, _ in modules()])
def test_no_upward_import(name: str, path: Path) -> None:
    own = layer_of(name)
    assert own is not None
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        targets = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        for target in targets:
            layer = layer_of(target)
            assert layer is None or layer >= own, f"{name} (layer {own}) imports {target} (layer {layer})"
