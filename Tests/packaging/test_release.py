"""Releases: the version written once (VERSION) and found the same everywhere, scripts/build-info
(what `spillwayd version` reports), scripts/release cutting releases in a scratch repository, the
release dry run's artifacts, and the chart pushed to a real OCI registry on loopback."""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, VERSION, host_arch, run

sys.path.insert(0, str(REPO / "scripts"))
import versioning  # noqa: E402
from versioning import Version  # noqa: E402

BUILD_INFO = REPO / "scripts" / "build-info"
ARTIFACTS = REPO / "scripts" / "release-artifacts"
GIT_ENV = {"GIT_AUTHOR_NAME": "Release Test", "GIT_AUTHOR_EMAIL": "release@example.com",
           "GIT_COMMITTER_NAME": "Release Test", "GIT_COMMITTER_EMAIL": "release@example.com",
           "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def build_info(**env: str) -> dict[str, str]:
    out = run([str(BUILD_INFO)], env={**os.environ, **env}).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


# --- the version, written once ----------------------------------------------------------------

def test_version_file_is_semver_and_every_place_that_repeats_it_agrees():
    assert Version.parse(VERSION) == versioning.current()
    proc = run([str(REPO / "scripts" / "release"), "--check"])
    assert proc.stdout.strip() == f"{VERSION}: the same everywhere"


def test_check_names_a_place_that_disagrees(tmp_path):
    repo = scratch_repository(tmp_path)
    chart = repo / "charts/spillway/Chart.yaml"
    chart.write_text(chart.read_text().replace(f'appVersion: "{VERSION}"', 'appVersion: "9.9.9"'))
    proc = subprocess.run([str(repo / "scripts/release"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert f"charts/spillway/Chart.yaml: found 9.9.9, expected {VERSION}" in proc.stderr


def test_semver_precedence_follows_the_specification():
    # The example of semver.org item 11, in order.
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0"]
    versions = [Version.parse(v) for v in ordered]
    assert sorted(reversed(versions), key=Version.precedence) == versions
    assert all(a < b for a, b in zip(versions, versions[1:]))
    assert Version.parse("v0.6.0-rc.1").debian == "0.6.0~rc.1"
    for bad in ("0.6", "1.2.3.4", "01.2.3", "latest", "1.2.3-", ""):
        with pytest.raises(ValueError):
            Version.parse(bad)


# --- scripts/build-info: what `spillwayd version` says ----------------------------------------

def test_build_info_takes_the_commit_from_git_and_the_date_from_it_or_source_date_epoch():
    head = run(["git", "-C", str(REPO), "rev-parse", "HEAD"]).stdout.strip()
    epoch = int(run(["git", "-C", str(REPO), "log", "-1", "--format=%ct"]).stdout)
    env = {k: v for k, v in os.environ.items() if k not in ("SOURCE_DATE_EPOCH", "SPILLWAY_COMMIT")}
    info = dict(line.split("=", 1) for line in run([str(BUILD_INFO)], env=env).stdout.splitlines())
    assert info == {"version": VERSION, "commit": head,
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))}
    assert build_info(SOURCE_DATE_EPOCH="1700000000", SPILLWAY_COMMIT="0123abc")["date"] == "2023-11-14T22:13:20Z"
    assert build_info(SOURCE_DATE_EPOCH="1700000000", SPILLWAY_COMMIT="0123abc")["commit"] == "0123abc"


def test_build_info_without_git_says_unknown_and_refuses_a_bad_version(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(BUILD_INFO, tmp_path / "scripts")
    (tmp_path / "VERSION").write_text("1.2.3-rc.1\n")
    env = {k: v for k, v in os.environ.items() if k not in ("SOURCE_DATE_EPOCH", "SPILLWAY_COMMIT")}
    env["GIT_CEILING_DIRECTORIES"] = str(tmp_path.parent)  # no repository above the copy either
    out = run([str(tmp_path / "scripts/build-info")], env=env).stdout
    assert out == "version=1.2.3-rc.1\ncommit=unknown\ndate=unknown\n"
    (tmp_path / "VERSION").write_text("1.2\n")
    proc = subprocess.run([str(tmp_path / "scripts/build-info")], capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and "must hold a semantic version" in proc.stderr
    proc = subprocess.run([str(BUILD_INFO)], capture_output=True, text=True,
                          env={**os.environ, "SPILLWAY_COMMIT": 'x"; exit(1); "'})
    assert proc.returncode == 1 and "SPILLWAY_COMMIT must be a commit id" in proc.stderr


def test_build_info_rewrites_the_swift_file_only_when_it_changes(tmp_path):
    target = tmp_path / "BuildInfo.swift"
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "SPILLWAY_COMMIT": "abc"}
    run([str(BUILD_INFO), "--swift", str(target)], env=env)
    assert 'static let version = "' + VERSION + '"' in target.read_text()
    assert 'static let date = "1970-01-01T00:00:00Z"' in target.read_text()
    os.utime(target, (1, 1))
    run([str(BUILD_INFO), "--swift", str(target)], env=env)
    assert target.stat().st_mtime == 1  # unchanged: nothing recompiles
    run([str(BUILD_INFO), "--swift", str(target)], env={**env, "SPILLWAY_COMMIT": "def"})
    assert 'static let commit = "def"' in target.read_text()


# --- scripts/release in a scratch repository --------------------------------------------------

def scratch_repository(tmp_path: Path) -> Path:
    """A git repository holding what scripts/release reads and writes, as in this working tree."""
    repo = tmp_path / "repo"
    for site in {s.path for s in versioning.VERSION_SITES} | {"CHANGELOG.md", "scripts/release", "scripts/versioning.py"}:
        if (REPO / site).exists():
            (repo / site).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / site, repo / site)
    changelog = repo / "CHANGELOG.md"
    text = changelog.read_text()
    # [Unreleased] holds exactly one fixture entry, whatever the working tree's holds.
    head = text.index("## [Unreleased]") + len("## [Unreleased]\n")
    tail = text.index("\n## [", head)
    changelog.write_text(text[:head] + "\n### Fixed\n\n- A fix worth releasing.\n" + text[tail:])
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "start")
    git(repo, "tag", "--annotate", f"v{VERSION}", "-m", f"spillway {VERSION}")
    return repo


def git(repo: Path, *args: str) -> str:
    return run(["git", "-C", str(repo), *args], env={**os.environ, **GIT_ENV}).stdout


def release(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(repo / "scripts/release"), *args], capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV})


