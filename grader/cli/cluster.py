"""The cluster subcommands of `servicelab`: up, status, down, images."""

from __future__ import annotations

import argparse
import functools
import tarfile
from collections.abc import Callable
from pathlib import Path

from grader.base.errors import EXIT_ENV, EXIT_OK, BadInput
from grader.base.names import HELPER_CONTAINERS, KIND_CLUSTER
from grader.cluster import bundle, doctor, vantage
from grader.cluster.kindcli import Kind
from grader.cluster.status import collect, render
from grader.cluster.tools import find_kind, prefer_offline_bin
from grader.cluster.up import UpOptions, up


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    # Every servicelab command should drive the cluster with the kubectl built for it, when there is one.
    prefer_offline_bin()
    p_up = subparsers.add_parser("up", help="create (or check) the local lab cluster: kind + MetalLB + Traefik")
    p_up.add_argument("--name", default=KIND_CLUSTER, help=f"kind cluster name (default: {KIND_CLUSTER})")
    p_up.add_argument("--node-image", help="kind node image (default: the offline build's, else kindest/node)")
    p_up.add_argument("--retain", action="store_true", help="on failure, keep what was made (for debugging)")
    p_up.set_defaults(func=_up)

    p_status = subparsers.add_parser("status", help="nodes, pools and used IPs, controllers, images")
    p_status.add_argument("--name", default=KIND_CLUSTER)
    p_status.set_defaults(func=_status)

    p_down = subparsers.add_parser("down", help="delete the lab cluster and the outside containers, nothing else")
    p_down.add_argument("--name", default=KIND_CLUSTER)
    p_down.set_defaults(func=_down)

    p_doctor = subparsers.add_parser("doctor", help="check every part the labs need; each problem with its fix")
    p_doctor.add_argument("--name", default=KIND_CLUSTER)
    p_doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    p_doctor.set_defaults(func=_doctor)

    p_images = subparsers.add_parser("images", help="save/load every image the labs need as one tar")
    actions = p_images.add_subparsers(dest="images_action", required=True)
    p_save = actions.add_parser("save", help="write the images to FILE")
    p_save.add_argument("file", type=Path)
    p_save.set_defaults(func=_images_save)
    p_load = actions.add_parser("load", help="load the images from FILE into docker")
    p_load.add_argument("file", type=Path)
    p_load.set_defaults(func=_images_load)


Handler = Callable[[argparse.Namespace], int]


def _guarded(handler: Handler) -> Handler:
    """The cluster commands use the offline build's kind and kubectl when there is one; errors end in cli.main."""

    @functools.wraps(handler)
    def run_guarded(args: argparse.Namespace) -> int:
        prefer_offline_bin()
        return handler(args)

    return run_guarded


@_guarded
def _up(args: argparse.Namespace) -> int:
    up(UpOptions(name=args.name, node_image=args.node_image, retain=args.retain))
    return EXIT_OK


@_guarded
def _status(args: argparse.Namespace) -> int:
    status = collect(Kind(find_kind(), args.name))
    print(render(status))
    return EXIT_OK if status.healthy else EXIT_ENV


@_guarded
def _doctor(args: argparse.Namespace) -> int:
    findings = doctor.examine(args.name)
    print(doctor.as_json(findings) if args.json else doctor.render(findings))
    return EXIT_OK if all(f.ok is not False for f in findings) else EXIT_ENV


@_guarded
def _down(args: argparse.Namespace) -> int:
    kind = Kind(find_kind(allow_download=False), args.name)
    if kind.exists():
        kind.delete()
        print(f"deleted kind cluster '{args.name}'")
    else:
        print(f"no kind cluster '{args.name}'")
    for name in HELPER_CONTAINERS:
        if vantage.remove(name):
            print(f"removed container {name}")
    return EXIT_OK


@_guarded
def _images_save(args: argparse.Namespace) -> int:
    refs = bundle.save(args.file)
    print(f"wrote {args.file} with {len(refs)} images: {', '.join(refs)}")
    return EXIT_OK


@_guarded
def _images_load(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise BadInput("no such file", file=str(args.file), fix="make one with 'servicelab images save FILE'")
    try:
        print(bundle.load(args.file))
    except (ValueError, tarfile.TarError) as err:
        raise BadInput(str(err), file=str(args.file)) from err
    return EXIT_OK
