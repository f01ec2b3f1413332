"""The classroom's three images (issue 24), an opt-in target: `build.py --classroom`.

- servicelab.local/classroom-hub: JupyterHub with KubeSpawner in a venv, and configurable-http-proxy from npm
  on Debian's Node.js; runs as uid 1000.
- servicelab.local/classroom-singleuser: a student's server: JupyterLab, jupyterhub-singleuser and servicelab
  itself (a wheel of this checkout, with its `learn` extra); runs as jovyan, uid 1000, home /home/jovyan.
- servicelab.local/classroom-grading: the grading service (`python -m grader.classroom.service`): servicelab
  without Jupyter, with its `postgres` extra (psycopg: a gradebook on PostgreSQL), and Debian's docker client,
  for the outside vantage points' `docker exec`; runs as grading, uid 1000, in /data (the gradebook). It is
  started with the host's docker socket mounted and `--group-add <the socket's gid>` (known only on the host that
  runs it):
      docker run -v /var/run/docker.sock:/var/run/docker.sock --group-add "$(stat -c %g /var/run/docker.sock)" ...

Each is made in three cached steps: a Debian rootfs (debootstrap, like the lab images' base; images of the same
suite and packages share one, as the single-user and grading images do); its install folder (the venv at
/opt/venv, the proxy's node_modules, the docker client), filled by pip, npm and apt from the registries inside a
container of that rootfs with the folder mounted at its final path and the host's CA bundle mounted read-only (so
no certificate of this machine lands in an image); then `docker build`, which only copies that folder and adds
the user, offline. The tag carries the image key (keys.classroom_keys): a changed input gives a new tag.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import ssl
from dataclasses import dataclass, replace
from pathlib import Path

from components import versions
from steps import StepFailed, artefact, docker_has_image, log, run

# Bump when the install script or the Dockerfile below change their shape; part of every classroom key.
RECIPE = "c1"
VENV = "/opt/venv"
PROXY_PREFIX = "/opt/configurable-http-proxy"
WHEELS = "/wheels"  # where servicelab's wheel is mounted in the install container
# The docker client: bookworm has no client-only package (trixie's docker-cli is one), and installing docker.io
# brings the daemon (144 MiB installed) with containerd, runc and iptables. So the install container downloads its .deb
# through apt (checked against the suite's signed index) and keeps only the client and its copyright file,
# unpacked under DOCKER_STAGE with the paths they have in the image.
DOCKER_PACKAGE = "docker.io"
DOCKER_CLIENT = "/usr/bin/docker"
DOCKER_STAGE = "/opt/docker-client"
HOST_CA = "/etc/ssl/certs/servicelab-host-ca.crt"  # where the host's CA bundle is mounted in it
# The proxy's environment variables pass through to the install container, for hosts that reach the
# registries through one.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ClassroomImage:
    """One classroom image: what it installs and who it runs as."""

    name: str  # the repository under servicelab.local/
    suite: str  # the Debian suite of its rootfs
    packages: tuple[str, ...]  # Debian packages
    install_packages: tuple[str, ...]  # Debian packages only the install container needs (apt-get, not kept)
    requirements: tuple[str, ...]  # pip requirements, into the venv
    npm_packages: tuple[str, ...]  # npm packages, under PROXY_PREFIX (name@version)
    servicelab_extra: str | None  # None: servicelab not installed; else the extra its wheel is installed with
    docker_client: bool  # Debian's docker client at DOCKER_CLIENT (from DOCKER_PACKAGE, the client alone)
    user: str
    uid: int
    gid: int
    group: str  # created unless Debian has it (gid 100 is Debian's `users`)
    home: str
    workdir: str  # "" is home; another folder is made and given to the user
    command: tuple[str, ...]
    tag_version: str  # what its tag names before the key: the JupyterHub it carries, or "" (the key alone)

    @property
    def installs_servicelab(self) -> bool:
        return self.servicelab_extra is not None

    def install_script(self, wheel: str = "") -> str:
        """The shell script the install container runs; wheel: servicelab's wheel's file name, when installed."""
        requirements = list(self.requirements)
        if self.installs_servicelab:
            if not wheel:
                raise ValueError(f"{self.name} installs servicelab: its wheel's name is needed")
            extra = f"[{self.servicelab_extra}]" if self.servicelab_extra else ""
            requirements.insert(0, f"{WHEELS}/{wheel}{extra}")
        lines = ["set -eu"]
        if self.install_packages:
            lines.append(
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends"
                f" {shlex.join(self.install_packages)} >/dev/null"
            )
        if self.docker_client:
            if not self.install_packages:
                lines.append("apt-get update -qq")  # the rootfs keeps no package lists
            deb = f"/tmp/{DOCKER_PACKAGE}_*.deb"  # /tmp: apt's sandbox user may write there
            lines += [
                f"(cd /tmp && apt-get download -qq {DOCKER_PACKAGE})",
                f"dpkg-deb --fsys-tarfile {deb} | tar -x -C {DOCKER_STAGE} .{DOCKER_CLIENT}"
                f" ./usr/share/doc/{DOCKER_PACKAGE}/copyright",
                f"rm {deb}",
                f"{DOCKER_STAGE}{DOCKER_CLIENT} --version",  # a client that cannot start on this rootfs stops here
            ]
        lines += [
            f"python3 -m venv {VENV}",
            f"{VENV}/bin/pip install --no-cache-dir --disable-pip-version-check {shlex.join(requirements)}",
            f"{VENV}/bin/pip check",  # a broken set of requirements stops here, not in the classroom
        ]
        if self.npm_packages:
            lines.append(
                f"npm install --prefix {PROXY_PREFIX} --omit=dev --no-audit --no-fund --no-update-notifier"
                f" {shlex.join(self.npm_packages)}"
            )
        # The container runs as root (apt-get); what it made belongs to whoever runs the build.
        made = [VENV]
        if self.npm_packages:
            made.append(PROXY_PREFIX)
        if self.docker_client:
            made.append(DOCKER_STAGE)
        lines.append(f'chown -R "$OWNER" {" ".join(made)}')
        return "\n".join(lines) + "\n"

    def dockerfile(self, rootfs: str, key: str) -> str:
        """rootfs: the rootfs image's tag; key: the image key, kept as a label."""
        copies = ["COPY venv " + VENV]
        setup = []
        if self.npm_packages:
            copies.append(f"COPY node {PROXY_PREFIX}")
            for package in self.npm_packages:
                name = package.rsplit("@", 1)[0]
                setup.append(f"ln -s {PROXY_PREFIX}/node_modules/.bin/{name} /usr/local/bin/{name}")
        if self.docker_client:
            copies.append("COPY docker /")  # the folder holds usr/bin/docker and its copyright file
        if self.group != "users":
            setup.append(f"groupadd --gid {self.gid} {self.group}")
        setup.append(
            f"useradd --no-log-init --uid {self.uid} --gid {self.gid} --home-dir {self.home} --create-home"
            f" --shell /bin/bash {self.user}"
        )
        if self.workdir:
            setup.append(f"mkdir -p {self.workdir} && chown {self.uid}:{self.gid} {self.workdir}")
        lines = [
            f"FROM {rootfs}",
            *copies,
            "RUN " + " && ".join(setup),
            f"ENV PATH={PATH} LANG=C.UTF-8",
            f"USER {self.uid}:{self.gid}",  # numeric: Pod Security's runAsNonRoot can check it
            f"WORKDIR {self.workdir or self.home}",
            f"CMD {json.dumps(list(self.command))}",
            f"LABEL dev.servicelab.build-key={key}",
        ]
        return "\n".join(lines) + "\n"