def next_minor() -> Version:
    v = Version.parse(VERSION)
    return Version(v.major, v.minor + 1, 0)


def test_release_bumps_every_place_moves_the_changelog_commits_and_tags_without_pushing(tmp_path):
    repo = scratch_repository(tmp_path)
    remote = tmp_path / "remote.git"
    run(["git", "init", "--quiet", "--bare", str(remote)])
    git(repo, "remote", "add", "origin", str(remote))
    new = next_minor()

    proc = release(repo, f"v{new}")
    assert proc.returncode == 0, proc.stderr
    assert f"git push origin HEAD {new.tag}" in proc.stdout

    assert (repo / "VERSION").read_text() == f"{new}\n"
    assert release(repo, "--check").returncode == 0
    chart = yaml.safe_load((repo / "charts/spillway/Chart.yaml").read_text())
    assert (chart["version"], chart["appVersion"]) == (str(new), str(new))
    kustomization = yaml.safe_load((repo / "packaging/kustomize/default/kustomization.yaml").read_text())
    assert kustomization["images"][0]["newTag"] == str(new)
    assert f"oci://ghcr.io/kroy-the-rabbit/charts/spillway --version {new}" in (repo / "charts/spillway/README.md").read_text()

    changelog = (repo / "CHANGELOG.md").read_text()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert f"## [Unreleased]\n\n## [{new}] - {today}\n\n### Fixed\n\n- A fix worth releasing.\n" in changelog
    assert f"[Unreleased]: https://github.com/kroy-the-rabbit/spillway/compare/{new.tag}...HEAD" in changelog
    assert f"[{new}]: https://github.com/kroy-the-rabbit/spillway/compare/v{VERSION}...{new.tag}" in changelog
    assert f"## [{VERSION}] - " in changelog  # the earlier release is still there

    assert git(repo, "log", "-1", "--format=%s").strip() == f"Release {new.tag}"
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "cat-file", "-t", new.tag).strip() == "tag"  # annotated
    assert git(repo, "rev-parse", f"{new.tag}^{{commit}}") == git(repo, "rev-parse", "HEAD")
    assert "- A fix worth releasing." in git(repo, "tag", "-l", "--format=%(contents)", new.tag)
    # Nothing was pushed.
    assert run(["git", "-C", str(remote), "tag"]).stdout == ""
    assert run(["git", "-C", str(remote), "rev-list", "--all"]).stdout == ""

    notes = release(repo, "--notes", new.tag, "--registry", "ghcr.io/Some-Fork")
    assert notes.stdout.startswith("### Fixed\n\n- A fix worth releasing.\n")
    assert f"`ghcr.io/some-fork/spillway:{new}`" in notes.stdout
    assert f"helm install spillway oci://ghcr.io/some-fork/charts/spillway --version {new}" in notes.stdout


