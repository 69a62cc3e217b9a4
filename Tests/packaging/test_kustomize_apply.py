"""MIGRATING.md's kustomize path on a real kube-apiserver: `kubectl apply -k config/default` over
the original's CRD and a profile, and back with the commands the page gives; the profile
survives both ways."""

from __future__ import annotations

import yaml

from conftest import REPO
from realcluster import ORIGINAL, Cluster
from test_helm_upgrade import delete_crd

PROFILE = {"apiVersion": "spillway.kroy.io/v1alpha1", "kind": "SpillwayProfile",
           "metadata": {"name": "keep-me", "namespace": "kz-src"},
           "spec": {"sources": [{"kind": "ConfigMap", "name": "x"}]}}


def test_apply_config_default_over_the_originals_crd_and_back(real_cluster: Cluster):
    delete_crd(real_cluster)
    real_cluster.kubectl("apply", "-f", str(ORIGINAL / "crd.yaml"))
    real_cluster.kubectl("wait", "--for=condition=Established", "crd/spillwayprofiles.spillway.kroy.io")
    real_cluster.create_namespaces("kz-src")
    real_cluster.apply(yaml.safe_dump(PROFILE))

    real_cluster.kubectl("apply", "-k", str(REPO / "config" / "default"))
    deployment = real_cluster.get("deployment", "-n", "spillway-system", "spillway")
    assert "--leader-elect-name=spillway.spillway.kroy.io" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert real_cluster.get("spillwayprofile", "-n", "kz-src", "keep-me")["metadata"]["name"] == "keep-me"

    # Back (MIGRATING.md): stop spillwayd, then its leftovers; never `kubectl delete -k`.
    real_cluster.kubectl("-n", "spillway-system", "delete", "deployment", "spillway")
    real_cluster.kubectl("delete", "clusterrolebinding", "spillway")
    real_cluster.kubectl("delete", "clusterrole", "spillway")
    real_cluster.kubectl("-n", "spillway-system", "delete", "serviceaccount", "spillway")
    real_cluster.kubectl("-n", "spillway-system", "delete", "rolebinding,role", "spillway-leader-election")
    real_cluster.kubectl("-n", "spillway-system", "delete", "service", "spillway-metrics")
    assert real_cluster.get("spillwayprofile", "-n", "kz-src", "keep-me")["metadata"]["name"] == "keep-me"
    real_cluster.kubectl("delete", "namespace", "kz-src", "--wait=false")
