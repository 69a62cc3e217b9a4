"""`helm upgrade` from a release of the original spillway chart, with Helm's own engine
(helm-python-sdk) against a real kube-apiserver: the Deployment's selector is immutable, so the
upgrade works only if this chart keeps the original's; the SpillwayProfile CRD and its profiles
survive the upgrade and the uninstall; a CRD that kubectl put there does not block an install.

The original release is stood in for by a chart with the original's identity (name `spillway`,
Deployment `spillway` with its selector labels, the CRD kept with `helm.sh/resource-policy: keep`):
what Kubernetes and Helm compare during an upgrade."""

from __future__ import annotations

import helm_python as helm
import pytest
import yaml

from conftest import CHART
from realcluster import ORIGINAL, Cluster, wait_for
from test_chart import ORIGINAL_SELECTOR, ORIGINAL_VALUES

NAMESPACE = "helm-spillway"
NO_HOOK = {"uninstallHook": {"enabled": False}}  # no kubelet here: a hook Job would never finish


def original_release_chart(directory, crd: dict) -> None:
    (directory / "templates").mkdir(parents=True)
    (directory / "Chart.yaml").write_text("apiVersion: v2\nname: spillway\nversion: 0.4.4\nappVersion: \"0.4.4\"\n")
    crd = {**crd, "metadata": {**crd["metadata"], "annotations": {"helm.sh/resource-policy": "keep"}}}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "spillway", "namespace": NAMESPACE},
        "spec": {"replicas": 2, "selector": {"matchLabels": ORIGINAL_SELECTOR},
                 "template": {"metadata": {"labels": ORIGINAL_SELECTOR},
                              "spec": {"containers": [{"name": "manager", "image": "example.invalid/spillway:0.4.4"}]}}},
    }
    (directory / "templates" / "objects.yaml").write_text(yaml.safe_dump_all([crd, deployment]))


def delete_crd(cluster: Cluster) -> None:
    """These tests start without the CRD; on a cluster whose profiles are someone's, they skip."""
    listed = cluster.kubectl("get", "spillwayprofiles", "-A", "-o", "jsonpath={.items[*].metadata.namespace}", check=False)
    # This suite's own namespaces (another test's profile may still be in a namespace being deleted).
    foreign = set(listed.stdout.split()) - {NAMESPACE, "mig-src", "kz-src", "crd-profiles"} if listed.returncode == 0 else set()
    if foreign:
        pytest.skip(f"SpillwayProfiles exist in {sorted(foreign)}: deleting their CRD would delete them")
    cluster.kubectl("delete", "crd", "spillwayprofiles.spillway.kroy.io", "--ignore-not-found", "--wait=true")


@pytest.fixture()
def helm_config(real_cluster: Cluster):
    config = helm.Config(kubeconfig_path=str(real_cluster.kubeconfig), namespace=NAMESPACE)
    yield config
    try:
        config.uninstall("spillway", ignore_not_found=True, timeout=60)
    except helm.HelmError:
        pass


def test_helm_upgrade_over_the_original_release_keeps_the_crd_and_its_profiles(real_cluster: Cluster, helm_config,
                                                                             tmp_path):
    crd = yaml.safe_load((ORIGINAL / "crd.yaml").read_text())
    delete_crd(real_cluster)
    original_release_chart(tmp_path / "original", crd)
    helm_config.install(str(tmp_path / "original"), "spillway", namespace=NAMESPACE, create_namespace=True)
    wait_for("the CRD to be served", lambda: real_cluster.kubectl(
        "get", "crd", crd["metadata"]["name"], "-o", "jsonpath={.status.acceptedNames.kind}", check=False).stdout)
    real_cluster.apply(yaml.safe_dump({"apiVersion": "spillway.kroy.io/v1alpha1", "kind": "SpillwayProfile",
                                       "metadata": {"name": "keep-me", "namespace": NAMESPACE},
                                       "spec": {"sources": [{"kind": "Secret", "name": "x"}]}}))

    # The original's values file, as its users have it (orphanAuditInterval removed, MIGRATING.md).
    with helm.Chart.load(CHART) as chart:
        helm_config.upgrade(chart, "spillway", {**ORIGINAL_VALUES, **NO_HOOK}, namespace=NAMESPACE)
    deployment = real_cluster.get("deployment", "-n", NAMESPACE, "spillway")
    assert deployment["spec"]["selector"]["matchLabels"] == ORIGINAL_SELECTOR
    assert deployment["spec"]["template"]["spec"]["containers"][0]["name"] == "spillwayd"
    assert real_cluster.get("spillwayprofile", "-n", NAMESPACE, "keep-me")["metadata"]["name"] == "keep-me"

    helm_config.uninstall("spillway", timeout=60)
    assert real_cluster.kubectl("get", "deployment", "-n", NAMESPACE, "spillway", check=False).returncode != 0
    # The CRD is kept (resource-policy keep), and so is every profile.
    assert real_cluster.get("spillwayprofile", "-n", NAMESPACE, "keep-me")["metadata"]["name"] == "keep-me"


def test_a_crd_applied_with_kubectl_does_not_block_helm_install(real_cluster: Cluster, helm_config):
    delete_crd(real_cluster)
    real_cluster.kubectl("apply", "-f", str(ORIGINAL / "crd.yaml"))
    with helm.Chart.load(CHART) as chart:
        helm_config.install(chart, "spillway", NO_HOOK, namespace=NAMESPACE, create_namespace=True)
    crd = real_cluster.get("crd", "spillwayprofiles.spillway.kroy.io")
    assert "meta.helm.sh/release-name" not in crd["metadata"].get("annotations", {}), "left as kubectl made it"


def test_install_without_create_namespace_needs_the_namespace_first(real_cluster: Cluster, tmp_path):
    """Helm stores the release in its namespace before it creates anything, so `createNamespace`
    cannot stand in for `--create-namespace` (docs/install.md says to pass it)."""
    config = helm.Config(kubeconfig_path=str(real_cluster.kubeconfig), namespace="helm-missing")
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmError, match='namespaces "helm-missing" not found'):
        config.install(chart, "spillway", NO_HOOK, namespace="helm-missing")
