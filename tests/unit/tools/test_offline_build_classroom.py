"""The classroom images' keys and the build's target selection: a changed input gives a new tag, nothing else does."""

from __future__ import annotations

import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[3] / "tools" / "offline-images"
sys.path.insert(0, str(TOOLS))

import build  # noqa: E402
import classroom  # noqa: E402
import keys  # noqa: E402

from grader.cluster import tools, versions  # noqa: E402

HUB = "classroom-hub"
SINGLEUSER = "classroom-singleuser"
GRADING = "classroom-grading"
WHEEL = "servicelab-0.1.0-py3-none-any.whl"


def _wheel(folder: Path, members: dict[str, str], name: str = WHEEL) -> Path:
    """A wheel with these members; zip timestamps differ from one call to the next only if the clock does."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in members.items():
            archive.writestr(member, text)
    return path


MEMBERS = {
    "grader/__init__.py": "",
    "grader/cli/main.py": "print('hi')\n",
    "servicelab-0.1.0.dist-info/METADATA": "Name: servicelab\n",
    "servicelab-0.1.0.dist-info/RECORD": "grader/__init__.py,sha256=x,0\n",
}


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    return _wheel(tmp_path / "one", MEMBERS)


def test_tags_name_the_jupyterhub_pin_and_the_image_key(wheel: Path) -> None:
    found = keys.classroom_keys("bookworm", wheel)
    for name in (HUB, SINGLEUSER):
        repository, tag = found.tag(name).split(":")
        assert repository == f"servicelab.local/{name}"
        assert tag == f"{versions.JUPYTERHUB}-{found.images[name][:12]}"
    assert found.tag(HUB) != found.tag(SINGLEUSER)


def test_the_grading_tag_is_its_key_alone(wheel: Path) -> None:
    """It carries no JupyterHub to name."""
    found = keys.classroom_keys("bookworm", wheel)
    assert found.tag(GRADING) == f"servicelab.local/{GRADING}:{found.images[GRADING][:12]}"


def test_same_wheel_content_same_keys_whatever_the_zip_timestamps(wheel: Path, tmp_path: Path) -> None:
    again = tmp_path / "two" / WHEEL
    again.parent.mkdir()
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(again, "w") as copy:
        for info in source.infolist():
            info.date_time = (2001, 2, 3, 4, 5, 6)
            copy.writestr(info, source.read(info))
    assert again.read_bytes() != wheel.read_bytes()
    assert keys.classroom_keys("bookworm", again) == keys.classroom_keys("bookworm", wheel)


def test_a_changed_servicelab_source_rebuilds_the_singleuser_and_grading_images_only(
    wheel: Path, tmp_path: Path
) -> None:
    before = keys.classroom_keys("bookworm", wheel)
    changed = _wheel(tmp_path / "changed", {**MEMBERS, "grader/cli/main.py": "print('changed')\n"})
    after = keys.classroom_keys("bookworm", changed)
    for name in (SINGLEUSER, GRADING):
        assert after.install[name] != before.install[name]
        assert after.tag(name) != before.tag(name)
    assert after.rootfs == before.rootfs
    assert (after.install[HUB], after.tag(HUB)) == (before.install[HUB], before.tag(HUB))


def test_the_record_of_a_wheel_is_not_an_input(wheel: Path, tmp_path: Path) -> None:
    other_record = _wheel(tmp_path / "record", {**MEMBERS, "servicelab-0.1.0.dist-info/RECORD": "listed again\n"})
    assert keys.classroom_keys("bookworm", other_record) == keys.classroom_keys("bookworm", wheel)


def test_a_pin_changes_the_install_and_the_tag(wheel: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = keys.classroom_keys("bookworm", wheel)
    monkeypatch.setattr(versions, "KUBESPAWNER", "7.1.1")
    after = keys.classroom_keys("bookworm", wheel)
    assert after.install[HUB] != before.install[HUB]
    assert after.tag(HUB) != before.tag(HUB)
    assert after.tag(SINGLEUSER) == before.tag(SINGLEUSER)  # KubeSpawner runs in the hub only
    monkeypatch.setattr(versions, "CONFIGURABLE_HTTP_PROXY", "5.3.1")
    assert keys.classroom_keys("bookworm", wheel).tag(HUB) != after.tag(HUB)


def test_the_suite_changes_every_rootfs_and_tag(wheel: Path) -> None:
    bookworm = keys.classroom_keys("bookworm", wheel)
    trixie = keys.classroom_keys("trixie", wheel)
    assert bookworm.rootfs[SINGLEUSER] != trixie.rootfs[SINGLEUSER]
    assert bookworm.tag(SINGLEUSER) != trixie.tag(SINGLEUSER)


def test_a_dockerfile_change_keeps_the_install_folder(wheel: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = keys.classroom_keys("bookworm", wheel)
    hub, singleuser, grading = classroom.images("bookworm")
    monkeypatch.setattr(classroom, "images", lambda suite: (replace(hub, uid=1001), singleuser, grading))
    after = keys.classroom_keys("bookworm", wheel)
    assert after.install == before.install  # pip and npm do not run again
    assert after.images[HUB] != before.images[HUB]
    assert after.images[SINGLEUSER] == before.images[SINGLEUSER]


def test_the_hub_takes_a_suite_with_node_20_and_the_others_the_labs_suite() -> None:
    hub, singleuser, grading = classroom.images("bookworm")
    assert (hub.suite, singleuser.suite, grading.suite) == ("trixie", "bookworm", "bookworm")
    assert classroom.images("trixie")[0].suite == "trixie"


def test_the_grading_image_shares_the_singleuser_rootfs(wheel: Path) -> None:
    """The same suite and packages: one rootfs key, so one rootfs image (build.py names it by its key)."""
    found = keys.classroom_keys("bookworm", wheel)
    assert found.rootfs[GRADING] == found.rootfs[SINGLEUSER]
    assert found.rootfs[GRADING] != found.rootfs[HUB]


def test_every_image_runs_as_uid_1000_not_root() -> None:
    for image in classroom.images("bookworm"):
        dockerfile = image.dockerfile("rootfs", "key")
        assert image.uid == 1000
        assert f"USER 1000:{image.gid}\n" in dockerfile
        assert dockerfile.index("USER ") > dockerfile.index("RUN ")  # the user exists before it is taken
    singleuser = classroom.images("bookworm")[1]
    assert (singleuser.user, singleuser.home) == ("jovyan", "/home/jovyan")


def test_the_grading_image_runs_the_service_in_data_and_lets_a_command_replace_it() -> None:
    grading = classroom.images("bookworm")[2]
    dockerfile = grading.dockerfile("rootfs", "key")
    assert 'CMD ["python", "-m", "grader.classroom.service"]\n' in dockerfile
    assert "ENTRYPOINT" not in dockerfile  # `docker run IMAGE docker ps` runs docker ps
    assert "WORKDIR /data\n" in dockerfile
    assert "mkdir -p /data && chown 1000:1000 /data" in dockerfile
    assert "COPY docker /\n" in dockerfile
    assert (grading.user, grading.home) == ("grading", "/home/grading")


def test_the_grading_install_takes_servicelab_without_jupyter_and_the_docker_client_alone() -> None:
    grading = classroom.images("bookworm")[2]
    with pytest.raises(ValueError, match="wheel"):
        grading.install_script()
    script = grading.install_script(WHEEL)
    # its one extra: psycopg, for a gradebook on PostgreSQL (Jupyter stays out)
    assert f"pip install --no-cache-dir --disable-pip-version-check '/wheels/{WHEEL}[postgres]'\n" in script
    assert "jupyter" not in script
    assert "apt-get download -qq docker.io" in script
    assert "apt-get install" not in script  # not the daemon, containerd, runc
    assert "tar -x -C /opt/docker-client ./usr/bin/docker ./usr/share/doc/docker.io/copyright\n" in script
    assert "/opt/docker-client/usr/bin/docker --version\n" in script
    assert script.endswith('chown -R "$OWNER" /opt/venv /opt/docker-client\n')


def test_only_the_grading_image_has_a_docker_client() -> None:
    hub, singleuser, grading = classroom.images("bookworm")
    assert (hub.docker_client, singleuser.docker_client, grading.docker_client) == (False, False, True)
    assert "docker" not in singleuser.install_script(WHEEL) + singleuser.dockerfile("rootfs", "key")


def test_the_singleuser_install_needs_the_wheel_and_names_its_extra() -> None:
    hub, singleuser, _ = classroom.images("bookworm")
    with pytest.raises(ValueError, match="wheel"):
        singleuser.install_script()
    assert f"'/wheels/{WHEEL}[learn]'" in singleuser.install_script(WHEEL)
    assert f"jupyterhub=={versions.JUPYTERHUB}" in singleuser.install_script(WHEEL)
    script = hub.install_script()
    assert f"jupyterhub-kubespawner=={versions.KUBESPAWNER}" in script
    assert f"configurable-http-proxy@{versions.CONFIGURABLE_HTTP_PROXY}" in script
    with pytest.raises(ValueError, match="wheel"):
        keys.classroom_keys("bookworm", None)


def test_the_classroom_is_opt_in() -> None:
    assert build.parse_args([]).classroom is False
    assert build.parse_args(["--classroom"]).classroom is True


def test_an_unknown_option_is_refused_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        build.parse_args(["--clasroom"])
    assert stopped.value.code == 2
    assert "unrecognized arguments: --clasroom" in capsys.readouterr().err


def test_the_cli_reads_the_record_this_recipe_writes() -> None:
    """`servicelab classroom up` finds the images through classroom-<recipe>.json under the names built here."""
    from grader.cluster import versions  # noqa: PLC0415

    assert versions.CLASSROOM_RECIPE == classroom.RECIPE
    names = {image.name for image in classroom.images("bookworm")}
    built = (versions.CLASSROOM_HUB_IMAGE, versions.CLASSROOM_SINGLEUSER_IMAGE, versions.CLASSROOM_GRADING_IMAGE)
    assert names == set(built)


def test_classroom_images_returns_every_tag_the_build_records(
    wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = keys.classroom_keys(build.c.PINS.debian_suite, wheel)
    build._record_classroom(tmp_path, found, wheel)
    monkeypatch.setenv("SERVICELAB_BUILD_CACHE", str(tmp_path))
    assert tools.classroom_images() == {
        versions.CLASSROOM_HUB_IMAGE: found.tag(HUB),
        versions.CLASSROOM_SINGLEUSER_IMAGE: found.tag(SINGLEUSER),
        versions.CLASSROOM_GRADING_IMAGE: found.tag(GRADING),
    }
