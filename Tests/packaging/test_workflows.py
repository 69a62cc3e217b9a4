"""The GitHub Actions workflows: actionlint and zizmor accept them, every action is pinned by a
commit SHA, every job has least-privilege permissions, and the release workflow builds with the
same script, and the same steps, as the release dry run that the test suite runs."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from conftest import REPO, run

WORKFLOWS = REPO / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
RELEASE = WORKFLOWS / "release.yml"


def load(path) -> dict:
    # PyYAML reads the key `on` as the boolean True (YAML 1.1).
    doc = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def steps(workflow: dict):
    for name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield name, step


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (scripts/setup installs it)"
    return path


def test_actionlint_accepts_the_workflows():
    # actionlint also runs shellcheck on every `run:` script when shellcheck is installed.
    proc = subprocess.run([tool("actionlint"), "-no-color", *map(str, sorted(WORKFLOWS.glob("*.yml")))],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing_in_the_workflows():
    # --offline: the audits that need GitHub's API (known-vulnerable actions, impostor commits)
    # cannot run without network; every other audit does.
    proc = subprocess.run([tool("zizmor"), "--offline", "--no-progress", str(WORKFLOWS)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_pedantic_finds_only_the_container_image_pinned_by_tag():
    """The one known gap: swift:6.3-bookworm is pinned by tag, not digest (docs/releasing.md)."""
    proc = subprocess.run([tool("zizmor"), "--offline", "--no-progress", "--persona", "pedantic",
                           "--format", "plain", str(WORKFLOWS)], capture_output=True, text=True, cwd=REPO)
    kinds = set(re.findall(r"^\w+\[([a-z-]+)\]", proc.stdout, flags=re.M))
    assert kinds <= {"unpinned-images"}, proc.stdout


@pytest.mark.parametrize("path", [CI, RELEASE], ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_sha_with_its_tag_beside_it(path):
    lines = [line for line in path.read_text().splitlines() if re.match(r"\s*(- )?uses:", line)]
    assert lines
    for line in lines:
        assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


@pytest.mark.parametrize("path", [CI, RELEASE], ids=lambda p: p.name)
def test_no_permission_by_default_and_each_job_asks_for_its_own(path):
    workflow = load(path)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, name
        assert set(job["permissions"].values()) <= {"read", "write"}, name
    for name, step in steps(workflow):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False, name


def test_writes_are_granted_only_to_the_jobs_that_publish():
    jobs = load(RELEASE)["jobs"]
    writers = {name: sorted(k for k, v in job["permissions"].items() if v == "write") for name, job in jobs.items()}
    assert writers == {
        "build": [],
        "image": ["attestations", "id-token", "packages"],
        "chart": ["attestations", "id-token", "packages"],
        "github-release": ["attestations", "contents", "id-token"],
    }
    assert load(CI)["jobs"]["test"]["permissions"] == {"contents": "read"}


def test_ci_runs_the_suite_on_pull_requests_and_main():
    workflow = load(CI)
    assert "pull_request" in workflow["on"]
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert [s["run"] for _, s in steps(workflow) if "run" in s][-1] == ".ci/run"


def test_release_runs_on_version_tags_and_marks_prereleases():
    workflow = load(RELEASE)
    assert workflow["on"] == {"push": {"tags": ["v*"]}}
    create = next(s["run"] for _, s in steps(workflow) if "gh release create" in s.get("run", ""))
    assert 'case "$TAG" in *-*) prerelease=(--prerelease)' in create
    assert "--notes-file" in create and "--verify-tag" in create
    notes = next(s["run"] for _, s in steps(workflow) if "--notes" in s.get("run", ""))
    assert notes.startswith("scripts/release --notes")


def test_release_builds_amd64_and_arm64_natively_with_the_dry_runs_script_and_steps():
    """The dry run and the workflow cannot drift: both call scripts/release-artifacts, and the
    workflow's amd64 steps are among the dry run's."""
    build = load(RELEASE)["jobs"]["build"]
    matrix = {entry["arch"]: entry for entry in build["strategy"]["matrix"]["include"]}
    assert {a: m["runner"] for a, m in matrix.items()} == {"amd64": "ubuntu-24.04", "arm64": "ubuntu-24.04-arm"}
    script = next(s["run"] for s in build["steps"] if "scripts/release-artifacts" in s.get("run", ""))
    assert "--expect-version \"$TAG\"" in script

    dry_run = (REPO / "scripts" / "release-dry-run").read_text()
    dry_steps = re.search(r'exec scripts/release-artifacts "\$1" (.+)$', dry_run, flags=re.M).group(1).split()
    assert set(matrix["amd64"]["steps"].split()) <= set(dry_steps)
    assert "verify" in matrix["arm64"]["steps"].split() and "verify" == dry_steps[-1]


def test_the_image_is_built_from_the_containerfile_for_both_platforms_with_the_release_binaries():
    jobs = load(RELEASE)["jobs"]
    build = next(s for _, s in steps({"jobs": {"image": jobs["image"]}}) if s.get("uses", "").startswith("docker/build-push-action@"))
    assert build["with"]["file"] == "packaging/Containerfile"
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["build-contexts"] == "dist=dist"
    assert "SPILLWAYD_FROM=prebuilt" in build["with"]["build-args"]
    assert build["with"]["push"] is True and build["with"]["sbom"] is True
    uses = [s.get("uses", "").split("@")[0] for s in jobs["image"]["steps"]]
    assert "sigstore/cosign-installer" in uses and "actions/attest-build-provenance" in uses
    chart_runs = " ".join(s.get("run", "") for s in jobs["chart"]["steps"])
    assert "push-chart" in chart_runs and "cosign sign --yes" in chart_runs


def test_setup_installs_the_workflow_linters():
    setup = (REPO / "scripts" / "setup").read_text()
    assert "zizmor" in setup and "actionlint" in setup
    run([tool("actionlint"), "-version"])
