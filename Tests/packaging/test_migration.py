"""MIGRATING.md on a real control plane: the original Go spillway (v0.4.4, ../shared/peers) runs
with its own command line and makes its replicas; spillwayd starts beside it with the original's
kustomize args, stands by while the original holds the shared Lease, takes over when it stops —
adopting every replica without writing it (a SpillwayProfile's too) and replacing the original's
finalizer on sources and the profile — and every source can be deleted afterwards. Then back: `spillwayd uninstall`, the original again, and its
sources are still deletable.

The steps run in order and share one world (one module-scoped fixture)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import _built
from realcluster import ORIGINAL, Cluster, wait_for
from test_helm_upgrade import delete_crd

LEGACY_FINALIZER = "spillway.kroy.io/finalizer"
FINALIZER = "spillway.kroy.io/replicas"
MANAGED = "spillway.kroy.io/managed-by=spillway"
NAMESPACES = ["mig-src", "mig-team-a", "mig-team-b", "mig-other", "spillway-system"]

SOURCES = """
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: mig-src
  labels: {app: db}
  annotations:
    spillway.kroy.io/replicate-to: "mig-team-*"
    owner: platform
stringData: {password: s3cret}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: mig-src
  annotations:
    spillway.kroy.io/replicate-to: "mig-team-a,mig-other"
    spillway.kroy.io/exclude-keys: internal
data: {mode: fast, internal: "1"}
binaryData: {blob: AAEC}
---
apiVersion: v1
kind: Secret
metadata:
  name: leaving
  namespace: mig-src
  annotations:
    spillway.kroy.io/replicate-to: "mig-team-b"
stringData: {token: t}
---
apiVersion: spillway.kroy.io/v1alpha1
kind: SpillwayProfile
metadata:
  name: shared
  namespace: mig-src
spec:
  targetNamespaces: ["mig-team-*"]
  sources: [{kind: ConfigMap, name: settings}]
"""

# The original's kustomize Deployment passes exactly these (config/manager/deployment.yaml); only
# the listen addresses are moved to free ports.
ORIGINAL_KUSTOMIZE_ARGS = ["--leader-elect=true", "--sync-period=5m", "--self-heal-interval=45s"]


class Process:
    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None):
        self.log = log
        self.handle = open(log, "w")
        self.proc = subprocess.Popen(args, stdout=self.handle, stderr=subprocess.STDOUT, env=env)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.handle.close()
        return self.proc.returncode

    def text(self) -> str:
        return self.log.read_text(errors="replace")


class World:
    def __init__(self, cluster: Cluster, tmp: Path, spillwayd: Path, original: Path):
        self.cluster, self.tmp, self.spillwayd, self.original = cluster, tmp, spillwayd, original
        self.processes: list[Process] = []
        self.replica_versions: dict[str, str] = {}

    def start_original(self, name: str, leader_elect: bool) -> Process:
        args = [str(self.original), "--kubeconfig", str(self.cluster.kubeconfig),
                f"--leader-elect={'true' if leader_elect else 'false'}",
                "--metrics-bind-address=127.0.0.1:0", "--health-probe-bind-address=127.0.0.1:0"]
        if leader_elect:
            # controller-runtime finds its Lease namespace only in a pod: give it a service
            # account namespace file in a private mount namespace (nothing outside it changes).
            script = ("mount -t tmpfs none /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount && "
                      "printf spillway-system > /run/secrets/kubernetes.io/serviceaccount/namespace && exec \"$@\"")
            args = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "original", *args]
        process = Process(args, self.tmp / f"{name}.log")
        self.processes.append(process)
        return process

    def start_spillwayd(self, name: str) -> tuple[Process, str]:
        args = [str(self.spillwayd), *ORIGINAL_KUSTOMIZE_ARGS, "--kubeconfig", str(self.cluster.kubeconfig),
                "--metrics-bind-address=127.0.0.1:0", "--health-probe-bind-address=127.0.0.1:0",
                "--log-format=json"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPILLWAY_", "KUBERNETES_SERVICE"))}
        env["SPILLWAY_CONFIG"] = str(self.tmp / "empty.conf")
        (self.tmp / "empty.conf").write_text("")
        process = Process(args, self.tmp / f"{name}.log", env=env)
        self.processes.append(process)

        def metrics_address():
            for line in process.text().splitlines():
                if '"serving /metrics"' in line:
                    return json.loads(line)["address"]
            assert process.proc.poll() is None, process.text()
            return None
        return process, "http://" + wait_for("spillwayd to serve /metrics", metrics_address, timeout=30)

    def objects(self, kind: str, *args: str) -> list[dict]:
        return self.cluster.get(kind, *args)["items"]

    def replicas(self) -> dict[str, dict]:
        """The replicas of this test's sources (annotation or profile), by Kind/namespace/name."""
        def ours(o: dict) -> bool:
            annotations = o["metadata"].get("annotations", {})
            return (annotations.get("spillway.kroy.io/source-from", "").split("/")[1:2] == ["mig-src"]
                    or annotations.get("spillway.kroy.io/profile-ref", "").startswith("mig-src/"))
        return {f"{o['kind']}/{o['metadata']['namespace']}/{o['metadata']['name']}": o
                for kind in ("secrets", "configmaps") for o in self.objects(kind, "-A", "-l", MANAGED) if ours(o)}

    def profile(self) -> dict:
        return self.cluster.get("spillwayprofile", "-n", "mig-src", "shared")

    def sources(self) -> list[dict]:
        return [o for kind in ("secrets", "configmaps") for o in self.objects(kind, "-n", "mig-src")
                if o["metadata"]["name"] in ("db", "settings", "leaving")]


