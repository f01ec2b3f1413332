"""The `servicelab` command. Exit codes: 0 full marks, 1 not full marks, 2 bad input, 3 environment error."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from grader._kube import KubeUnreachable
from grader._run import ToolMissing
from grader.labs import all_labs, load_lab
from grader.reports import json as json_report
from grader.reports import junit, markdown
from grader.reports.terminal import print_result
from grader.results import EXIT_BAD_INPUT
from grader.scoring import exit_code
from grader.session import environment, grade
from grader.solutions import check_solutions, table
from grader.solutions import exit_code as solutions_exit_code
from grader.verdicts import BadInput, EnvError

EXIT_ENV = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="servicelab", description="Kubernetes Services labs and their grader")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command run (to stderr)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser("grade", help="grade one lab on the cluster")
    g.add_argument("lab", help="lab id (under labs/) or lab folder")
    g.add_argument("--namespace", help="namespace to grade (default lab-<id>; with --manifests a fresh one)")
    g.add_argument("--manifests", type=Path, help="folder of the learner's manifests: apply, grade, clean up")
    _cluster_args(g)
    g.add_argument("--json", type=Path, metavar="FILE", help="write the JSON report (schema servicelab.result/v1)")
    g.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    g.add_argument("--markdown", type=Path, metavar="FILE", help="write a Markdown report")
    g.set_defaults(func=_grade)

    c = sub.add_parser("check-solutions", help="every lab's solution/alternatives full marks, wrong cases as declared")
    c.add_argument("labs", nargs="*", help="lab ids (default: all labs)")
    _cluster_args(c)
    c.set_defaults(func=_check_solutions)

    _register_cluster_commands(sub)
    return parser


def _cluster_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--context", help="kubeconfig context (default: the current one)")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: kubectl's)")
    p.add_argument("--probe-image", help="image of the probe pods (default: grader.images.BUSYBOX)")


def _register_cluster_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`servicelab up/status/down/images` live in grader.cluster.cli, when that package is installed."""
    try:
        module = importlib.import_module("grader.cluster.cli")
    except ModuleNotFoundError as err:
        if err.name not in ("grader.cluster", "grader.cluster.cli"):
            raise
        return
    module.register(sub)


def _grade(args: argparse.Namespace) -> int:
    console = Console()
    lab = load_lab(args.lab)
    with environment(args.context, args.kubeconfig, probe_image=args.probe_image) as env:
        result = grade(lab, env, namespace=args.namespace, manifests=args.manifests)
    print_result(result, console)
    for path, writer in ((args.json, json_report.write), (args.junit, junit.write), (args.markdown, markdown.write)):
        if path is not None:
            writer(result, path)
    return exit_code(result)


def _check_solutions(args: argparse.Namespace) -> int:
    console = Console()
    names = args.labs or [str(p) for p in all_labs()]
    if not names:
        raise BadInput("no labs found", fix="run from the repository, or set SERVICELAB_LABS to the labs folder")
    with environment(args.context, args.kubeconfig, probe_image=args.probe_image) as env:
        rows = check_solutions(names, env, console)
    console.print(table(rows))
    return solutions_exit_code(rows)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: every finally deletes what this run created


def main(argv: Sequence[str] | None = None) -> int:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        code: int = args.func(args)
    except BadInput as err:
        print(f"error: {err.render()}", file=sys.stderr)  # unwrapped: file:line stays clickable
        return EXIT_BAD_INPUT
    except (EnvError, KubeUnreachable, ToolMissing) as err:
        print(f"ENV-ERROR: {err}", file=sys.stderr)
        return EXIT_ENV
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
