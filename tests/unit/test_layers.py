"""Every module of grader/ sits in a layer of the import-linter contract (pyproject.toml); `lint-imports`
(nox -s lint) checks that lower layers never import upper ones."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WHOLE_PACKAGE = {"test_layers.py", "test_declared_dependencies.py"}  # about grader/ as a whole


def _layered() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return {name.strip().strip("()") for layer in contract["layers"] for name in layer.split("|")}


def _modules() -> list[str]:
    found = []
    for path in sorted((ROOT / "grader").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if name != "grader":
            found.append(name)
    return found


def test_every_module_is_in_a_layer() -> None:
    layered = _layered()
    unmapped = [m for m in _modules() if not any(m == n or m.startswith(n + ".") for n in layered)]
    assert unmapped == [], f"add these to [tool.importlinter] layers in pyproject.toml: {unmapped}"


def _contract_rows() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def test_every_module_is_in_a_package_named_for_its_role() -> None:
    loose = [m for m in _modules() if m.count(".") == 1 and not (ROOT / m.replace(".", "/")).is_dir()]
    assert loose == [], f"move these into a package of grader/: {loose}"


def test_architecture_names_the_packages_in_the_contracts_order() -> None:
    tour = (ROOT / "docs/ARCHITECTURE.md").read_text()
    table = tour[tour.index("## The packages") :].split("\n## ")[0]
    rows = [re.findall(r"`(grader\.\w+)`", line.split("|")[1]) for line in table.splitlines() if line.startswith("| `")]
    assert rows == _contract_rows()


def test_the_unit_tests_mirror_the_packages() -> None:
    packages = {p.name for p in (ROOT / "grader").iterdir() if (p / "__init__.py").is_file()}
    folders = {p.name for p in (ROOT / "tests/unit").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert folders - packages <= {"tools"}, f"tests/unit/<package>/ names a package of grader/: {folders - packages}"
    loose = sorted(p.name for p in (ROOT / "tests/unit").glob("test_*.py") if p.name not in WHOLE_PACKAGE)
    assert loose == [], f"move these into tests/unit/<package>/: {loose}"
