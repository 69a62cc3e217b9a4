"""The chart's optional ValidatingAdmissionPolicy, enforced by a real kube-apiserver (admission on):
who may ask for replication, who may name a protected namespace, and that spillwayd's own writes
and existing sources are never refused."""

from __future__ import annotations

import time

import pytest
import yaml

from conftest import render
from realcluster import Cluster, wait_for

VALUES = {"controller": {"protectedNamespaces": "kube-system,kube-public"},
          "admissionPolicy": {"enabled": True, "sourceNamespaces": ["vap-platform", "vap-team"],
                              "protectedTargetSourceNamespaces": ["vap-platform"]}}


def secret(namespace: str, name: str, annotations: dict[str, str]) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Secret",
                           "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
                           "stringData": {"k": "v"}})


def create(cluster: Cluster, manifest: str):
    return cluster.kubectl("create", "-f", "-", input=manifest, check=False)


@pytest.fixture(scope="module")
def policy(real_cluster: Cluster):
    served = real_cluster.kubectl("api-resources", "--api-group=admissionregistration.k8s.io", "-o", "name").stdout
    if "validatingadmissionpolicies.admissionregistration.k8s.io" not in served.split():
        pytest.skip("this API server does not serve admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy")
    objects = [o for o in render(VALUES) if o["kind"].startswith("ValidatingAdmissionPolicy")]
    assert len(objects) == 2
    manifest = yaml.safe_dump_all(objects)
    real_cluster.create_namespaces("vap-platform", "vap-team", "vap-other")
    real_cluster.apply(manifest)

    # The policy is compiled and enforced a moment after it is stored: wait until it refuses.
    def enforced():
        probe = create(real_cluster, secret("vap-other", f"probe-{time.monotonic_ns()}",
                                            {"spillway.kroy.io/replicate-to": "x"}))
        return probe.returncode != 0
    wait_for("the ValidatingAdmissionPolicy to be enforced", enforced, timeout=60, interval=1)
    yield real_cluster
    real_cluster.kubectl("delete", "-f", "-", input=manifest, check=False)
    # Sources left behind would be replicated by the next test's controllers.
    for namespace in ("vap-platform", "vap-team", "vap-other"):
        real_cluster.kubectl("-n", namespace, "delete", "secrets", "--all", check=False)
    real_cluster.kubectl("delete", "namespace", "vap-platform", "vap-team", "vap-other", "--wait=false", check=False)


def test_only_the_listed_namespaces_may_ask_for_replication(policy: Cluster):
    refused = create(policy, secret("vap-other", "db", {"spillway.kroy.io/replicate-to": "team-*"}))
    assert refused.returncode != 0
    assert "spillway replication is not allowed from namespace vap-other" in refused.stderr
    refused = create(policy, secret("vap-other", "db2", {"spillway.kroy.io/replicate-to-matching": "env=prod"}))
    assert "not allowed from namespace vap-other" in refused.stderr
    assert create(policy, secret("vap-team", "db", {"spillway.kroy.io/replicate-to": "team-*"})).returncode == 0
    # Objects that do not ask for replication are none of its business.
    assert create(policy, secret("vap-other", "plain", {"note": "x"})).returncode == 0


def test_naming_a_protected_namespace_needs_a_trusted_source_namespace(policy: Cluster):
    refused = create(policy, secret("vap-team", "to-system", {"spillway.kroy.io/replicate-to": "payments, kube-system"}))
    assert refused.returncode != 0
    assert "names a protected namespace (kube-system, kube-public)" in refused.stderr
    # Wildcards never reach a protected namespace (spillwayd enforces that), so they pass.
    assert create(policy, secret("vap-team", "to-all", {"spillway.kroy.io/replicate-to": "all"})).returncode == 0
    assert create(policy, secret("vap-platform", "to-system",
                                 {"spillway.kroy.io/replicate-to": "kube-system"})).returncode == 0


def test_updates_that_keep_the_annotations_are_never_refused(policy: Cluster):
    """spillwayd patches finalizers and expired-namespaces on sources; a source that existed before
    the policy (or whose namespace left the list) must stay writable so it can be cleaned up."""
    assert create(policy, secret("vap-team", "kept", {"spillway.kroy.io/replicate-to": "kube-system"})).returncode != 0
    assert create(policy, secret("vap-platform", "kept", {"spillway.kroy.io/replicate-to": "kube-system"})).returncode == 0
    patch = '{"metadata":{"finalizers":["spillway.kroy.io/replicas"]}}'
    assert policy.kubectl("-n", "vap-platform", "patch", "secret", "kept", "--type=merge", "-p", patch,
                          check=False).returncode == 0
    # Changing what it names is checked again.
    changed = policy.kubectl("-n", "vap-team", "annotate", "secret", "db", "--overwrite",
                             "spillway.kroy.io/replicate-to=kube-public", check=False)
    assert changed.returncode != 0 and "names a protected namespace" in changed.stderr
    policy.kubectl("-n", "vap-platform", "patch", "secret", "kept", "--type=merge",
                   "-p", '{"metadata":{"finalizers":null}}')

