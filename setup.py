"""The wheel carries the lab catalogue, the cluster fixtures and the course notebooks under grader/_shipped/,
so an installed servicelab works without a checkout (grader.catalogue.locate finds them; an editable install and a
checkout use the top-level folders). Everything else is in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("labs", "fixtures", "notebooks")
NOT_SHIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "release", "submitted", "autograded")


class BuildWithCatalogue(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "grader" / "_shipped"
        for name in SHIPPED:
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(ROOT / name, target / name, ignore=NOT_SHIPPED)


setup(cmdclass={"build_py": BuildWithCatalogue})
