"""The `servicelab` command: one module per command group. Imports every other package; none imports it."""

from grader.cli.main import main

__all__ = ["main"]