def test_release_candidates_go_forward_to_the_release(tmp_path):
    repo = scratch_repository(tmp_path)
    new = next_minor()
    for version in (f"{new}-rc.1", f"{new}-rc.2", str(new)):
        assert release(repo, version).returncode == 0, version
        changelog = repo / "CHANGELOG.md"
        text = changelog.read_text()
        head = text.index("## [Unreleased]") + len("## [Unreleased]\n")
        changelog.write_text(text[:head] + f"\n### Fixed\n\n- After {version}.\n" + text[head:])
        git(repo, "commit", "--quiet", "-am", "notes")
    assert git(repo, "tag", "--list").split() == sorted([f"v{VERSION}", f"{new.tag}-rc.1", f"{new.tag}-rc.2", new.tag])
    # A release candidate of a version already released is a step back.
    proc = release(repo, f"{new}-rc.3")
    assert proc.returncode == 1 and f"is not above the current version {new}" in proc.stderr


@pytest.mark.parametrize("version, message", [
    ("0.6", "is not a semantic version"),
    ("1.2.3.4", "is not a semantic version"),
    ("latest", "is not a semantic version"),
    ("9.0.0+build.5", "build metadata (+build.5) cannot be part of an image tag"),
    (VERSION, "is not above the current version"),
    ("0.0.1", "is not above the current version"),
])
def test_release_refuses_bad_versions_and_changes_nothing(tmp_path, version, message):
    repo = scratch_repository(tmp_path)
    before = git(repo, "rev-parse", "HEAD")
    proc = release(repo, version)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert git(repo, "rev-parse", "HEAD") == before
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "tag", "--list").split() == [f"v{VERSION}"]


def test_release_refuses_a_dirty_tree_an_older_version_than_a_tag_and_empty_notes(tmp_path):
    repo = scratch_repository(tmp_path)
    new = next_minor()
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nedited\n")
    proc = release(repo, str(new))
    assert proc.returncode == 1 and "uncommitted changes" in proc.stderr
    git(repo, "checkout", "--", "README.md")

    git(repo, "tag", "v9.0.0")  # released from elsewhere, e.g. a maintenance branch
    proc = release(repo, str(new))
    assert proc.returncode == 1 and "is not above the released v9.0.0" in proc.stderr
    git(repo, "tag", "-d", "v9.0.0")

    changelog = repo / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace("\n### Fixed\n\n- A fix worth releasing.\n", ""))
    git(repo, "commit", "--quiet", "-am", "no notes")
    proc = release(repo, str(new))
    assert proc.returncode == 1 and "nothing under '## [Unreleased]'" in proc.stderr
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / "VERSION").read_text() == f"{VERSION}\n"


