"""The `servicelab` command. Exit codes: 0 full marks, 1 not full marks, 2 bad input, 3 environment error."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from grader.base import errors, interrupt
from grader.base.errors import BadInput, EnvError
from grader.catalogue.labs import load_lab
from grader.catalogue.locate import all_labs, labs_root
from grader.catalogue.skeleton import new_lab
from grader.classroom import course
from grader.classroom import gradebatch as batchcmd
from grader.cluster.facts import discover
from grader.corpus.solutions import DEFAULT_JOBS, ClusterGrading, check_solutions, table
from grader.corpus.solutions import exit_code as solutions_exit_code
from grader.grading.environment import environment
from grader.grading.scoring import exit_code
from grader.grading.session import grade
from grader.grading.submission import judge_submission, learner_files
from grader.grading.sweep import sweep
from grader.kube.client import Kube, KubeError, KubeUnreachable
from grader.learner import copies as learner
from grader.learner import progress as coach
from grader.reports import json as json_report
from grader.reports import junit, markdown
from grader.reports.terminal import print_result

DEFAULT_SWEEP_AGE_S = 30 * 60.0


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
    c.add_argument(
        "--jobs",
        type=_positive_int,
        default=DEFAULT_JOBS,
        metavar="N",
        help=f"grade up to N cases at once, in worker processes (default {DEFAULT_JOBS})",
    )
    _cluster_args(c)
    c.set_defaults(func=_check_solutions)

    n = sub.add_parser("notebooks", help="write the learners' copies of the notebooks (no answers) to DIR")
    n.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=Path("servicelab-notebooks"),
        help="where to write them (default ./servicelab-notebooks); a copy already answered is kept",
    )
    n.set_defaults(func=_notebooks)

    nl = sub.add_parser(
        "new-lab", help="write a new lab folder that passes check-solutions as written, to make your own"
    )
    nl.add_argument("id", help="the new lab's id and folder name: lowercase letters, digits, '-'")
    nl.add_argument(
        "--labs",
        dest="labs_dir",
        type=Path,
        metavar="DIR",
        help="the catalogue to write it into (default: $SERVICELAB_LABS, else the one installed with servicelab)",
    )
    nl.set_defaults(func=_new_lab)

    p = sub.add_parser("progress", help="which labs you have passed (from your notebooks' check() runs)")
    p.set_defaults(func=_progress)

    s = sub.add_parser("sweep", help="delete the grading namespaces of runs that died (never the cluster)")
    s.add_argument(
        "--older-than",
        type=_duration,
        default=DEFAULT_SWEEP_AGE_S,
        metavar="AGE",
        help="also namespaces older than AGE whose process is not on this host (default 30m)",
    )
    s.add_argument("--context", help="kubeconfig context (default: the current one)")
    s.add_argument("--kubeconfig", help="kubeconfig file (default: kubectl's)")
    s.set_defaults(func=_sweep)

    _register_cluster_commands(sub)
    batchcmd.register(sub, _cluster_args)  # grade-batch
    course.register(sub, _cluster_args)  # course autograde
    return parser


def _cluster_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--context", help="kubeconfig context (default: the current one)")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: kubectl's)")
    p.add_argument("--probe-image", help="image of the probe pods (default: grader.base.images.BUSYBOX)")
    p.add_argument(
        "--labs",
        dest="labs_dir",
        type=Path,
        metavar="DIR",
        help="the lab catalogue (default: $SERVICELAB_LABS, else the one installed with servicelab)",
    )


def _register_cluster_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`servicelab up/status/down/images` (grader.cli.cluster) and `servicelab classroom` (grader.cli.classroom)
    exist when grader.cluster is installed."""
    try:
        module = importlib.import_module("grader.cli.cluster")
    except ModuleNotFoundError as err:
        if err.name not in ("grader.cluster", "grader.cli.cluster"):
            raise
        return
    module.register(sub)
    importlib.import_module("grader.cli.classroom").register(sub)  # classroom up/status/down: needs grader.cluster


