"""`python -m grader.classroom.service`: run the grading service (docs/CLASSROOM_SERVICE.md).

Settings by flag or environment variable (the Deployment sets the variables):
    --gradebook PATH|URL     SERVICELAB_GRADEBOOK             the SQLite file (on a persistent volume), or a
                                                              PostgreSQL URL postgresql://USER:PASSWORD@HOST/DB
                                                              that replicas share (the [postgres] extra); give a
                                                              URL with a password by the variable, not the flag
                             SERVICELAB_INSTANCE              this replica's name (default: the host's, a pod's)
    --instructor-token-file  SERVICELAB_INSTRUCTOR_TOKEN_FILE a file holding the instructor's token (a Secret)
                             SERVICELAB_INSTRUCTOR_TOKEN      or the token itself
                             SERVICELAB_KUBECONFIG_TEXT       a kubeconfig's text (the container beside kind)
                             SERVICELAB_VARIABLES_JSON        the variables file's text (the container beside kind)
    --workers N              SERVICELAB_WORKERS               gradings at once (default 4)
    --per-student N          SERVICELAB_PER_STUDENT           waiting gradings one student may have (default 5)
    --in-cluster             SERVICELAB_IN_CLUSTER=1          talk to the API as the pod's ServiceAccount
    --variables-file PATH    SERVICELAB_VARIABLES_FILE        each student's own values, JSON {"student": {"VAR":
                                                              "value"}} (grader.classroom.assignment); read again
                                                              when it changes. Without it: every lab's defaults
    --port, --host, --context, --kubeconfig, --probe-image
The hub's login for browsers on the class page (grader.classroom.service.huboauth), on when the first two are set:
                             SERVICELAB_HUB_API_URL           the hub's API from here: http://<node>:<nodePort>/hub/api
                             JUPYTERHUB_API_TOKEN             this service's API token in the hub (its OAuth secret)
                             SERVICELAB_HUB_PUBLIC_URL        the hub as browsers know it (default: the same origin)
                             SERVICELAB_SESSION_SECRET        signs the session cookies (default: a new one per start)
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from grader.base.errors import ServicelabError, report
from grader.catalogue.locate import all_labs
from grader.classroom.service import huboauth
from grader.classroom.service.app import GradingService
from grader.classroom.service.auth import Authenticator, instructor_token, kube_token_review
from grader.classroom.service.fairqueue import DEFAULT_PER_STUDENT, DEFAULT_WORKERS
from grader.classroom.service.gradebook import Gradebook
from grader.classroom.service.live import LiveGrader, LiveSpec
from grader.classroom.service.server import make
from grader.classroom.service.variables import BadVariables, VariablesFile
from grader.kube.api import kubeconfig_text
from grader.kube.client import Kube

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def no_variables(student: str) -> Mapping[str, str]:
    return {}


def in_cluster_kubeconfig(folder: Path, account: Path = SERVICE_ACCOUNT, env: dict[str, str] | None = None) -> Path:
    """A kubeconfig for the pod's own ServiceAccount (its mounted token and CA, the API server's in-cluster
    address), written into folder: grader.kube reads kubeconfigs only. The token is read from its file
    (tokenFile), as the kubelet keeps it there."""
    env = dict(os.environ) if env is None else env
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "443")
    if not host or not (account / "token").is_file():
        raise SystemExit("error: --in-cluster needs a pod: KUBERNETES_SERVICE_HOST and a mounted ServiceAccount token")
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    namespace = (account / "namespace").read_text(encoding="utf-8").strip() if (account / "namespace").is_file() else ""
    config = kubeconfig_text(
        "in-cluster",
        {"server": server, "certificate-authority": str(account / "ca.crt")},
        "service-account",
        {"tokenFile": str(account / "token")},
        namespace,
    )
    path = folder / "kubeconfig"
    path.write_text(config, encoding="utf-8")
    return path


def file_from_text(name: str, text: str) -> Path:
    """A setting handed over in the environment, as the file its reader reads (only this user may read it)."""
    folder = Path(tempfile.mkdtemp(prefix="servicelab-"))  # mode 0700
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def parse(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m grader.classroom.service", description=__doc__)
    p.add_argument("--gradebook", default=env("SERVICELAB_GRADEBOOK") or "gradebook.sqlite")
    p.add_argument("--instructor-token-file", type=Path, default=env("SERVICELAB_INSTRUCTOR_TOKEN_FILE"))
    p.add_argument("--workers", type=int, default=int(env("SERVICELAB_WORKERS", str(DEFAULT_WORKERS))))
    p.add_argument("--per-student", type=int, default=int(env("SERVICELAB_PER_STUDENT", str(DEFAULT_PER_STUDENT))))
    p.add_argument("--host", default="0.0.0.0")  # a pod's port, behind its Service
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--context")
    p.add_argument("--kubeconfig")
    p.add_argument("--in-cluster", action="store_true", default=env("SERVICELAB_IN_CLUSTER", "") == "1")
    p.add_argument("--probe-image")
    p.add_argument("--variables-file", type=Path, default=env("SERVICELAB_VARIABLES_FILE") or None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.workers < 1 or args.per_student < 1:
        print("error: --workers and --per-student are at least 1", file=sys.stderr)
        return 2
    if os.environ.get("SERVICELAB_KUBECONFIG_TEXT"):  # beside a kind cluster: `classroom up` hands it over
        args.kubeconfig = str(file_from_text("kubeconfig", os.environ["SERVICELAB_KUBECONFIG_TEXT"]))
    if os.environ.get("SERVICELAB_VARIABLES_JSON") and not args.variables_file:
        args.variables_file = file_from_text("variables.json", os.environ["SERVICELAB_VARIABLES_JSON"])
    try:
        variables_of = VariablesFile(args.variables_file) if args.variables_file else None
    except (OSError, BadVariables) as err:
        print(f"error: --variables-file: {err}", file=sys.stderr)
        return 2
    if variables_of is None:
        logging.warning("no variables file: every student is graded with the labs' defaults (one node port)")
    token = args.instructor_token_file.read_text(encoding="utf-8").strip() if args.instructor_token_file else ""
    token = token or os.environ.get("SERVICELAB_INSTRUCTOR_TOKEN", "").strip()
    if args.in_cluster:
        args.kubeconfig = str(in_cluster_kubeconfig(Path(tempfile.mkdtemp(prefix="servicelab-"))))
    try:
        hub = huboauth.settings_from_env(os.environ)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if hub is None:
        logging.info("no hub login (SERVICELAB_HUB_API_URL, JUPYTERHUB_API_TOKEN): the class page takes tokens only")
    if not token and hub is None:
        logging.warning("no instructor token and no hub login: /class and the exports refuse everyone")
    try:
        book = Gradebook(args.gradebook)
    except ServicelabError as err:  # a URL that is not PostgreSQL's, no driver, an unreachable server
        return report(err)
    labs = frozenset(p.name for p in all_labs())
    kube = Kube(context=args.context, kubeconfig=args.kubeconfig)
    grader = LiveGrader(LiveSpec(args.context, args.kubeconfig, args.probe_image))
    service = GradingService(
        book,
        Authenticator(kube_token_review(kube), instructor_token(token)),
        grader,
        known_lab=labs.__contains__,
        workers=args.workers,
        per_student=args.per_student,
        variables_of=variables_of or no_variables,
        browser=huboauth.HubLogin(hub) if hub is not None else None,
    )
    server = make(service, args.host, args.port)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    logging.info(
        "grading service %s on %s:%s, gradebook %s, %d workers",
        book.name,
        args.host,
        args.port,
        book.shown,
        args.workers,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        service.close()
        grader.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
