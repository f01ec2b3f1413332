"""Finding kind and kubectl: PATH, then the offline build's cache, then (kind only) a verified download."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

from grader.base.errors import EnvError
from grader.cluster import versions


@dataclass(frozen=True)
class OfflineBuild:
    """What `nox -s offline-images` produced (read from its record in the build cache)."""

    node_image: str
    images: list[str]
    bin_dir: Path
    manifests: dict[str, Path]


def build_cache() -> Path:
    default = "/var/cache/servicelab-build" if os.geteuid() == 0 else "~/.cache/servicelab-build"
    return Path(os.environ.get("SERVICELAB_BUILD_CACHE", default)).expanduser()


def user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "servicelab"


def offline_build() -> OfflineBuild | None:
    record = build_cache() / f"offline-{versions.OFFLINE_RECIPE}.json"
    if not record.is_file():
        return None
    data = json.loads(record.read_text())
    return OfflineBuild(
        node_image=data["node_image"],
        images=list(data["images"]),
        bin_dir=Path(data["bin_dir"]),
        manifests={key: Path(value) for key, value in data["manifests"].items()},
    )


def classroom_images() -> dict[str, str]:
    """The classroom's image tags the offline build made (`build.py --classroom`): image name
    (versions.CLASSROOM_HUB_IMAGE, CLASSROOM_SINGLEUSER_IMAGE, CLASSROOM_GRADING_IMAGE) -> tag; {} when it has not
    run here."""
    record = build_cache() / f"classroom-{versions.CLASSROOM_RECIPE}.json"
    if not record.is_file():
        return {}
    return {str(name): str(tag) for name, tag in json.loads(record.read_text())["images"].items()}


def prefer_offline_bin() -> None:
    """Put the offline build's kind/kubectl first on PATH: they match the cluster's version."""
    build = offline_build()
    if build and build.bin_dir.is_dir() and str(build.bin_dir) not in os.environ.get("PATH", ""):
        os.environ["PATH"] = f"{build.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def find_kind(allow_download: bool = True) -> str:
    prefer_offline_bin()
    found = shutil.which("kind")
    if found:
        return found
    cached = user_cache() / "bin" / f"kind-{versions.KIND}"
    if cached.is_file():
        return str(cached)
    if allow_download:
        return str(_download_kind(cached))
    raise EnvError(
        f"kind not found: install kind {versions.KIND} (https://kind.sigs.k8s.io) "
        "or build it offline with 'nox -s offline-images'"
    )


def _download_kind(target: Path) -> Path:
    import requests  # noqa: PLC0415 - ~0.03 s: only when this downloads or probes

    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise EnvError(f"kind not found: install kind {versions.KIND} for your platform (https://kind.sigs.k8s.io)")
    try:
        expected = requests.get(versions.KIND_RELEASE_URL + ".sha256sum", timeout=30).text.split()[0]
        binary = requests.get(versions.KIND_RELEASE_URL, timeout=120).content
    except requests.RequestException as err:
        raise EnvError(
            f"kind not found and the download failed ({err}): install kind {versions.KIND} "
            "yourself, or build it offline with 'nox -s offline-images'"
        ) from err
    actual = hashlib.sha256(binary).hexdigest()
    if actual != expected:
        raise EnvError(f"downloaded kind has sha256 {actual}, the release says {expected}: not installed")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.rename(target)
    return target