def images(suite: str) -> tuple[ClassroomImage, ...]:
    """The hub, the single-user and the grading image. suite: the lab images' Debian suite, which the single-user
    and grading images share (one rootfs: the same packages); the hub takes the next one, because
    configurable-http-proxy 5 needs Node.js 20 or newer and Debian 12 (bookworm) has 18.20, Debian 13 (trixie)
    20.19."""
    hub = ClassroomImage(
        name="classroom-hub",
        suite=_NODE_20_SUITE.get(suite, suite),
        # npm only to install the proxy: debootstrap cannot resolve npm's dependencies (virtual packages), and
        # the hub needs Node.js alone.
        packages=("python3", "python3-venv", "nodejs", "ca-certificates"),
        install_packages=("npm",),
        requirements=(f"jupyterhub=={versions.JUPYTERHUB}", f"jupyterhub-kubespawner=={versions.KUBESPAWNER}"),
        npm_packages=(f"configurable-http-proxy@{versions.CONFIGURABLE_HTTP_PROXY}",),
        servicelab_extra=None,
        docker_client=False,
        user="jupyterhub",
        uid=1000,
        gid=1000,
        group="jupyterhub",
        home="/srv/jupyterhub",  # its working folder: the hub's database and cookie secret
        workdir="",
        command=("jupyterhub",),
        tag_version=versions.JUPYTERHUB,
    )
    singleuser = ClassroomImage(
        name="classroom-singleuser",
        suite=suite,
        packages=("python3", "python3-venv", "ca-certificates"),
        install_packages=(),
        requirements=("jupyterlab", f"jupyterhub=={versions.JUPYTERHUB}"),  # jupyterhub: jupyterhub-singleuser
        npm_packages=(),
        servicelab_extra="learn",
        docker_client=False,
        user="jovyan",
        uid=1000,
        gid=100,
        group="users",
        home="/home/jovyan",
        workdir="",
        command=("jupyterhub-singleuser",),
        tag_version=versions.JUPYTERHUB,
    )
    grading = replace(
        singleuser,  # its rootfs: the same suite and packages
        name="classroom-grading",
        requirements=(),
        servicelab_extra="postgres",  # no Jupyter; psycopg (~4 MB, libpq inside): a PostgreSQL gradebook
        docker_client=True,
        user="grading",
        gid=1000,
        group="grading",
        home="/home/grading",
        workdir="/data",  # the gradebook's folder (a volume), the service's default --gradebook is relative
        # A CMD, not an ENTRYPOINT: `docker run IMAGE docker ps` and `... python -m ... --help` replace it.
        command=("python", "-m", "grader.classroom.service"),
        tag_version="",
    )
    return hub, singleuser, grading


