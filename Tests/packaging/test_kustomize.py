"""packaging/kustomize/default rendered by the kustomize embedded in kubectl: the same controller
as the Helm chart's defaults, in substance (RBAC rules, command line, probes, security context)."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from conftest import NAMESPACE, REPO, find, render, run

KUSTOMIZE = REPO / "packaging" / "kustomize" / "default"


@pytest.fixture(scope="module")
def kustomized() -> list[dict]:
    out = run(["kubectl", "kustomize", str(KUSTOMIZE)]).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module")
def charted() -> list[dict]:
    return [o for o in render() if "helm.sh/hook" not in o["metadata"].get("annotations", {})]


def pod_spec(objects: list[dict]) -> dict:
    return find(objects, "Deployment")["spec"]["template"]["spec"]


def test_kustomize_renders_the_same_kinds_of_objects_as_the_chart(kustomized, charted):
    assert sorted((o["kind"], o["metadata"]["name"]) for o in kustomized) == \
        sorted((o["kind"], o["metadata"]["name"]) for o in charted)


def test_everything_namespaced_lands_in_spillway_system(kustomized):
    assert find(kustomized, "Namespace")["metadata"]["name"] == NAMESPACE
    for o in kustomized:
        if o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"):
            assert o["metadata"]["namespace"] == NAMESPACE, o["kind"]
    for binding in (find(kustomized, "ClusterRoleBinding"), find(kustomized, "RoleBinding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "spillway", "namespace": NAMESPACE}]


@pytest.mark.parametrize("kind", ["ClusterRole", "Role"])
def test_rbac_rules_match_the_chart(kustomized, charted, kind):
    assert find(kustomized, kind)["rules"] == find(charted, kind)["rules"]


@pytest.mark.parametrize("field", ["args", "env", "ports", "livenessProbe", "readinessProbe",
                                   "securityContext", "resources", "volumeMounts", "image", "imagePullPolicy"])
def test_controller_container_matches_the_chart(kustomized, charted, field):
    (k,) = pod_spec(kustomized)["containers"]
    (c,) = pod_spec(charted)["containers"]
    assert k[field] == c[field]


@pytest.mark.parametrize("field", ["securityContext", "volumes", "serviceAccountName", "terminationGracePeriodSeconds"])
def test_controller_pod_matches_the_chart(kustomized, charted, field):
    assert pod_spec(kustomized)[field] == pod_spec(charted)[field]


def test_metrics_service_selects_the_controller_pods(kustomized, charted):
    service = find(kustomized, "Service")
    assert service["spec"]["ports"] == find(charted, "Service")["spec"]["ports"]
    pod_labels = find(kustomized, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert find(kustomized, "Deployment")["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


@pytest.mark.parametrize("kube_version", ["1.25.0", "1.32.0"])
def test_kustomized_objects_are_valid_kubernetes_api_objects(kustomized, kube_version):
    for obj in kustomized:
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}")


def test_config_default_is_the_seeds_command_for_the_same_tree(kustomized):
    """`kubectl apply -k config/default`, as the original spillway's README says, installs spillwayd."""
    out = run(["kubectl", "kustomize", str(REPO / "config" / "default")]).stdout
    assert [doc for doc in yaml.safe_load_all(out) if doc] == kustomized
