"""`servicelab classroom up|status|down`: a JupyterHub classroom on the lab cluster (grader.classroom.deploy)."""

from __future__ import annotations

import argparse
from pathlib import Path

from grader.base.errors import EXIT_ENV, EXIT_OK
from grader.base.names import KIND_CLUSTER
from grader.classroom import deploy
from grader.classroom.values import load
from grader.cluster.kindcli import CONTEXT_PREFIX
from grader.cluster.tools import prefer_offline_bin
from grader.kube.client import Kube

DEFAULT_CONTEXT = f"{CONTEXT_PREFIX}{KIND_CLUSTER}"
DEFAULT_VALUES = Path("classroom.yaml")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    room = subparsers.add_parser("classroom", help="a JupyterHub classroom on the cluster: a walled namespace each")
    steps = room.add_subparsers(dest="classroom_command", required=True, metavar="STEP")
    p_up = steps.add_parser("up", help="deploy (or update) the hub and one walled namespace per student")
    p_up.add_argument(
        "--values",
        type=Path,
        default=DEFAULT_VALUES,
        metavar="FILE",
        help=f"the class: students, instructors, labs, resources, login (default ./{DEFAULT_VALUES})",
    )
    p_up.add_argument("--retain", action="store_true", help="on failure, keep what was made (for debugging)")
    p_up.set_defaults(func=_up)
    p_status = steps.add_parser("status", help="the hub, its address, each student's namespace and server")
    p_status.set_defaults(func=_status)
    p_down = steps.add_parser("down", help="delete everything `classroom up` made, and wait until it is gone")
    p_down.set_defaults(func=_down)
    for step in (p_up, p_status, p_down):
        step.add_argument("--context", default=DEFAULT_CONTEXT, help=f"kubeconfig context (default {DEFAULT_CONTEXT})")
        step.add_argument("--kubeconfig", help="kubeconfig file (default: kubectl's)")


def _kube(args: argparse.Namespace) -> Kube:
    prefer_offline_bin()
    return Kube(context=args.context, kubeconfig=args.kubeconfig)


def _up(args: argparse.Namespace) -> int:
    values = load(args.values)  # bad input ends here, before any cluster contact
    deploy.up(_kube(args), values, str(args.values), retain=args.retain)
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    found = deploy.status(_kube(args))
    if found is None:
        print(f"no classroom on context {args.context}")
        return EXIT_ENV
    print(found.render())
    return EXIT_OK if found.hub_ready else EXIT_ENV


def _down(args: argparse.Namespace) -> int:
    deleted = deploy.down(_kube(args))
    print(f"classroom down: {len(deleted)} objects deleted, nothing left" if deleted else "no classroom: nothing to do")
    return EXIT_OK