def test_the_changelog_has_notes_for_the_current_version():
    notes = versioning.notes(Version.parse(VERSION))
    assert "### Added" in notes or "### Fixed" in notes or "### Changed" in notes
    assert versioning.unreleased() is not None


# --- the release dry run ----------------------------------------------------------------------

def test_dry_run_builds_and_verifies_every_amd64_artifact(dry_run):
    out, proc = dry_run
    assert proc.returncode == 0, proc.stderr
    arch = host_arch()
    names = {p.name for p in out.iterdir()}
    assert {f"spillwayd-{VERSION}-linux-{arch}", f"spillwayd_{VERSION.replace('-', '~', 1)}-1_{arch}.deb",
            f"spillway-{VERSION}.tgz", f"rootfs-{arch}", "SHA256SUMS"} <= names
    assert "lintian spillwayd_" in proc.stderr and f"helm lint --strict spillway-{VERSION}.tgz" in proc.stderr
    assert f"verified {VERSION}:" in proc.stderr


def test_dry_run_artifacts_all_say_the_version(dry_run, tmp_path):
    """Checked here independently of the dry run's own verify step."""
    out, _ = dry_run
    arch = host_arch()
    info = build_info()
    binary = out / f"spillwayd-{VERSION}-linux-{arch}"
    assert run([str(binary), "version"]).stdout == \
        f"spillwayd {VERSION}\ncommit: {info['commit']}\nbuilt: {info['date']}\n"
    assert ".symtab" not in run(["readelf", "-S", "-W", str(binary)]).stdout  # stripped

    deb = out / f"spillwayd_{VERSION.replace('-', '~', 1)}-1_{arch}.deb"
    assert run(["dpkg-deb", "--field", str(deb), "Version"]).stdout.strip() == f"{VERSION.replace('-', '~', 1)}-1"
    run(["dpkg-deb", "-x", str(deb), str(tmp_path)])
    page = gzip.decompress((tmp_path / "usr/share/man/man8/spillwayd.8.gz").read_bytes()).decode()
    assert f'"spillwayd {VERSION}"' in next(line for line in page.splitlines() if line.startswith(".TH "))

    with tarfile.open(out / f"spillway-{VERSION}.tgz") as archive:
        chart = yaml.safe_load(archive.extractfile("spillway/Chart.yaml"))
        values = yaml.safe_load(archive.extractfile("spillway/values.yaml"))
    assert (chart["version"], chart["appVersion"]) == (VERSION, VERSION)
    assert values["image"] == {**values["image"], "repository": "ghcr.io/kroy-the-rabbit/spillway", "tag": ""}

    assert (out / f"rootfs-{arch}/usr/bin/spillwayd").read_bytes() == binary.read_bytes()
    run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=out)


