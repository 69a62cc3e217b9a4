"""examples/admission-policies/: the original spillway's Kyverno examples re-done as
ValidatingAdmissionPolicies for this contract, enforced by a real kube-apiserver. (A module of its
own: the chart's policy of test_admission_policy.py is gone by the time these run.)"""

from __future__ import annotations

import time

import pytest

from conftest import REPO
from realcluster import Cluster, wait_for
from test_admission_policy import create, secret


@pytest.mark.parametrize("example, annotations, complaint", [
    ("restrict-wildcard-targets.yaml", {"spillway.kroy.io/replicate-to": "payments, team-*"}, "may use all, * or globs only"),
    ("restrict-force-adopt.yaml", {"spillway.kroy.io/replicate-to": "payments", "spillway.kroy.io/force-adopt": "true"},
     "force-adopt is allowed only in platform namespaces"),
])
def test_the_admission_policy_examples_refuse_tenants_and_admit_platform(real_cluster: Cluster, example, annotations,
                                                                       complaint):
    path = REPO / "examples" / "admission-policies" / example
    real_cluster.create_namespaces("platform", "vapx-tenant")
    real_cluster.kubectl("apply", "-f", str(path))
    try:
        def refused():
            probe = create(real_cluster, secret("vapx-tenant", f"probe-{time.monotonic_ns()}", annotations))
            return complaint in probe.stderr
        wait_for(f"{example} to be enforced", refused, timeout=60, interval=1)
        assert create(real_cluster, secret("platform", f"ok-{time.monotonic_ns()}", annotations)).returncode == 0
        assert create(real_cluster, secret("vapx-tenant", f"named-{time.monotonic_ns()}",
                                           {"spillway.kroy.io/replicate-to": "payments"})).returncode == 0
    finally:
        real_cluster.kubectl("delete", "-f", str(path), check=False)
        for namespace in ("platform", "vapx-tenant"):
            real_cluster.kubectl("-n", namespace, "delete", "secrets", "--all", check=False)
