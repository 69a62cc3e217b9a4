"""The SpillwayProfile CRD (charts/spillway/files/crds/) on a real kube-apiserver: the manifests a
user writes, in v1alpha1 as the original's examples do and in v1, are accepted; what spillwayd
could only report in a condition is refused at admission by the schema and the CEL rules, with
a message naming the field; the status subresource behaves as the emulator serves it."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import REPO
from realcluster import Cluster

CRD = REPO / "charts" / "spillway" / "files" / "crds" / "spillwayprofiles.spillway.kroy.io.yaml"
NAMESPACE = "crd-profiles"


@pytest.fixture(scope="module")
def cluster(real_cluster: Cluster):
    real_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    real_cluster.kubectl("wait", "--for=condition=Established", "crd/spillwayprofiles.spillway.kroy.io")
    real_cluster.create_namespaces(NAMESPACE)
    yield real_cluster
    real_cluster.kubectl("delete", "spillwayprofiles", "--all", "-n", NAMESPACE, "--wait=true", check=False)
    real_cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def profile(spec: dict, name: str = "p", version: str = "v1") -> str:
    return yaml.safe_dump({"apiVersion": f"spillway.kroy.io/{version}", "kind": "SpillwayProfile",
                           "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec})


def dry_run(cluster: Cluster, manifest: str):
    return cluster.kubectl("create", "--dry-run=server", "-f", "-", input=manifest, check=False)


VALID = [
    ("v1alpha1", {"targetNamespaces": ["team-*"], "targetSelector": {"matchLabels": {"environment": "production"}},
                  "excludeNamespaces": ["team-legacy"],
                  "sources": [{"kind": "Secret", "name": "registry-pull-secret"},
                              {"kind": "ConfigMap", "name": "shared-env", "excludeKeys": ["SENTRY_DSN"]}]}),
    ("v1", {"targetSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["ops"]},
                                                    {"key": "example.com/legacy", "operator": "DoesNotExist"}]},
            "sources": [{"kind": "Secret", "name": "service-credentials", "includeKeys": ["readonly-token", "ca.crt"]}]}),
    ("v1", {"targetNamespaces": ["all"], "sources": [{"kind": "ConfigMap", "name": "a.b-c"}]}),
    ("v1", {"targetNamespaces": ["*", "app-[a-c]?", "app-[!x]*"], "sources": [{"kind": "Secret", "name": "x"}]}),
    # targetClusters: local, context names as kubeconfigs spell them, and globs over them.
    ("v1", {"targetNamespaces": ["team-*"], "targetClusters": ["local", "prod-eu", "edge-[a-c]?", "*",
                                                              "arn:aws:eks:eu-west-1:1234:cluster/prod", "gke_proj_zone_c"],
            "sources": [{"kind": "Secret", "name": "x"}]}),
    ("v1alpha1", {"targetNamespaces": ["team-*"], "targetClusters": ["prod-*"], "sources": [{"kind": "Secret", "name": "x"}]}),
]


@pytest.mark.parametrize("version,spec", VALID)
def test_valid_profiles_are_accepted(cluster: Cluster, version, spec):
    proc = dry_run(cluster, profile(spec, version=version))
    assert proc.returncode == 0, proc.stderr


INVALID = [
    ("an unclosed glob", {"targetNamespaces": ["team-[a"], "sources": [{"kind": "Secret", "name": "x"}]},
     "a glob over namespace names"),
    ("an upper-case namespace", {"targetNamespaces": ["Team"], "sources": [{"kind": "Secret", "name": "x"}]},
     "a glob over namespace names"),
    ("an exclusion that is no glob", {"excludeNamespaces": ["a,b"], "sources": [{"kind": "Secret", "name": "x"}]},
     "excludeNamespaces"),
    ("an empty selector", {"targetSelector": {}, "sources": [{"kind": "Secret", "name": "x"}]},
     "an empty targetSelector would select every namespace"),
    ("In without values", {"targetSelector": {"matchExpressions": [{"key": "k", "operator": "In"}]},
                           "sources": [{"kind": "Secret", "name": "x"}]}, "values must be given for In and NotIn"),
    ("Exists with values", {"targetSelector": {"matchExpressions": [{"key": "k", "operator": "Exists", "values": ["v"]}]},
                            "sources": [{"kind": "Secret", "name": "x"}]}, "left out for Exists"),
    ("an unknown operator", {"targetSelector": {"matchExpressions": [{"key": "k", "operator": "Gt", "values": ["1"]}]},
                             "sources": [{"kind": "Secret", "name": "x"}]}, "operator"),
    ("a bad label key", {"targetSelector": {"matchLabels": {"bad key": "v"}}, "sources": [{"kind": "Secret", "name": "x"}]},
     "label key"),
    ("no source", {"targetNamespaces": ["a"], "sources": []}, "spec.sources"),
    ("a Pod", {"targetNamespaces": ["a"], "sources": [{"kind": "Pod", "name": "x"}]}, "spec.sources[0].kind"),
    ("a bad name", {"targetNamespaces": ["a"], "sources": [{"kind": "Secret", "name": "Not_A_Name"}]}, "spec.sources[0].name"),
    ("a bad data key", {"targetNamespaces": ["a"], "sources": [{"kind": "Secret", "name": "x", "includeKeys": ["a b"]}]},
     "includeKeys"),
    ("an empty targetClusters", {"targetClusters": [], "sources": [{"kind": "Secret", "name": "x"}]},
     "spec.targetClusters in body should have at least 1 items"),
    ("two clusters in one entry", {"targetClusters": ["prod-eu,prod-us"], "sources": [{"kind": "Secret", "name": "x"}]},
     "a glob over context names"),
    ("an unclosed cluster glob", {"targetClusters": ["edge-[a"], "sources": [{"kind": "Secret", "name": "x"}]},
     "spec.targetClusters[0]"),
    ("a cluster name with a space", {"targetClusters": ["prod eu"], "sources": [{"kind": "Secret", "name": "x"}]},
     "must be local, a kubeconfig context name"),
    ("a cluster listed twice", {"targetClusters": ["prod", "prod"], "sources": [{"kind": "Secret", "name": "x"}]},
     "Duplicate value"),
    ("a source listed twice", {"targetNamespaces": ["a"], "sources": [{"kind": "Secret", "name": "x"},
                                                                      {"kind": "Secret", "name": "x"}]},
     "Duplicate value"),
]


@pytest.mark.parametrize("what,spec,message", INVALID, ids=[case[0] for case in INVALID])
def test_invalid_profiles_are_refused_naming_the_problem(cluster: Cluster, what, spec, message):
    for version in ("v1alpha1", "v1"):
        proc = dry_run(cluster, profile(spec, version=version))
        assert proc.returncode != 0, f"{what} was accepted at {version}"
        assert message in proc.stderr, proc.stderr


def test_columns_status_subresource_and_generation(cluster: Cluster):
    spec = {"targetNamespaces": ["team-*"], "sources": [{"kind": "Secret", "name": "db"}]}
    cluster.apply(profile(spec, name="status", version="v1alpha1"))
    # Both versions serve the one object; kubectl prefers v1.
    stored = cluster.get("spillwayprofiles.v1alpha1.spillway.kroy.io", "-n", NAMESPACE, "status")
    assert stored["apiVersion"] == "spillway.kroy.io/v1alpha1" and stored["metadata"]["generation"] == 1
    assert cluster.get("swp", "-n", NAMESPACE, "status")["apiVersion"] == "spillway.kroy.io/v1"

    # The status subresource writes the status and nothing else; no new generation.
    status = {"replicatedNamespaces": ["team-a"], "targetCount": 1, "sources": "1/1",
              "conditions": [{"type": "Ready", "status": "True", "reason": "Replicated", "message": "ok",
                              "observedGeneration": 1, "lastTransitionTime": "2026-01-02T03:04:05Z"}]}
    cluster.kubectl("patch", "swp", "status", "-n", NAMESPACE, "--subresource=status", "--type=merge",
                    "-p", json.dumps({"status": status, "spec": {"targetNamespaces": ["ignored"]}}))
    stored = cluster.get("swp", "-n", NAMESPACE, "status")
    assert stored["status"]["targetCount"] == 1
    assert stored["spec"]["targetNamespaces"] == ["team-*"] and stored["metadata"]["generation"] == 1

    # The main resource ignores the status; a spec change makes a new generation.
    cluster.kubectl("patch", "swp", "status", "-n", NAMESPACE, "--type=merge",
                    "-p", json.dumps({"status": {"targetCount": 7}, "spec": {"targetNamespaces": ["team-b"]}}))
    stored = cluster.get("swp", "-n", NAMESPACE, "status")
    assert stored["status"]["targetCount"] == 1 and stored["metadata"]["generation"] == 2
    cluster.kubectl("label", "swp", "status", "-n", NAMESPACE, "x=y")
    assert cluster.get("swp", "-n", NAMESPACE, "status")["metadata"]["generation"] == 2, "metadata is not the spec"

    table = cluster.kubectl("get", "swp", "-n", NAMESPACE, "status").stdout.splitlines()
    assert table[0].split() == ["NAME", "TARGETS", "SOURCES", "READY", "AGE"], table
    assert table[1].split()[:4] == ["status", "1", "1/1", "True"], table


def test_target_clusters_are_stored_and_shown_in_the_wide_column(cluster: Cluster):
    spec = {"targetNamespaces": ["team-*"], "targetClusters": ["local", "prod-*"], "sources": [{"kind": "Secret", "name": "db"}]}
    cluster.apply(profile(spec, name="clusters", version="v1alpha1"))
    assert cluster.get("swp", "-n", NAMESPACE, "clusters")["spec"]["targetClusters"] == ["local", "prod-*"]
    table = cluster.kubectl("get", "swp", "-n", NAMESPACE, "clusters", "-o", "wide").stdout.splitlines()
    assert table[0].split() == ["NAME", "TARGETS", "SOURCES", "CLUSTERS", "READY", "AGE"], table
    assert '["local","prod-*"]' in table[1], table
    # Without -o wide the columns are as they were.
    assert cluster.kubectl("get", "swp", "-n", NAMESPACE, "clusters").stdout.splitlines()[0].split() == \
        ["NAME", "TARGETS", "SOURCES", "READY", "AGE"]
