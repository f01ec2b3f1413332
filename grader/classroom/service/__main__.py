"""`python -m grader.classroom.service`: run the grading service (docs/CLASSROOM_SERVICE.md).

Settings by flag or environment variable (the Deployment sets the variables):
    --gradebook PATH         SERVICELAB_GRADEBOOK             the SQLite file (on a persistent volume)
    --instructor-token-file  SERVICELAB_INSTRUCTOR_TOKEN_FILE a file holding the instructor's token (a Secret)
    --workers N              SERVICELAB_WORKERS               gradings at once (default 4)
    --per-student N          SERVICELAB_PER_STUDENT           waiting gradings one student may have (default 5)
    --port, --host, --context, --kubeconfig, --probe-image
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from grader.catalogue.locate import all_labs
from grader.classroom.service.app import GradingService
from grader.classroom.service.auth import Authenticator, instructor_token, kube_token_review
from grader.classroom.service.fairqueue import DEFAULT_PER_STUDENT, DEFAULT_WORKERS
from grader.classroom.service.gradebook import Gradebook
from grader.classroom.service.live import LiveGrader, LiveSpec
from grader.classroom.service.server import make
from grader.kube.client import Kube


def parse(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m grader.classroom.service", description=__doc__)
    p.add_argument("--gradebook", type=Path, default=Path(env("SERVICELAB_GRADEBOOK", "gradebook.sqlite")))
    p.add_argument("--instructor-token-file", type=Path, default=env("SERVICELAB_INSTRUCTOR_TOKEN_FILE"))
    p.add_argument("--workers", type=int, default=int(env("SERVICELAB_WORKERS", str(DEFAULT_WORKERS))))
    p.add_argument("--per-student", type=int, default=int(env("SERVICELAB_PER_STUDENT", str(DEFAULT_PER_STUDENT))))
    p.add_argument("--host", default="0.0.0.0")  # a pod's port, behind its Service
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--context")
    p.add_argument("--kubeconfig")
    p.add_argument("--probe-image")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.workers < 1 or args.per_student < 1:
        print("error: --workers and --per-student are at least 1", file=sys.stderr)
        return 2
    token = args.instructor_token_file.read_text(encoding="utf-8").strip() if args.instructor_token_file else ""
    if not token:
        logging.warning("no instructor token: /class and the exports refuse everyone")
    labs = frozenset(p.name for p in all_labs())
    kube = Kube(context=args.context, kubeconfig=args.kubeconfig)
    grader = LiveGrader(LiveSpec(args.context, args.kubeconfig, args.probe_image))
    service = GradingService(
        Gradebook(args.gradebook),
        Authenticator(kube_token_review(kube), instructor_token(token)),
        grader,
        known_lab=labs.__contains__,
        workers=args.workers,
        per_student=args.per_student,
    )
    server = make(service, args.host, args.port)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    logging.info(
        "grading service on %s:%s, gradebook %s, %d workers", args.host, args.port, args.gradebook, args.workers
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
