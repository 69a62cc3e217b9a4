"""A real Kubernetes control plane for the packaging tests: the one in ../shared/kube (etcd,
kube-apiserver and kube-controller-manager v1.32 on loopback, no kubelet), started once per test
session, or the cluster of $SPILLWAY_TEST_KUBECONFIG. Tests that need it skip with one line when
neither is there (a fresh clone has no ../shared).

It is a fixture of its own module, imported by conftest.py, so that every test file shares one
control plane."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO

SHARED = REPO.parent / "shared"
CONTROL_PLANE = SHARED / "kube" / "control-plane"
ORIGINAL = SHARED / "peers" / "spillway-go"


@dataclass
class Cluster:
    kubeconfig: Path

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args], capture_output=True,
                              text=True, input=input, timeout=timeout)
        if check and proc.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, manifest: str) -> None:
        self.kubectl("apply", "-f", "-", input=manifest)

    def create_namespaces(self, *names: str) -> None:
        for name in names:
            if self.kubectl("get", "namespace", name, check=False).returncode != 0:
                self.kubectl("create", "namespace", name)


def wait_for(what: str, condition, timeout: float = 60, interval: float = 0.25):
    """Polls until `condition()` is truthy and returns it, or fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory) -> Cluster:
    given = os.environ.get("SPILLWAY_TEST_KUBECONFIG")
    if given:
        yield Cluster(Path(given))
        return
    if not CONTROL_PLANE.is_file():
        pytest.skip(f"no real control plane: neither {CONTROL_PLANE} nor $SPILLWAY_TEST_KUBECONFIG")
    state = tmp_path_factory.mktemp("control-plane")
    env = {**os.environ, "KUBE_BIN_CACHE": os.environ.get("KUBE_BIN_CACHE", "/tmp/.kube-bin")}
    proc = subprocess.run([str(CONTROL_PLANE), "start", str(state)], capture_output=True, text=True, env=env,
                          timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"control-plane start failed:\n{proc.stderr}")
    try:
        yield Cluster(Path(proc.stdout.strip().splitlines()[-1]))
    finally:
        subprocess.run([str(CONTROL_PLANE), "stop", str(state)], capture_output=True, env=env, timeout=120)
