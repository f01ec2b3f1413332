"""Component images: one built binary on the Debian base, tagged with the upstream names.

The tags are the names the cluster's manifests use, so they cannot carry a version of their own:
each image carries its content key (keys.image_key) as a label instead, and an image whose label
differs from the key of today's inputs is rebuilt under the same tags.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from components import ImageSpec
from steps import artefact, docker_label, log, run

KEY_LABEL = "dev.servicelab.build-key"
# Bump when the Dockerfile below changes; part of every image key.
RECIPE = "i1"


def _dockerfile(spec: ImageSpec, base: str, key: str) -> str:
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
    lines.append(f"LABEL {KEY_LABEL}={key}")
    return "\n".join(lines) + "\n"


def is_current(spec: ImageSpec, key: str) -> bool:
    """Every tag present and built from today's inputs."""
    return all(docker_label(tag, KEY_LABEL) == key for tag in spec.tags)


def ensure_image(spec: ImageSpec, base: str, binaries: dict[str, Path], work: Path, key: str) -> None:
    if is_current(spec, key):
        log(f"image {spec.tags[0]}: present (key {key})")
        artefact(reused=True)
        return
    artefact(reused=False)
    context = work / "image-context" / spec.tags[0].replace("/", "_").replace(":", "_")
    if context.exists():
        shutil.rmtree(context)
    context.mkdir(parents=True)
    for name in spec.files:
        shutil.copy2(binaries[name], context / name)
    (context / "Dockerfile").write_text(_dockerfile(spec, base, key))
    argv = ["docker", "build", "-q"]
    for tag in spec.tags:
        argv += ["-t", tag]
    log(f"docker build {', '.join(spec.tags)} (key {key})")
    run([*argv, str(context)], env={**os.environ, "DOCKER_BUILDKIT": "0"}, capture=True)
    shutil.rmtree(context)


def save(tags: list[str], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    run(["docker", "save", "-o", str(out), *tags])