def _grade(args: argparse.Namespace) -> int:
    console = Console()
    lab = load_lab(args.lab)
    console.print(f"lab {lab.id} from {lab.path}", style="dim", highlight=False)
    if args.manifests is not None:
        judge_submission(lab, learner_files(args.manifests))  # refusals come before any cluster contact
    with environment(args.context, args.kubeconfig, probe_image=args.probe_image) as env:
        if args.manifests is not None:
            _sweep_quietly(env.kube)
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
        raise BadInput(f"no labs in the catalogue {labs_root()}", fix="--labs DIR or SERVICELAB_LABS picks a catalogue")
    console.print(f"labs from the catalogue {labs_root()}", style="dim", highlight=False)
    try:
        facts = discover(Kube(context=args.context, kubeconfig=args.kubeconfig))
    except EnvError:
        facts = None  # claims then use the placeholders' text; each case reports the environment problem
    _sweep_quietly(Kube(context=args.context, kubeconfig=args.kubeconfig))
    grading = ClusterGrading(args.context, args.kubeconfig, args.probe_image)
    rows = check_solutions(names, grading, console, jobs=args.jobs, facts=facts)
    console.print(table(rows))
    return solutions_exit_code(rows)


def _notebooks(args: argparse.Namespace) -> int:
    written = learner.write_copies(args.dir)
    print(f"wrote {len(written)} learner notebook(s) to {args.dir}; open them with: jupyter lab {args.dir}")
    return 0


def _new_lab(args: argparse.Namespace) -> int:
    root = labs_root()
    if root is None:
        raise BadInput("no lab catalogue to write into", fix="--labs DIR or SERVICELAB_LABS picks a catalogue")
    folder = new_lab(args.id, root)
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    labs = f" --labs {args.labs_dir}" if args.labs_dir is not None else ""
    print(f"wrote lab {args.id} in {folder}: {', '.join(written)}")
    print(
        f"it passes as written: make it your lab (docs/WRITING_CHECKS.md), run `servicelab check-solutions {args.id}"
        f"{labs}` on the lab cluster, and `python notebooks/build_notebooks.py` writes its notebook"
    )
    return 0


def _progress(args: argparse.Namespace) -> int:
    rows = coach.progress_rows()
    width = max(len(lab) for lab, _, _ in rows)
    for lab, title, state in rows:
        print(f"{lab:<{width}}  {state:<40}  {title}")
    passed = sum(state.startswith("PASSED") for _, _, state in rows)
    print(f"{passed}/{len(rows)} labs passed (kept in {coach.data_dir() / 'progress.json'})")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    swept = sweep(Kube(context=args.context, kubeconfig=args.kubeconfig), args.older_than)
    for item in swept:
        print(f"deleted namespace {item.namespace}: {item.why}")
    print(f"swept {len(swept)} namespace(s) of dead runs")
    return 0


def _sweep_quietly(kube: Kube) -> None:
    """Before a run: clear dead runs' namespaces (their ports and addresses); a failure here is not the run's."""
    with contextlib.suppress(KubeError, KubeUnreachable, EnvError):
        sweep(kube, DEFAULT_SWEEP_AGE_S)


def _duration(text: str) -> float:
    match = re.fullmatch(r"(\d+)([smh]?)", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 90s or 2h")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _use_catalogue(args: argparse.Namespace) -> None:
    """--labs DIR: the lab catalogue for this run (and the worker processes it starts)."""
    if getattr(args, "labs_dir", None) is not None:
        if not (args.labs_dir.is_dir()):
            raise BadInput(f"{args.labs_dir} is not a folder", rule="--labs is a folder of lab folders")
        os.environ["SERVICELAB_LABS"] = str(args.labs_dir.resolve())


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    interrupt.install()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    try:
        _use_catalogue(args)
        code: int = args.func(args)
    except (errors.ServicelabError, KeyboardInterrupt) as err:  # one mapping to words and exit codes
        return errors.report(err)
    return code