def scrape(base: str) -> dict[str, float]:
    text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def total(samples: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in samples.items() if k.startswith(prefix))


@pytest.fixture(scope="module")
def world(real_cluster: Cluster, tmp_path_factory) -> World:
    archive = ORIGINAL / "spillway.xz"
    if not archive.is_file():
        pytest.skip(f"the original spillway is not here ({archive})")
    tmp = tmp_path_factory.mktemp("migration")
    original = tmp / "spillway-go"
    with open(original, "wb") as out:
        subprocess.run(["xz", "-dc", str(archive)], stdout=out, check=True)
    original.chmod(0o755)
    # A cluster where only the original was installed: its CRD (v1alpha1 alone).
    delete_crd(real_cluster)
    real_cluster.kubectl("apply", "-f", str(ORIGINAL / "crd.yaml"))
    wait_for("the SpillwayProfile CRD", lambda: real_cluster.kubectl(
        "get", "crd", "spillwayprofiles.spillway.kroy.io", "-o", "jsonpath={.status.acceptedNames.kind}",
        check=False).stdout == "SpillwayProfile")
    real_cluster.create_namespaces(*NAMESPACES)
    w = World(real_cluster, tmp, _built([]), original)
    yield w
    for process in w.processes:
        process.stop()
    for o in w.sources():
        real_cluster.kubectl("-n", "mig-src", "patch", o["kind"].lower(), o["metadata"]["name"], "--type=merge",
                             "-p", '{"metadata":{"finalizers":null}}', check=False)
    # The original's profile controller leaves its finalizer on the profile.
    real_cluster.kubectl("-n", "mig-src", "patch", "spillwayprofile", "shared", "--type=merge",
                         "-p", '{"metadata":{"finalizers":null}}', check=False)
    real_cluster.kubectl("delete", "namespace", *NAMESPACES[:-1], "--wait=false", check=False)


def can_unshare() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-m", "true"], capture_output=True).returncode == 0