_NODE_20_SUITE = {"bookworm": "trixie"}


def host_ca_bundle() -> Path:
    """The CA bundle this machine's own clients trust (pip's, then OpenSSL's default)."""
    candidates = (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"), ssl.get_default_verify_paths().cafile)
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise StepFailed("no CA bundle found for the install container (set SSL_CERT_FILE)")


def build_servicelab_wheel(repo: Path, work: Path) -> Path:
    """A wheel of the checkout as it is (tracked and untracked, not ignored, files), built from a copy so the
    checkout gets no build/ folder and no stale file of an earlier build reaches the wheel."""
    source = work / "servicelab-source"
    out = work / "servicelab-wheel"
    for folder in (source, out):
        shutil.rmtree(folder, ignore_errors=True)
    listed = run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"], capture=True)
    for name in filter(None, listed.split("\0")):
        path = repo / name
        if path.is_file():  # a file deleted but not yet committed is listed and absent
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, source / name)
    run(["python3", "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)])
    shutil.rmtree(source)
    wheels = sorted(out.glob("servicelab-*.whl"))
    if len(wheels) != 1:
        raise StepFailed(f"expected one servicelab wheel in {out}, found {[w.name for w in wheels]}")
    return wheels[0]


def ensure_install(image: ClassroomImage, rootfs: str, folder: Path, wheel: Path | None) -> None:
    """Fill folder (venv/, node/, docker/) in a container of the rootfs; kept when complete (a marker file says so)."""
    done = folder / ".complete"
    if done.exists():
        log(f"{image.name} install folder: present ({folder.name})")
        artefact(reused=True)
        return
    artefact(reused=False)
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "venv").mkdir(parents=True)
    argv = ["docker", "run", "--rm", "--env", f"OWNER={os.getuid()}:{os.getgid()}"]
    argv += ["--volume", f"{folder / 'venv'}:{VENV}"]
    if image.npm_packages:
        (folder / "node").mkdir()
        argv += ["--volume", f"{folder / 'node'}:{PROXY_PREFIX}"]
    if image.docker_client:
        (folder / "docker").mkdir()
        argv += ["--volume", f"{folder / 'docker'}:{DOCKER_STAGE}"]
    if wheel is not None:
        argv += ["--volume", f"{wheel.parent}:{WHEELS}:ro"]
    argv += ["--volume", f"{host_ca_bundle()}:{HOST_CA}:ro"]
    argv += ["--env", f"PIP_CERT={HOST_CA}", "--env", f"NPM_CONFIG_CAFILE={HOST_CA}"]
    for name in PROXY_VARIABLES:
        if name in os.environ:
            argv += ["--env", f"{name}={os.environ[name]}"]
    script = image.install_script(wheel.name if wheel else "")
    installed = ["servicelab", *image.requirements] if image.installs_servicelab else list(image.requirements)
    log(f"{image.name}: pip install {' '.join(installed)} (PyPI) in a {image.suite} container")
    run([*argv, rootfs, "sh", "-c", script], timeout=1800)
    done.write_text(script)


def ensure_image(image: ClassroomImage, rootfs: str, folder: Path, tag: str, key: str) -> None:
    """docker build the image from its install folder, offline; nothing when the tag (its key) exists."""
    if docker_has_image(tag):
        log(f"image {tag}: present")
        artefact(reused=True)
        return
    artefact(reused=False)
    (folder / "Dockerfile").write_text(image.dockerfile(rootfs, key))
    log(f"docker build {tag}")
    run(["docker", "build", "-q", "-t", tag, str(folder)], env={**os.environ, "DOCKER_BUILDKIT": "0"}, capture=True)
