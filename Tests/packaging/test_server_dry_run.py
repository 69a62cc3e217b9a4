"""The chart's and the kustomize tree's rendered manifests, and every file of examples/, applied
with `kubectl apply --dry-run=server` to a real kube-apiserver: admission, defaulting, RBAC escalation checks and the
server's own validation, not only the OpenAPI schema. The server is the control plane beside the
project (`../shared/kube`, started once for this session) or the cluster SPILLWAY_TEST_KUBECONFIG
names; without either the tests skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest
import yaml

from conftest import CHART, NAMESPACE, REPO, load_yaml_file, render, run

PROD_VALUES = load_yaml_file(CHART / "examples" / "values-prod.yaml")
# Custom resources whose definitions a bare cluster does not have (the Prometheus Operator's).
CUSTOM_KINDS = {"ServiceMonitor"}


@pytest.fixture(scope="session")
def kubeconfig(real_cluster):
    """The session's one real API server (realcluster.py): ../shared/kube or SPILLWAY_TEST_KUBECONFIG."""
    if shutil.which("kubectl") is None:
        pytest.skip("needs kubectl")
    return str(real_cluster.kubeconfig)


@pytest.fixture(scope="session")
def namespace(kubeconfig):
    """The release namespace must exist for a server-side dry run of what goes in it (a dry-run
    Namespace is not created). A fresh name on a user's cluster, removed at the end."""
    name = NAMESPACE if not os.environ.get("SPILLWAY_TEST_KUBECONFIG") else f"sw{uuid.uuid4().hex[:6]}-{NAMESPACE}"
    kubectl(kubeconfig, "create", "namespace", name, check=False)
    yield name
    if name != NAMESPACE:
        kubectl(kubeconfig, "delete", "namespace", name, "--wait=false", check=False)


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True, text=True)
    if check and proc.returncode != 0:
        pytest.fail(f"kubectl {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def dry_run(kubeconfig: str, objects: list[dict]):
    objects = [o for o in objects if o["kind"] not in CUSTOM_KINDS]
    out = kubectl(kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump_all(objects)).stdout
    # One line per object: the server accepted each of them.
    assert len([line for line in out.splitlines() if "(server dry run)" in line]) == len(objects), out


@pytest.mark.parametrize("values_name", ["defaults", "values-prod", "everything"])
def test_chart_passes_a_server_side_dry_run(kubeconfig, namespace, values_name):
    values = {
        "defaults": None,
        "values-prod": PROD_VALUES,
        "everything": {**PROD_VALUES, "uninstallHook": {"deleteReplicas": True},
                       "podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"}},
    }[values_name]
    dry_run(kubeconfig, render(values, namespace=namespace))


def test_kustomize_tree_passes_a_server_side_dry_run(kubeconfig, namespace, tmp_path):
    # The tree refers to the chart's CRD file (one source of truth): copy both, keeping their layout.
    shutil.copytree(REPO / "packaging" / "kustomize", tmp_path / "packaging" / "kustomize")
    shutil.copytree(REPO / "charts" / "spillway" / "files", tmp_path / "charts" / "spillway" / "files")
    overlay = tmp_path / "packaging" / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(f"namespace: {namespace}\nresources:\n- ../kustomize/default\n")
    rendered = run(["kubectl", "kustomize", str(overlay)]).stdout
    objects = [o for o in yaml.safe_load_all(rendered) if o]
    for o in objects:
        if o["kind"] == "Namespace":
            o["metadata"]["name"] = namespace
    dry_run(kubeconfig, objects)


@pytest.fixture(scope="session")
def profile_crd(kubeconfig):
    """The SpillwayProfile CRD, installed as the chart installs it (server-side, kept afterwards),
    so the profile examples are checked against its schema and CEL rules whatever ran before."""
    crd = REPO / "charts" / "spillway" / "files" / "crds" / "spillwayprofiles.spillway.kroy.io.yaml"
    kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(crd))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "crd/spillwayprofiles.spillway.kroy.io", "--timeout=60s")


@pytest.mark.parametrize("example", sorted(p.name for p in (REPO / "examples").glob("*.yaml")))
def test_example_passes_a_server_side_dry_run(kubeconfig, example, request):
    objects = [o for o in yaml.safe_load_all((REPO / "examples" / example).read_text()) if o]
    if any(o["kind"] == "SpillwayProfile" for o in objects):
        request.getfixturevalue("profile_crd")
    # Namespaces such as "platform" or "legacy" are the reader's to create: checked in default.
    for o in objects:
        if o["kind"] != "Namespace":
            o["metadata"]["namespace"] = "default"
    dry_run(kubeconfig, objects)