def test_1_the_original_replicates_with_its_finalizer(world: World):
    world.cluster.apply(SOURCES)
    world.leader_elect = can_unshare()
    world.original_process = world.start_original("original", leader_elect=world.leader_elect)
    # db in both teams, settings in team-a and other, leaving in team-b, and the profile's copy
    # of settings in team-b.
    wait_for("the original's 6 replicas", lambda: len(world.replicas()) == 6, timeout=90)
    for source in world.sources():
        assert LEGACY_FINALIZER in source["metadata"]["finalizers"]
    replica = world.replicas()["Secret/mig-team-a/db"]
    assert replica["metadata"]["annotations"]["spillway.kroy.io/managed-by"] == "spillway"
    if world.leader_elect:
        wait_for("the original to hold the Lease", lambda: world.cluster.kubectl(
            "-n", "spillway-system", "get", "lease", "spillway.spillway.kroy.io", "-o",
            "jsonpath={.spec.holderIdentity}", check=False).stdout)


def test_2_spillwayd_with_the_originals_args_stands_by_while_the_original_leads(world: World):
    world.replica_versions = {k: o["metadata"]["resourceVersion"] for k, o in world.replicas().items()}
    if world.leader_elect:
        world.daemon, world.base = world.start_spillwayd("spillwayd")
        wait_for("spillwayd to be ready (caches synced) as a standby", lambda: '"msg":"ready"' in world.daemon.text())
        assert scrape(world.base)["spillway_leader"] == 0.0
        # The original still leads: spillwayd writes nothing, not even a finalizer.
        assert total(scrape(world.base), 'spillway_api_requests_total{verb="patch"') == 0
        assert all(s["metadata"]["finalizers"] == [LEGACY_FINALIZER] for s in world.sources())
    world.original_process.stop()  # like the pod of the old ReplicaSet going away
    # While no controller acts, one source is deleted: it hangs on the original's finalizer.
    world.cluster.kubectl("-n", "mig-src", "delete", "secret", "leaving", "--wait=false")
    if not world.leader_elect:
        world.daemon, world.base = world.start_spillwayd("spillwayd")


def test_3_spillwayd_takes_over_every_source_and_adopts_every_replica_without_a_write(world: World):
    def converged():
        sources = world.sources()
        return (len(sources) == 2 and all(s["metadata"].get("finalizers") == [FINALIZER] for s in sources)
                and world.profile()["metadata"].get("finalizers") == [FINALIZER]
                and "conditions" in world.profile().get("status", {}))
    wait_for("spillwayd to lead and take over the finalizers, the profile's too", converged, timeout=60)
    # The source deleted while no controller ran is gone, its replica first.
    assert "Secret/mig-team-b/leaving" not in world.replicas()
    samples = scrape(world.base)
    assert samples["spillway_leader"] == 1.0
    # No replica written: the only replica change is the delete of the deleted source's replica.
    changes = {k: v for k, v in samples.items() if k.startswith("spillway_reconcile_changes_total")}
    assert changes == {'spillway_reconcile_changes_total{kind="Secret",action="delete"}': 1.0}, changes
    after = {k: o["metadata"]["resourceVersion"] for k, o in world.replicas().items()}
    kept = {k: v for k, v in world.replica_versions.items() if k != "Secret/mig-team-b/leaving"}
    assert after == kept, "a replica of the original was rewritten"
    # One patch per source: the finalizer replaced (2), or released after its replica's delete (1);
    # on the profile, its finalizer replaced (1) and its status written (1).
    assert total(samples, 'spillway_api_requests_total{verb="patch"') == 5
    assert total(samples, 'spillway_api_requests_total{verb="delete"') == 1
    assert "finalizer-takeover" in world.daemon.text()
    # The original's profile replicas (profile-ref, no source-from) are adopted as they are (their
    # resourceVersions are unchanged above). mig-team-a's settings went to whichever of the
    # original's two controllers wrote first; spillwayd leaves it to that owner, and the profile's
    # status says which.
    replicas = world.replicas()
    assert replicas["ConfigMap/mig-team-b/settings"]["metadata"]["annotations"]["spillway.kroy.io/profile-ref"] == "mig-src/shared"
    team_a = replicas["ConfigMap/mig-team-a/settings"]["metadata"]["annotations"]
    conditions = {c["type"]: c for c in world.profile()["status"]["conditions"]}
    assert conditions["SourcesAvailable"]["status"] == "True"
    if team_a.get("spillway.kroy.io/profile-ref") == "mig-src/shared":
        assert conditions["Ready"]["status"] == "True", conditions
        assert world.profile()["status"]["replicatedNamespaces"] == ["mig-team-a", "mig-team-b"]
    else:
        assert team_a["spillway.kroy.io/source-from"] == "ConfigMap/mig-src/settings"
        assert conditions["Ready"]["reason"] == "TargetsHeld" and "mig-team-a/settings" in conditions["Ready"]["message"]
        assert world.profile()["status"]["replicatedNamespaces"] == ["mig-team-b"]


