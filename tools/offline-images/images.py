"""Component images: one built binary on the Debian base, tagged with the upstream names."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from components import ImageSpec
from steps import docker_has_image, log, run


def _dockerfile(spec: ImageSpec, base: str) -> str:
    if spec.program == "busybox":
        # busybox-static is self-contained: a scratch image with its applet links.
        lines = [
            "FROM scratch",
            "COPY busybox /bin/busybox",
            'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
            'CMD ["sh"]',
        ]
    else:
        lines = [f"FROM {base}"] + [f"COPY {name} {dest}" for name, dest in spec.files.items()]
        if spec.entrypoint:
            lines.append(f"ENTRYPOINT {json.dumps(list(spec.entrypoint))}")
    return "\n".join(lines) + "\n"


def ensure_image(spec: ImageSpec, base: str, binaries: dict[str, Path], work: Path) -> None:
    if all(docker_has_image(tag) for tag in spec.tags):
        log(f"image {spec.tags[0]}: present")
        return
    context = work / "image-context" / spec.tags[0].replace("/", "_").replace(":", "_")
    if context.exists():
        shutil.rmtree(context)
    context.mkdir(parents=True)
    for name in spec.files:
        shutil.copy2(binaries[name], context / name)
    (context / "Dockerfile").write_text(_dockerfile(spec, base))
    argv = ["docker", "build", "-q"]
    for tag in spec.tags:
        argv += ["-t", tag]
    log(f"docker build {', '.join(spec.tags)}")
    run([*argv, str(context)], env={**os.environ, "DOCKER_BUILDKIT": "0"}, capture=True)
    shutil.rmtree(context)


def save(tags: list[str], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    run(["docker", "save", "-o", str(out), *tags])
