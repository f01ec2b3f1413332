"""Every third-party package the code imports is declared in pyproject.toml, in the right place: grader/ needs its
imports in the core dependencies, except the notebook tools: grader.learner takes them from the `learn` extra (a
learner's install, no nbgrader), grader.classroom from `teach` (learn and nbgrader), and the gradebook's PostgreSQL
driver from `postgres`. An extra that names servicelab's own extras (`servicelab[learn]`) holds theirs too. A
package that only arrives with another one (urllib3 with kubernetes) is declared all the same: the other may drop
it in any release."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# the only ones that may need an extra; the first that matches a file counts
EXTRA_OF_PACKAGE = {
    "grader/classroom/service/database.py": "postgres",  # psycopg, for a gradebook on PostgreSQL only
    "grader/learner/": "learn",
    "grader/classroom/": "teach",
}
OTHER_FOLDERS = ("tests", "benchmarks", "tools", "notebooks")
DYNAMIC = {"import_module", "importorskip", "__import__"}  # importlib.import_module("IPython.display") counts too


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> dict[str, set[str]]:
    """Distribution name -> where pyproject.toml declares it: "core" or the extras' names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"core": project["dependencies"], **project["optional-dependencies"]}

    def names(group: str, seen: frozenset[str] = frozenset()) -> set[str]:
        found = set()
        for requirement in groups[group]:
            name = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([^]]*)\])?", requirement)
            assert name, f"pyproject.toml: cannot read the requirement {requirement!r}"
            if _normal(name.group(1)) == _normal(project["name"]):  # servicelab[learn]: that extra's packages
                for extra in (e.strip() for e in (name.group(2) or "").split(",") if e.strip()):
                    assert extra in groups, f"pyproject.toml: {group} names the unknown extra {extra}"
                    assert extra not in seen, f"pyproject.toml: extras name each other in a circle ({group})"
                    found |= names(extra, seen | {group})
            else:
                found.add(_normal(name.group(1)))
        return found

    where: dict[str, set[str]] = {}
    for group in groups:
        for name in names(group):
            where.setdefault(name, set()).add(group)
    return where


def test_a_learners_install_has_no_nbgrader_and_an_instructors_has_the_learners() -> None:
    declared = _declared()
    learn = {name for name, groups in declared.items() if "learn" in groups}
    teach = {name for name, groups in declared.items() if "teach" in groups}
    assert "nbgrader" not in learn
    assert {"jupyterlab", "ipykernel", "nbclient"} <= learn
    assert learn | {"nbgrader"} <= teach
    assert teach == {name for name, groups in declared.items() if "notebooks" in groups}  # the former name


def _source(path: Path) -> str:
    if path.suffix != ".ipynb":
        return path.read_text()
    cells = json.loads(path.read_text())["cells"]
    code = ("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    # an answer cell (%%servicelab_answer) holds YAML, and a line magic is not Python
    return "\n".join(
        line for text in code if not text.startswith("%%") for line in text.splitlines() if not line.startswith("%")
    )


def _imported(path: Path) -> Iterator[str]:
    """The top-level names of what one file imports, statically or by a literal name."""
    for node in ast.walk(ast.parse(_source(path), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if called in DYNAMIC and isinstance(node.args[0].value, str):
                yield node.args[0].value.split(".")[0]


def _ours(path: Path) -> bool:
    return "node_modules" not in path.parts  # tools/diagrams' npm packages (gitignored) ship .py files of their own


def _files(folder: str) -> list[Path]:
    return sorted(p for pattern in ("*.py", "*.ipynb") for p in (ROOT / folder).rglob(pattern) if _ours(p))


def _local_names() -> set[str]:
    """Our own modules: grader, and what the scripts and tests import from beside them (sys.path)."""
    names = {"grader", "tests"}
    for folder in OTHER_FOLDERS:
        names |= {p.stem for p in (ROOT / folder).rglob("*.py") if _ours(p)}
    return names


def _third_party(folder: str) -> dict[str, dict[str, list[str]]]:
    """Import name -> file -> distributions that provide it (none when it is not installed here)."""
    provided = packages_distributions()
    local = _local_names()
    found: dict[str, dict[str, list[str]]] = {}
    for path in _files(folder):
        for top in set(_imported(path)):
            if top in sys.stdlib_module_names or top in local or top == "__future__":
                continue
            found.setdefault(top, {})[str(path.relative_to(ROOT))] = provided.get(top, [])
    return found


def test_the_scan_sees_lazy_and_dynamic_imports() -> None:
    found = _third_party("grader")
    assert "grader/kube/exec.py" in found["websocket"]  # imported inside a function
    assert "grader/learner/display.py" in found["IPython"]  # importlib.import_module("IPython.display")


def test_grader_imports_are_declared_where_they_are_needed() -> None:
    declared = _declared()
    wrong = []
    for top, files in sorted(_third_party("grader").items()):
        for file, dists in files.items():
            groups = set().union(*(declared.get(_normal(d), set()) for d in dists)) if dists else set()
            extra = next((e for folder, e in EXTRA_OF_PACKAGE.items() if file.startswith(folder)), None)
            allowed = {"core", extra} if extra else {"core"}
            if not dists:
                wrong.append(f"{file}: {top} is not installed here, so its distribution is unknown; declare it")
            elif not groups & allowed:
                where = f"only in {sorted(groups)}" if groups else "not declared"
                wrong.append(f"{file}: {top} ({', '.join(dists)}) is {where}; add it to {' or '.join(sorted(allowed))}")
    assert wrong == [], "pyproject.toml:\n" + "\n".join(wrong)


def test_scripts_and_tests_import_only_declared_packages() -> None:
    declared = _declared()
    missing = []
    for folder in OTHER_FOLDERS:
        for top, files in sorted(_third_party(folder).items()):
            for file, dists in files.items():
                # not installed in this environment (selenium outside `nox -s tests`): its import name is its name
                if not any(_normal(d) in declared for d in dists or [top]):
                    missing.append(f"{file}: {top} ({', '.join(dists) or 'not installed'})")
    assert missing == [], "declare these in pyproject.toml (dev, learn, teach or browser):\n" + "\n".join(missing)


def test_the_learners_side_works_without_nbgrader(tmp_path: Path) -> None:
    """A learner's install (`learn`) has no nbgrader: the notebook API, the learner copies and the commands a learner
    runs import and work with nbgrader unimportable."""
    script = (
        "import sys\n"
        "sys.modules['nbgrader'] = None  # import nbgrader now raises ImportError\n"
        "import grader.learner.notebook, grader.learner.copies, grader.learner.progress\n"
        "from grader.learner.notebook import check, cluster_ready, explore, flow, hint, progress, reset\n"
        "from grader import cli\n"
        f"assert cli.main(['notebooks', {str(tmp_path / 'copies')!r}]) == 0\n"
        "assert cli.main(['progress']) == 0\n"
        "progress()\n"
        "assert not [m for m, mod in sys.modules.items() if m.startswith('nbgrader') and mod is not None]\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SERVICELAB_DATA": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list((tmp_path / "copies").glob("*/*.ipynb"))) == len(list((ROOT / "labs").glob("*/lab.yaml")))