def test_verify_names_an_artifact_that_disagrees(dry_run, tmp_path):
    import helm_python as helm

    out, _ = dry_run
    dist = tmp_path / "dist"
    dist.mkdir()
    chart = tmp_path / "spillway"
    shutil.copytree(REPO / "charts/spillway", chart)
    meta = chart / "Chart.yaml"
    meta.write_text(meta.read_text().replace(f"version: {VERSION}\n", "version: 9.9.9\n"))
    helm.package(chart, destination=dist)
    (dist / "spillway-9.9.9.tgz").rename(dist / f"spillway-{VERSION}.tgz")
    proc = subprocess.run([str(ARTIFACTS), str(dist), "verify"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert f"spillway-{VERSION}.tgz: version is '9.9.9', expected '{VERSION}'" in proc.stderr

    shutil.copy(out / "SHA256SUMS", dist)
    (dist / f"spillway-{VERSION}.tgz").unlink()
    shutil.copy(out / f"spillway-{VERSION}.tgz", dist)
    (dist / "SHA256SUMS").write_text(f"{'0' * 64}  spillway-{VERSION}.tgz\n")
    proc = subprocess.run([str(ARTIFACTS), str(dist), "verify"], capture_output=True, text=True)
    assert proc.returncode == 1 and "SHA256SUMS: " in proc.stderr and "FAILED" in proc.stderr


def test_a_tag_that_is_not_the_version_stops_the_release(tmp_path):
    proc = subprocess.run([str(ARTIFACTS), "--expect-version", "v9.9.9", str(tmp_path), "checksums"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert f"the tag says v9.9.9 but VERSION says {VERSION}" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_forks_chart_defaults_to_the_forks_image(tmp_path):
    proc = subprocess.run([str(ARTIFACTS), "--image-repository", "ghcr.io/Some-Fork/spillway",
                           str(tmp_path), "chart", "verify"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(tmp_path / f"spillway-{VERSION}.tgz") as archive:
        values = yaml.safe_load(archive.extractfile("spillway/values.yaml"))
    assert values["image"]["repository"] == "ghcr.io/some-fork/spillway"


def test_image_tags_of_a_release_and_of_a_prerelease(tmp_path):
    out = run([str(ARTIFACTS), "--image-repository", "ghcr.io/Some-Fork/spillway", str(tmp_path), "image-tags"]).stdout
    v = Version.parse(VERSION)
    image = "ghcr.io/some-fork/spillway"
    expected = [f"{image}:{v}"] + ([] if v.is_prerelease else [f"{image}:{v.major}.{v.minor}", f"{image}:latest"])
    assert out == f"name={image}\nversion={v}\ntags={','.join(expected)}\n"

    repo = scratch_repository(tmp_path)
    (repo / "scripts/release-artifacts").write_bytes(ARTIFACTS.read_bytes())
    (repo / "scripts/release-artifacts").chmod(0o755)
    shutil.copy(BUILD_INFO, repo / "scripts")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "tools")
    assert release(repo, f"{next_minor()}-rc.1").returncode == 0
    out = run([str(repo / "scripts/release-artifacts"), "--image-repository", image, str(tmp_path / "o"), "image-tags"]).stdout
    assert out.splitlines()[-1] == f"tags={image}:{next_minor()}-rc.1"


# --- publishing the chart to a real OCI registry on loopback -----------------------------------

@pytest.fixture()
def registry(tmp_path):
    """Debian's docker-registry (CNCF distribution) on a free loopback port, no auth, plain HTTP."""
    server = shutil.which("docker-registry")
    if server is None:
        pytest.skip("docker-registry is not installed (scripts/setup installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "registry.yml"
    config.write_text(f"version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {tmp_path / 'data'}}}}}\n"
                      f"http: {{addr: 127.0.0.1:{port}}}\n")
    proc = subprocess.Popen([server, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("docker-registry did not listen within 10 s")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_push_chart_publishes_the_packaged_chart_to_an_oci_registry(dry_run, registry, tmp_path):
    import helm_python as helm

    out, _ = dry_run
    proc = subprocess.run([str(ARTIFACTS), "--chart-registry", f"oci://{registry}/charts", str(out), "push-chart"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    digest = proc.stdout.strip().removeprefix("digest=")
    assert digest.startswith("sha256:") and len(digest) == 71

    pulled = tmp_path / "pulled"
    pulled.mkdir()
    helm.pull(f"oci://{registry}/charts/spillway", version=VERSION, destination=pulled, plain_http=True)
    assert (pulled / f"spillway-{VERSION}.tgz").read_bytes() == (out / f"spillway-{VERSION}.tgz").read_bytes()