def test_4_spillwayd_keeps_replicating_adopted_sources(world: World):
    world.cluster.kubectl("-n", "mig-src", "patch", "secret", "db", "--type=merge",
                          "-p", '{"stringData":{"password":"rotated"}}')
    wait_for("the rotated password in mig-team-b", lambda: world.cluster.kubectl(
        "-n", "mig-team-b", "get", "secret", "db", "-o", "jsonpath={.data.password}").stdout == "cm90YXRlZA==")


def test_4b_a_service_account_token_is_never_replicated(world: World):
    """--deny-secret-types' default on a real server: the token controller fills the Secret,
    spillwayd posts a Warning and writes nothing (no replica, no finalizer)."""
    world.cluster.apply(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "token", "namespace": "mig-src",
                     "annotations": {"kubernetes.io/service-account.name": "default",
                                     "spillway.kroy.io/replicate-to": "mig-team-a"}}}))

    def warned():
        events = world.cluster.kubectl("-n", "mig-src", "get", "events", "--field-selector",
                                       "involvedObject.name=token,reason=ReplicationSkipped", "-o", "json").stdout
        return [e for e in json.loads(events)["items"] if e["type"] == "Warning"]
    (event, *_) = wait_for("the Warning on the token", warned, timeout=60)
    assert event["message"] == ("Secret type kubernetes.io/service-account-token is never replicated "
                                "(--deny-secret-types); nothing was written")
    assert world.cluster.kubectl("-n", "mig-team-a", "get", "secret", "token", check=False).returncode != 0
    assert not world.cluster.get("secret", "-n", "mig-src", "token")["metadata"].get("finalizers")
    world.cluster.kubectl("-n", "mig-src", "delete", "secret", "token")


def test_5_back_to_the_original_after_spillwayd_uninstall(world: World):
    assert world.daemon.stop() == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPILLWAY_")}
    env["SPILLWAY_CONFIG"] = str(world.tmp / "empty.conf")
    done = subprocess.run([str(world.spillwayd), "uninstall", "--kubeconfig", str(world.cluster.kubeconfig)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert all(not s["metadata"].get("finalizers") for s in world.sources())
    assert not world.profile()["metadata"].get("finalizers")
    # spillwayd released the shared Lease when it stopped: the original takes it at once.
    back = world.start_original("original-again", leader_elect=world.leader_elect)
    wait_for("the original to put its finalizer back", lambda: all(
        s["metadata"].get("finalizers") == [LEGACY_FINALIZER] for s in world.sources()), timeout=30)
    world.back = back


def test_6_every_source_can_be_deleted(world: World):
    world.cluster.kubectl("-n", "mig-src", "delete", "secret/db", "configmap/settings", "--wait=false")
    wait_for("every source gone", lambda: world.sources() == [], timeout=60)
    wait_for("every replica gone", lambda: world.replicas() == {}, timeout=60)
    world.back.stop()
