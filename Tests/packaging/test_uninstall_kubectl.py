"""packaging/uninstall-with-kubectl.sh on a real control plane: spillway's finalizers (spillwayd's
and the original's, on sources and SpillwayProfiles) go, anyone else's stay, and the sources can
then be deleted."""

from __future__ import annotations

import os
import subprocess

import yaml

from conftest import REPO
from realcluster import Cluster, wait_for

SCRIPT = REPO / "packaging" / "uninstall-with-kubectl.sh"
CRD = REPO / "charts" / "spillway" / "files" / "crds" / "spillwayprofiles.spillway.kroy.io.yaml"


def test_kubectl_only_uninstall_releases_spillways_finalizers_and_no_others(real_cluster: Cluster):
    real_cluster.create_namespaces("unk-src", "unk-team")
    objects = [
        ("Secret", "ours", ["spillway.kroy.io/replicas"]),
        ("Secret", "original", ["example.com/keep", "spillway.kroy.io/finalizer"]),
        ("ConfigMap", "both", ["spillway.kroy.io/finalizer", "spillway.kroy.io/replicas"]),
        ("ConfigMap", "foreign", ["example.com/keep"]),
    ]
    real_cluster.apply(yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": "unk-src", "finalizers": finalizers}}
        for kind, name, finalizers in objects]))
    real_cluster.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "ours", "namespace": "unk-team", "labels": {"spillway.kroy.io/managed-by": "spillway"}}}))
    real_cluster.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "pulled", "namespace": "unk-team",
        "labels": {"spillway.kroy.io/managed-by": "spillway", "spillway.kroy.io/pulled": "true"}}}))
    real_cluster.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "another-hosts", "namespace": "unk-team", "labels": {"spillway.kroy.io/managed-by": "spillway"},
        "annotations": {"spillway.kroy.io/source-cluster": "mgmt", "spillway.kroy.io/source-from": "ConfigMap/platform/another-hosts"}}}))
    # A SpillwayProfile holds the same finalizer.
    real_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    real_cluster.kubectl("wait", "--for=condition=Established", "crd/spillwayprofiles.spillway.kroy.io")
    real_cluster.apply(yaml.safe_dump({"apiVersion": "spillway.kroy.io/v1", "kind": "SpillwayProfile", "metadata": {
        "name": "profile", "namespace": "unk-src", "finalizers": ["spillway.kroy.io/replicas", "example.com/keep"]},
        "spec": {"targetNamespaces": ["unk-team"], "sources": [{"kind": "Secret", "name": "ours"}]}}))

    env = {**os.environ, "KUBECTL": f"kubectl --kubeconfig {real_cluster.kubeconfig}"}
    done = subprocess.run([str(SCRIPT), "--delete-replicas"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "finalizer removed  secrets unk-src/ours" in done.stdout
    assert "foreign" not in done.stdout

    def finalizers(kind: str, name: str) -> list[str]:
        return real_cluster.get(kind, "-n", "unk-src", name)["metadata"].get("finalizers", [])
    assert finalizers("secret", "ours") == []
    assert finalizers("secret", "original") == ["example.com/keep"]
    assert finalizers("configmap", "both") == []
    assert finalizers("configmap", "foreign") == ["example.com/keep"]
    assert finalizers("spillwayprofile", "profile") == ["example.com/keep"]
    real_cluster.kubectl("-n", "unk-src", "patch", "spillwayprofile", "profile", "--type=merge",
                         "-p", '{"metadata":{"finalizers":null}}')
    assert real_cluster.kubectl("-n", "unk-team", "get", "secret", "ours", check=False).returncode != 0, \
        "--delete-replicas deletes the replicas"
    assert real_cluster.kubectl("-n", "unk-team", "get", "secret", "pulled", check=False).returncode == 0, \
        "a pulled copy is its namespace's own object: never deleted"
    assert real_cluster.kubectl("-n", "unk-team", "get", "configmap", "another-hosts", check=False).returncode == 0, \
        "a replica another cluster's management host wrote here is that host's: never deleted"

    real_cluster.kubectl("-n", "unk-src", "delete", "secret/ours", "configmap/both", "--wait=false")
    mine = {"secret/ours", "secret/original", "configmap/both", "configmap/foreign"}
    wait_for("the released sources to go", lambda: mine.intersection(real_cluster.kubectl(
        "-n", "unk-src", "get", "secret,configmap", "-o", "name").stdout.split()) == {"configmap/foreign", "secret/original"})
    for kind, name in (("secret", "original"), ("configmap", "foreign")):
        real_cluster.kubectl("-n", "unk-src", "patch", kind, name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    real_cluster.kubectl("delete", "namespace", "unk-src", "unk-team", "--wait=false")


def test_apt_remove_releases_the_finalizers_of_the_cluster_it_served(real_cluster: Cluster, tmp_path):
    """packaging/deb/prerm on `remove`: with the host's kubeconfig, `spillwayd uninstall` runs, so no
    source is left holding spillway's finalizer; SPILLWAY_KEEP_FINALIZERS=1 skips it."""
    from conftest import _built
    real_cluster.create_namespaces("apt-src")
    real_cluster.apply(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "served", "namespace": "apt-src", "finalizers": ["spillway.kroy.io/replicas", "example.com/keep"]}}))
    root = tmp_path / "root"
    (root / "etc" / "spillway").mkdir(parents=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "spillwayd").symlink_to(_built([]))
    (root / "etc" / "spillway" / "kubeconfig").write_text(real_cluster.kubeconfig.read_text())
    (root / "etc" / "spillway" / "spillway.conf").write_text((REPO / "systemd" / "spillway.conf").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPILLWAY_")}
    env["DPKG_ROOT"] = str(root)
    prerm = REPO / "packaging" / "deb" / "prerm"

    def finalizers() -> list[str]:
        return real_cluster.get("configmap", "-n", "apt-src", "served")["metadata"].get("finalizers", [])

    kept = subprocess.run(["sh", str(prerm), "remove"], capture_output=True, text=True, timeout=120,
                          env={**env, "SPILLWAY_KEEP_FINALIZERS": "1"})
    assert kept.returncode == 0 and finalizers() == ["spillway.kroy.io/replicas", "example.com/keep"]
    upgrade = subprocess.run(["sh", str(prerm), "upgrade", "0.5.1-1"], capture_output=True, text=True, timeout=120, env=env)
    assert upgrade.returncode == 0 and "spillway.kroy.io/replicas" in finalizers(), "an upgrade keeps them"
    removed = subprocess.run(["sh", str(prerm), "remove"], capture_output=True, text=True, timeout=120, env=env)
    assert removed.returncode == 0, removed.stderr
    assert finalizers() == ["example.com/keep"]
    real_cluster.kubectl("-n", "apt-src", "patch", "configmap", "served", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    real_cluster.kubectl("delete", "namespace", "apt-src", "--wait=false")
