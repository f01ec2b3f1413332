"""Grading speed: time to grade a lab whose objects are ready, as a ratio to one bare `exec true` in the
probe pod, both measured in this run on this cluster (target: ratio <= 10). Prints figures; asserts nothing.

    python benchmarks/bench_grade.py [--lab tests/data/labs/demo] [--context kind-servicelab] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from grader.catalogue.labs import load_lab
from grader.grading.deploy import apply_into, delete_namespace, ensure_namespace, wait_deployments
from grader.grading.environment import environment
from grader.grading.results import Verdict
from grader.grading.session import run_checks
from grader.intake.manifests import manifest_files

DEMO = Path(__file__).resolve().parent.parent / "tests" / "data" / "labs" / "demo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default=str(DEMO))
    parser.add_argument("--context", default="kind-servicelab")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    lab = load_lab(args.lab)
    with environment(args.context) as env:
        setup = time.monotonic()
        probe, _ = env.pod_vantages()
        ns = f"bench-{lab.id}-{env.run_id}"[:63]
        ensure_namespace(env.kube, ns, env.run_id, must_be_new=True, facts=env.facts, policy=lab.policy)
        try:
            files = [(f, str(f.relative_to(lab.path))) for f in manifest_files(lab.solution.path)]
            docs = apply_into(env.kube, lab, ns, env.facts, env.run_id, files=files)
            wait_deployments(env.kube, ns, [d.name for d in docs if d.kind == "Deployment"], lab.ready_timeout_s)
            warm = run_checks(lab, ns, env)  # objects ready, endpoints programmed
            print(
                f"setup (probe pods, apply, first grading): {time.monotonic() - setup:.2f}s; "
                f"warm-up verdict {warm.verdict.value} {warm.score}/{warm.max_score}"
            )
            if warm.verdict is Verdict.ENV_ERROR:
                print(f"ENV-ERROR: {warm.diagnosis}", file=sys.stderr)
                return 3
            bare = [probe.bare_exec_true() for _ in range(max(5, args.repeat))]
            grades = []
            for _ in range(args.repeat):
                start = time.monotonic()
                result = run_checks(lab, ns, env)
                grades.append(time.monotonic() - start)
            exec_s = statistics.median(bare)
            grade_s = statistics.median(grades)
            print(
                f"lab {lab.id}: {len(lab.checks)} checks, verdict {result.verdict.value} "
                f"{result.score}/{result.max_score}"
            )
            print(f"bare exec true: median {exec_s:.3f}s over {len(bare)} ({', '.join(f'{b:.3f}' for b in bare)})")
            print(f"grade:          median {grade_s:.3f}s over {len(grades)} ({', '.join(f'{g:.3f}' for g in grades)})")
            print(f"ratio grade / exec: {grade_s / exec_s:.1f} (target <= 10)")
        finally:
            delete_namespace(env.kube, ns)
    return 0


if __name__ == "__main__":
    sys.exit(main())
