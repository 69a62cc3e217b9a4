"""examples/: each file is valid Kubernetes YAML, says at the top what it shows, and uses only
the annotations of the spillway contract (docs/contract.md)."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from conftest import REPO

EXAMPLES = REPO / "examples"
PREFIX = "spillway.kroy.io/"
SOURCE_ANNOTATIONS = {"replicate-to", "exclude-namespaces", "replicate-to-matching", "include-keys",
                      "exclude-keys", "replica-ttl", "force-adopt", "allow-pull-from", "replicate-from",
                      "replicate-to-clusters"}
NAMESPACE_ANNOTATIONS = {"accept-from"}
# Each example and the annotation it is about.
REQUIRED = {
    "secret.yaml": "replicate-to", "configmap.yaml": "replicate-to",
    "label-selector.yaml": "replicate-to-matching", "key-projection.yaml": "include-keys",
    "ttl.yaml": "replica-ttl", "namespace-consent.yaml": "accept-from", "force-adopt.yaml": "force-adopt",
    "pull-secret.yaml": "replicate-from", "multi-cluster.yaml": "replicate-to-clusters",
}


def documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]


def spillway_annotations(obj: dict) -> set[str]:
    return {k.removeprefix(PREFIX) for k in obj["metadata"].get("annotations", {}) if k.startswith(PREFIX)}


def test_every_required_example_exists():
    assert set(REQUIRED) <= {p.name for p in EXAMPLES.glob("*.yaml")}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_example_starts_with_a_comment_saying_what_to_expect(name):
    head = (EXAMPLES / name).read_text().splitlines()[:3]
    assert all(line.startswith("# ") for line in head)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_example_shows_its_annotation_on_the_right_kind_of_object(name):
    annotation = REQUIRED[name]
    carriers = [o for o in documents(name) if annotation in spillway_annotations(o)]
    assert carriers, f"{name} does not use {PREFIX}{annotation}"
    expected = {"Namespace"} if annotation in NAMESPACE_ANNOTATIONS else {"Secret", "ConfigMap"}
    assert {o["kind"] for o in carriers} <= expected


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_example_uses_only_contract_annotations(name):
    for obj in documents(name):
        allowed = NAMESPACE_ANNOTATIONS if obj["kind"] == "Namespace" else SOURCE_ANNOTATIONS
        assert spillway_annotations(obj) <= allowed, obj["metadata"]["name"]
        # Sources never carry the replica markers: spillway would take them for replicas.
        assert PREFIX + "managed-by" not in obj["metadata"].get("labels", {})


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_example_objects_are_valid_kubernetes_api_objects(name):
    for obj in documents(name):
        kubernetes_validate.validate(obj, "1.32.0", strict=True)
