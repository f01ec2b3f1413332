"""Where install manifests come from: the offline build's cache, else a pinned upstream URL."""

from __future__ import annotations

from pathlib import Path

from grader.base.errors import EnvError
from grader.base.shipped import shipped
from grader.cluster import versions
from grader.cluster.tools import offline_build, user_cache

_URLS = {
    "metallb": (versions.METALLB, versions.METALLB_MANIFEST_URL),
    "gateway-api": (versions.GATEWAY_API, versions.GATEWAY_API_MANIFEST_URL),
}
MANIFEST_KEYS = tuple(_URLS)
FIXTURES = shipped("fixtures")


def cached_manifest_path(key: str) -> Path:
    version, _url = _URLS[key]
    return user_cache() / "manifests" / f"{key}-{version}.yaml"


def upstream_manifest(key: str) -> str:
    """The offline build's copy, else one cached (downloaded, or loaded from a bundle), else download."""
    import requests  # noqa: PLC0415 - ~0.03 s: only when this downloads or probes

    build = offline_build()
    if build and key in build.manifests and build.manifests[key].is_file():
        return build.manifests[key].read_text()
    version, url = _URLS[key]
    cached = cached_manifest_path(key)
    if cached.is_file():
        return cached.read_text()
    try:
        response = requests.get(url, timeout=60)
        response.raise_for_status()
    except requests.RequestException as err:
        raise EnvError(
            f"cannot download the {key} {version} manifest ({err}); without internet, run 'nox -s offline-images' first"
        ) from err
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(response.text)
    return response.text


def fixture(relative: str, **values: str) -> str:
    """A file from fixtures/ with ${NAME} placeholders filled in."""
    text = (FIXTURES / relative).read_text()
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text
