"""Shared fixtures of the packaging tests: the repository, built spillwayd binaries, the release
dry run's artifacts, the Helm chart rendered with Helm's own engine (helm-python-sdk, which
embeds Helm's Go SDK), and a kube-emulator serving TLS."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "spillway"
RELEASE = "spillway"
NAMESPACE = "spillway-system"
BUILD_DEB = REPO / "packaging" / "deb" / "build.sh"
# The project's version: the one place it is written.
VERSION = (REPO / "VERSION").read_text().strip()
# The bearer token of system:masters the `emulator` fixture accepts.
TOKEN = "wire-test"


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command, failing the test with its output when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def _built(extra: list[str]) -> Path:
    """Build spillwayd (a no-op when up to date) and return the binary's path."""
    run(["swift", "build", "--product", "spillwayd", *extra], cwd=REPO)
    bin_dir = run(["swift", "build", "--show-bin-path", *extra], cwd=REPO).stdout.strip()
    binary = Path(bin_dir) / "spillwayd"
    assert binary.is_file(), f"swift build produced no {binary}"
    return binary


@pytest.fixture(scope="session")
def static_binary() -> Path:
    """The release binary with the Swift stdlib linked statically: what the image and the .deb ship."""
    return _built(["-c", "release", "--static-swift-stdlib"])


@pytest.fixture(scope="session")
def binary_version(static_binary: Path) -> str:
    """The version `spillwayd version` reports on its first line ("spillwayd X.Y.Z")."""
    first = run([static_binary, "version"]).stdout.splitlines()[0]
    name, _, version = first.partition(" ")
    assert name == "spillwayd" and version, f"unexpected first line of `spillwayd version`: {first!r}"
    return version


def host_arch() -> str:
    return run(["dpkg", "--print-architecture"]).stdout.strip()


@pytest.fixture(scope="session")
def dry_run(static_binary: Path, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """scripts/release-dry-run into a fresh folder: the release's amd64 artifacts, built from the
    static binary above (the same build, so nothing compiles twice) and verified. The .deb and
    root filesystem tests use these artifacts rather than building their own."""
    out = tmp_path_factory.mktemp("dist")
    # xz level 1: the ~60 MB binary compresses in seconds instead of minutes; lintian is the same.
    proc = subprocess.run([str(REPO / "scripts" / "release-dry-run"), str(out)], capture_output=True, text=True,
                          env={**os.environ, "DEB_XZ_LEVEL": "1"})
    return out, proc


@pytest.fixture(scope="session")
def deb(dry_run) -> Path:
    out, proc = dry_run
    path = out / f"spillwayd_{VERSION.replace('-', '~', 1)}-1_{host_arch()}.deb"
    assert path.is_file(), f"the release dry run made no {path.name}:\n{proc.stderr}"
    return path


def render(values: dict | None = None, namespace: str = NAMESPACE) -> list[dict]:
    """Render the chart like `helm template spillway charts/spillway -n NAMESPACE`, as objects."""
    import helm_python as helm

    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(values or {})
        manifests = chart.render(values, name=RELEASE, namespace=namespace, is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def find(objects: list[dict], kind: str, name: str | None = None) -> dict:
    matches = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def kinds(objects: list[dict]) -> set[str]:
    return {o["kind"] for o in objects}


def load_yaml_file(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@dataclass
class Emulator:
    url: str
    ca: Path

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("https://").split(":")
        return host, int(port)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory) -> Emulator:
    """The debug kube-emulator (what `swift build` builds; a no-op when up to date), serving TLS
    with a bearer token of system:masters."""
    run(["swift", "build", "--product", "kube-emulator"], cwd=REPO)
    binary = Path(run(["swift", "build", "--show-bin-path"], cwd=REPO).stdout.strip()) / "kube-emulator"
    ca = tmp_path_factory.mktemp("emulator") / "ca.pem"
    proc = subprocess.Popen([binary, "serve", "--tls", "--print-port", "--ca-out", ca,
                             "--token", f"{TOKEN}=wire-test:system:masters"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:"), f"kube-emulator printed {url!r} (exit status {proc.poll()})"
        yield Emulator(url, ca)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def api(emulator: Emulator, method: str, path: str, body: dict | None = None) -> dict:
    """A request straight to the emulator (no relay), for what the tests set up."""
    request = urllib.request.Request(emulator.url + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=str(emulator.ca)), timeout=30) as response:
        return json.load(response)


# The real control plane (../shared/kube), one per session for every test file that asks for it:
# a fixture is found by its name in conftest's namespace.
import realcluster  # noqa: E402

real_cluster = realcluster.real_cluster
