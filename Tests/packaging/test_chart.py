"""The Helm chart, linted and rendered by Helm's own engine (helm-python-sdk embeds Helm's Go SDK),
and the rendered objects checked against the Kubernetes OpenAPI schemas (kubernetes-validate)."""

from __future__ import annotations

import re

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from conftest import CHART, NAMESPACE, REPO, VERSION, find, kinds, load_yaml_file, render, run

PROD_VALUES = load_yaml_file(CHART / "examples" / "values-prod.yaml")

# The daemon's verbs (docs/contract.md, docs/kubernetes.md): nothing more may be granted cluster-wide.
CONTROLLER_RULES = [
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["secrets", "configmaps"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"apiGroups": ["spillway.kroy.io"], "resources": ["spillwayprofiles"], "verbs": ["list", "watch", "patch"]},
    {"apiGroups": ["spillway.kroy.io"], "resources": ["spillwayprofiles/status"], "verbs": ["patch"]},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
     "resourceNames": ["spillwayprofiles.spillway.kroy.io"], "verbs": ["list", "watch"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
]
LEASE_RULES = [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "watch", "create", "update"]}]

# The agreed `spillwayd run` command line with the chart's defaults, in order.
DEFAULT_ARGS = [
    "run",
    "--leader-elect",
    "--leader-elect-namespace=$(POD_NAMESPACE)",
    "--leader-elect-name=spillway.spillway.kroy.io",
    "--sync-period=5m",
    "--self-heal-interval=1m",
    "--orphan-audit-interval=10m",
    "--log-level=info",
    "--log-format=json",
    "--qps=0",
    "--burst=0",
    "--protected-namespaces=kube-system",
    "--annotation-deny-prefixes=kubectl.kubernetes.io/,meta.helm.sh/,helm.sh/,argocd.argoproj.io/,"
    "config.kubernetes.io/,kustomize.toolkit.fluxcd.io/,fluxcd.io/,weave.works/",
    "--label-deny-prefixes=",
    "--deny-secret-types=kubernetes.io/service-account-token,bootstrap.kubernetes.io/token",
    "--no-require-namespace-consent",
    "--no-allow-force-adopt",
    "--metrics-bind-address=:8080",
    "--health-probe-bind-address=:8081",
]


def controller(objects: list[dict]) -> dict:
    return find(objects, "Deployment")


def container(objects: list[dict]) -> dict:
    (c,) = controller(objects)["spec"]["template"]["spec"]["containers"]
    return c


def hook_objects(objects: list[dict]) -> list[dict]:
    return [o for o in objects if "helm.sh/hook" in o["metadata"].get("annotations", {})]


def test_chart_lints_without_findings_in_strict_mode():
    for values in (None, PROD_VALUES):
        report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version="v1.32.0")
        assert report["errors"] == [], report
        assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


def test_chart_version_and_app_version_are_the_project_version(binary_version):
    with helm.Chart.load(CHART) as chart:
        meta = chart.metadata
    assert meta["version"] == VERSION
    assert meta["appVersion"] == VERSION
    assert binary_version == meta["appVersion"]


def test_default_render_is_one_leader_electing_controller_without_optional_extras():
    objects = render()
    assert controller(objects)["spec"]["replicas"] == 1
    assert container(objects)["args"] == DEFAULT_ARGS
    assert {"PodDisruptionBudget", "ServiceMonitor", "NetworkPolicy"}.isdisjoint(kinds(objects))
    assert container(objects)["image"] == f"ghcr.io/kroy-the-rabbit/spillway:{VERSION}"


def test_every_controller_value_reaches_the_daemon_command_line():
    values = {"controller": {
        "leaderElect": False, "leaderElectNamespace": "leases", "leaderElectName": "spillway-a",
        "syncPeriod": "1h30m", "selfHealInterval": "45s", "orphanAuditInterval": "2h",
        "logLevel": "debug", "logFormat": "logfmt", "qps": 20, "burst": 40,
        "protectedNamespaces": "kube-system,kube-public,kube-node-lease",
        "annotationDenyPrefixes": "example.com/", "labelDenyPrefixes": "app.kubernetes.io/instance",
        "denySecretTypes": "none",
        "requireNamespaceConsent": True, "allowForceAdopt": True,
        "metricsBindAddress": "127.0.0.1:9090", "healthProbeBindAddress": ":9091",
        "extraArgs": ["--context=prod"],
    }}
    objects = render(values)
    assert container(objects)["args"] == [
        "run", "--no-leader-elect", "--leader-elect-namespace=leases", "--leader-elect-name=spillway-a",
        "--sync-period=1h30m", "--self-heal-interval=45s", "--orphan-audit-interval=2h",
        "--log-level=debug", "--log-format=logfmt", "--qps=20", "--burst=40",
        "--protected-namespaces=kube-system,kube-public,kube-node-lease",
        "--annotation-deny-prefixes=example.com/", "--label-deny-prefixes=app.kubernetes.io/instance",
        "--deny-secret-types=none",
        "--require-namespace-consent", "--allow-force-adopt",
        "--metrics-bind-address=127.0.0.1:9090", "--health-probe-bind-address=:9091",
        "--context=prod",
    ]
    ports = {p["name"]: p["containerPort"] for p in container(objects)["ports"]}
    assert ports == {"metrics": 9090, "health": 9091}
    # Leader election off: no Role for leases at all.
    assert "Role" not in kinds(objects)


def test_values_prod_gives_ha_pdb_zone_spread_servicemonitor_networkpolicy_and_private_registry():
    objects = render(PROD_VALUES)
    deployment = controller(objects)
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert "--leader-elect" in container(objects)["args"]

    pdb = find(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]

    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    assert spread["whenUnsatisfiable"] == "DoNotSchedule"
    # The spread's selector must match the pods, or it constrains nothing.
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert spread["labelSelector"]["matchLabels"].items() <= pod_labels.items()

    monitor = find(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    service = find(objects, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()

    policy = find(objects, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert [r["ports"] for r in policy["spec"]["ingress"]] == [
        [{"port": "metrics", "protocol": "TCP"}], [{"port": "health", "protocol": "TCP"}]]

    assert pod["imagePullSecrets"] == [{"name": "my-registry-credentials"}]
    assert pod["priorityClassName"] == "system-cluster-critical"
    account = find(objects, "ServiceAccount", "spillway")
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/spillway"}
    # The uninstall hook pulls from the same private registry.
    job = find(objects, "Job")
    assert job["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "my-registry-credentials"}]


def test_network_policy_can_limit_metrics_scrapers():
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    policy = find(render({"networkPolicy": {"enabled": True, "metricsFrom": peers}}), "NetworkPolicy")
    assert policy["spec"]["ingress"][0]["from"] == peers
    assert "from" not in policy["spec"]["ingress"][1]


def test_pdb_max_unavailable_replaces_min_available():
    pdb = find(render({"podDisruptionBudget": {"enabled": True, "maxUnavailable": 1}}), "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": pdb["spec"]["selector"]}


def test_cluster_role_grants_exactly_the_verbs_the_daemon_uses():
    objects = render()
    assert find(objects, "ClusterRole", "spillway")["rules"] == CONTROLLER_RULES
    binding = find(objects, "ClusterRoleBinding", "spillway")
    assert binding["roleRef"]["name"] == "spillway"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "spillway", "namespace": NAMESPACE}]


def test_leases_are_granted_only_by_a_role_in_the_lease_namespace():
    objects = render()
    role = find(objects, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == LEASE_RULES
    for cluster_role in (o for o in objects if o["kind"] == "ClusterRole"):
        assert all("leases" not in r["resources"] for r in cluster_role["rules"])
    elsewhere = render({"controller": {"leaderElectNamespace": "coordination"}})
    assert find(elsewhere, "Role")["metadata"]["namespace"] == "coordination"
    assert find(elsewhere, "RoleBinding")["metadata"]["namespace"] == "coordination"


def assert_restricted(pod_spec: dict) -> None:
    pod_sc = pod_spec["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == 65532
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    for c in pod_spec["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["runAsNonRoot"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}


def test_controller_and_hook_pods_meet_the_restricted_profile():
    objects = render()
    assert_restricted(controller(objects)["spec"]["template"]["spec"])
    assert_restricted(find(objects, "Job")["spec"]["template"]["spec"])
    # The read-only root filesystem leaves a small memory-backed /tmp as the only writable place.
    pod = controller(objects)["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}]
    assert container(objects)["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


def test_probes_hit_healthz_and_readyz_on_the_health_port_8081():
    c = container(render())
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}


def test_lease_namespace_comes_from_the_downward_api():
    c = container(render())
    assert {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}} in c["env"]


def test_metrics_service_exposes_port_8080_of_the_controller_pods_only():
    objects = render()
    service = find(objects, "Service", "spillway-metrics")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]
    selector = service["spec"]["selector"]
    assert selector.items() <= controller(objects)["spec"]["template"]["metadata"]["labels"].items()
    hook_pod_labels = find(objects, "Job")["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= hook_pod_labels.items(), "the metrics Service would select the hook pod"
    assert "Service" not in kinds(render({"metrics": {"service": {"enabled": False}}}))


def test_servicemonitor_without_the_service_fails_with_a_clear_message():
    with pytest.raises(helm.HelmError, match="metrics.serviceMonitor.enabled needs metrics.service.enabled"):
        render({"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}})


def test_uninstall_hook_is_a_post_delete_job_with_its_own_least_privilege_account():
    objects = render()
    hooks = hook_objects(objects)
    assert sorted(o["kind"] for o in hooks) == ["ClusterRole", "ClusterRoleBinding", "Job", "ServiceAccount"]
    for o in hooks:
        assert o["metadata"]["annotations"]["helm.sh/hook"] == "post-delete"
    job = find(objects, "Job")
    # The account, role and binding exist before the Job (lower weight).
    assert all(int(o["metadata"]["annotations"]["helm.sh/hook-weight"]) < 0 for o in hooks if o is not job)
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "spillway-uninstall"
    assert pod["containers"][0]["args"] == ["uninstall"]
    assert find(objects, "ClusterRole", "spillway-uninstall")["rules"] == [
        {"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "list", "update", "patch"]},
        {"apiGroups": ["spillway.kroy.io"], "resources": ["spillwayprofiles"], "verbs": ["get", "list", "patch"]}]


def test_uninstall_hook_deletes_replicas_only_when_asked():
    objects = render({"uninstallHook": {"deleteReplicas": True}})
    assert find(objects, "Job")["spec"]["template"]["spec"]["containers"][0]["args"] == ["uninstall", "--delete-replicas"]
    verbs = find(objects, "ClusterRole", "spillway-uninstall")["rules"][0]["verbs"]
    assert "delete" in verbs
    # A typed or immutable pulled copy is emptied by a delete and a create.
    assert "create" in verbs
    assert hook_objects(render({"uninstallHook": {"enabled": False}})) == []


def test_image_tag_defaults_to_app_version_and_can_be_overridden():
    c = container(render({"image": {"repository": "registry.example/spillway", "tag": "v0.2.0", "pullPolicy": "Always"}}))
    assert c["image"] == "registry.example/spillway:v0.2.0"
    assert c["imagePullPolicy"] == "Always"


def test_service_account_can_be_brought_by_the_user():
    objects = render({"serviceAccount": {"create": False, "name": "platform-controller"}})
    assert "ServiceAccount" not in {o["kind"] for o in objects if o not in hook_objects(objects)}
    assert controller(objects)["spec"]["template"]["spec"]["serviceAccountName"] == "platform-controller"
    assert find(objects, "ClusterRoleBinding", "spillway")["subjects"][0]["name"] == "platform-controller"


def test_scheduling_values_pass_through_to_the_pod():
    values = {
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}]}}},
        "priorityClassName": "platform-critical",
        "podAnnotations": {"example.com/team": "platform"},
        "podLabels": {"team": "platform"},
    }
    deployment = controller(render(values))
    pod = deployment["spec"]["template"]["spec"]
    for key in ("nodeSelector", "tolerations", "affinity", "priorityClassName"):
        assert pod[key] == values[key]
    assert deployment["spec"]["template"]["metadata"]["annotations"] == values["podAnnotations"]
    assert deployment["spec"]["template"]["metadata"]["labels"]["team"] == "platform"


def test_release_namespace_is_created_and_kept_on_uninstall_unless_disabled():
    namespace = find(render(), "Namespace")
    assert namespace["metadata"]["name"] == NAMESPACE
    assert namespace["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert "Namespace" not in kinds(render({"createNamespace": False}))


@pytest.mark.parametrize("values, complaint", [
    ({"controller": {"syncPeriod": "5 minutes"}}, "syncPeriod"),
    ({"controller": {"logLevel": "loud"}}, "logLevel"),
    ({"controller": {"metricsBindAddress": "8080"}}, "metricsBindAddress"),
    ({"controller": {"protectedNamespaces": "kube-system, kube-public"}}, "protectedNamespaces"),
    ({"replicas": 2}, "replicas"),
    ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
    # What spillwayd itself refuses (exit code 2) must not reach a pod that would crash-loop.
    ({"controller": {"syncPeriod": "0s"}}, "syncPeriod"),
    ({"controller": {"orphanAuditInterval": "0s"}}, "orphanAuditInterval"),
    ({"controller": {"selfHealInterval": "0m0s"}}, "selfHealInterval"),
    ({"controller": {"qps": 5, "burst": 0}}, "burst"),
    ({"controller": {"protectedNamespaces": "none,kube-system"}}, "protectedNamespaces"),
    ({"controller": {"annotationDenyPrefixes": "helm.sh/,none"}}, "annotationDenyPrefixes"),
    ({"controller": {"metricsBindAddress": "example.com:8080"}}, "metricsBindAddress"),
    ({"controller": {"healthProbeBindAddress": "10.0.0.300:8081"}}, "healthProbeBindAddress"),
    ({"controller": {"leaderElectName": "a..b"}}, "leaderElectName"),
    ({"controller": {"leaderElectNamespace": "Leases"}}, "leaderElectNamespace"),
    ({"admissionPolicy": {"validationActions": ["Block"]}}, "validationActions"),
])
def test_schema_rejects_bad_values_naming_the_key(values, complaint):
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError, match=complaint):
        chart.validate_schema(values)


def test_notes_warn_about_several_replicas_without_leader_election():
    with helm.Chart.load(CHART) as chart:
        notes = chart.render({"replicaCount": 2, "controller": {"leaderElect": False}},
                             name="spillway", namespace=NAMESPACE)["spillway/templates/NOTES.txt"]
    assert "WARNING: replicaCount is 2 but controller.leaderElect is false" in notes
    with helm.Chart.load(CHART) as chart:
        quiet = chart.render(PROD_VALUES, name="spillway", namespace=NAMESPACE)["spillway/templates/NOTES.txt"]
    assert "WARNING" not in quiet


# Custom resources have no schema in kubernetes-validate; the ServiceMonitor is checked by the
# assertions above instead.
CUSTOM_KINDS = {"ServiceMonitor"}


@pytest.mark.parametrize("kube_version", ["1.25.0", "1.32.0"])
@pytest.mark.parametrize("values_name", ["defaults", "values-prod", "everything"])
def test_rendered_objects_are_valid_kubernetes_api_objects(kube_version, values_name):
    values = {
        "defaults": None,
        "values-prod": PROD_VALUES,
        "everything": {**PROD_VALUES, "uninstallHook": {"deleteReplicas": True},
                       "podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"},
                       "controller": {"leaderElectNamespace": "coordination"}},
    }[values_name]
    for obj in render(values):
        if obj["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}")


def leaf_keys(tree: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in ("resources", "uninstallHook.resources",
                                                              "podSecurityContext", "securityContext",
                                                              "livenessProbe", "readinessProbe"):
            keys.extend(leaf_keys(value, path + "."))
        else:
            keys.append(path)
    return keys


def test_chart_readme_documents_every_value():
    table = (CHART / "README.md").read_text()
    documented = set(re.findall(r"^\| `([^`]+)` \|", table, flags=re.M))
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = [k for k in leaf_keys(values) if k not in documented]
    assert missing == [], f"values missing from charts/spillway/README.md: {missing}"
    unknown = [k for k in documented if k not in leaf_keys(values)]
    assert unknown == [], f"README documents values the chart does not have: {unknown}"


def test_schema_covers_every_value():
    import json
    schema = json.loads((CHART / "values.schema.json").read_text())

    def covered(path: list[str], node: dict) -> bool:
        if not path:
            return True
        props = node.get("properties", {})
        if path[0] in props:
            return covered(path[1:], props[path[0]])
        return node.get("type") == "object" and node.get("additionalProperties", True) is not False

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert [k for k in leaf_keys(values) if not covered(k.split("."), schema)] == []
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(None)
        chart.validate_schema(PROD_VALUES)
    assert (REPO / "charts" / "spillway" / "templates" / "NOTES.txt").is_file()



def values_table(markdown: str, heading: str) -> list[str]:
    section = markdown.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_install_docs_carry_the_same_values_table_as_the_chart_readme():
    readme = values_table((CHART / "README.md").read_text(), "Values")
    assert len(readme) > 50
    assert values_table((REPO / "docs" / "install.md").read_text(), "Values") == readme


# The original spillway chart (0.4.x) as its users have it installed: what `helm upgrade` to this
# chart must keep working with. Its Deployment selector, and values of its values.yaml that this
# chart once refused.
ORIGINAL_SELECTOR = {"app.kubernetes.io/name": "spillway", "app.kubernetes.io/instance": "spillway",
                     "app.kubernetes.io/component": "controller"}
ORIGINAL_VALUES = {
    "replicaCount": 2, "installCRDs": True, "createNamespace": True,
    "controller": {"leaderElect": True, "syncPeriod": "5m", "selfHealInterval": "45s",
                   "requireNamespaceConsent": False, "allowForceAdopt": False, "protectedNamespaces": "",
                   "annotationDenyPrefixes": "", "metricsBindAddress": ":8080", "healthProbeBindAddress": ":8081"},
    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "probes"}, "initialDelaySeconds": 15, "periodSeconds": 20,
                      "timeoutSeconds": 5, "failureThreshold": 3},
    "readinessProbe": {"httpGet": {"path": "/readyz", "port": "probes"}, "initialDelaySeconds": 5, "periodSeconds": 10,
                       "timeoutSeconds": 5, "failureThreshold": 3},
    "startupProbe": {"httpGet": {"path": "/healthz", "port": "probes"}, "failureThreshold": 30, "periodSeconds": 10},
    "terminationGracePeriodSeconds": 10,
    "metrics": {"service": {"enabled": True, "type": "ClusterIP", "port": 8080, "annotations": {}},
                "serviceMonitor": {"enabled": False, "interval": "30s", "scrapeTimeout": "10s", "labels": {},
                                   "annotations": {}}},
    "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
    "networkPolicy": {"enabled": True, "ingress": [], "egressEnabled": False, "egress": []},
}


def test_selector_is_the_original_charts_so_helm_upgrade_over_it_works():
    objects = render()
    assert controller(objects)["spec"]["selector"]["matchLabels"] == ORIGINAL_SELECTOR
    # The uninstall hook's pod must not join the controller's selector.
    hook_labels = find(objects, "Job")["spec"]["template"]["metadata"]["labels"]
    assert not ORIGINAL_SELECTOR.items() <= hook_labels.items()


def test_the_original_charts_values_are_accepted_and_mean_the_same():
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(ORIGINAL_VALUES)
    objects = render(ORIGINAL_VALUES)
    c = container(objects)
    # Empty lists keep spillwayd's defaults, as they did in the original.
    assert "--protected-namespaces=" in c["args"] and "--annotation-deny-prefixes=" in c["args"]
    # Its probes pointed at a port named "probes"; the chart probes its own paths and port.
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["livenessProbe"]["initialDelaySeconds"] == 15
    assert c["startupProbe"] == {"httpGet": {"path": "/healthz", "port": "health"}, "failureThreshold": 30,
                                 "periodSeconds": 10}
    assert find(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == ORIGINAL_SELECTOR
    assert find(objects, "NetworkPolicy")["spec"]["policyTypes"] == ["Ingress"]
    assert find(objects, "CustomResourceDefinition")["metadata"]["name"] == "spillwayprofiles.spillway.kroy.io"


def test_crd_is_the_one_file_kept_on_uninstall_and_optional():
    crd = find(render(), "CustomResourceDefinition")
    source = load_yaml_file(CHART / "files" / "crds" / "spillwayprofiles.spillway.kroy.io.yaml")
    assert crd["spec"] == source["spec"]
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert "CustomResourceDefinition" not in kinds(render({"installCRDs": False}))
    # RBAC on profiles does not depend on the CRD being installed by the chart.
    assert find(render({"installCRDs": False}), "ClusterRole", "spillway")["rules"] == CONTROLLER_RULES


def test_kustomize_carries_the_same_crd_file():
    text = run(["kubectl", "kustomize", str(REPO / "packaging" / "kustomize" / "crd")]).stdout
    (crd,) = [d for d in yaml.safe_load_all(text) if d]
    assert crd["spec"] == load_yaml_file(CHART / "files" / "crds" / "spillwayprofiles.spillway.kroy.io.yaml")["spec"]


def test_startup_probe_is_off_unless_given():
    assert "startupProbe" not in container(render())


def test_metrics_service_type_and_servicemonitor_annotations():
    objects = render({"metrics": {"service": {"type": "NodePort"},
                                  "serviceMonitor": {"enabled": True, "annotations": {"team": "platform"}}}})
    assert find(objects, "Service")["spec"]["type"] == "NodePort"
    assert find(objects, "ServiceMonitor")["metadata"]["annotations"] == {"team": "platform"}


def test_network_policy_extra_ingress_and_egress():
    allow_api = [{"ports": [{"port": 6443, "protocol": "TCP"}]}]
    scraper = [{"from": [{"podSelector": {"matchLabels": {"app": "prometheus"}}}], "ports": [{"port": 8080}]}]
    policy = find(render({"networkPolicy": {"enabled": True, "ingress": scraper, "egressEnabled": True,
                                            "egress": allow_api}}), "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["ingress"][2:] == scraper
    assert policy["spec"]["egress"] == allow_api
    closed = find(render({"networkPolicy": {"enabled": True, "egressEnabled": True}}), "NetworkPolicy")
    assert closed["spec"]["egress"] == []


def test_admission_policy_renders_only_when_enabled_with_the_protected_namespaces():
    assert "ValidatingAdmissionPolicy" not in kinds(render())
    objects = render({"controller": {"protectedNamespaces": "kube-system,kube-public"},
                      "admissionPolicy": {"enabled": True, "sourceNamespaces": ["platform"],
                                          "protectedTargetSourceNamespaces": ["platform"],
                                          "validationActions": ["Warn", "Audit"]}})
    policy = find(objects, "ValidatingAdmissionPolicy")
    binding = find(objects, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Warn", "Audit"]
    expressions = " ".join(v["expression"] for v in policy["spec"]["validations"])
    assert '["platform"]' in expressions and '["kube-system","kube-public"]' in expressions
    with pytest.raises(helm.HelmError, match="admissionPolicy.enabled has nothing to check"):
        render({"controller": {"protectedNamespaces": "none"}, "admissionPolicy": {"enabled": True}})


def test_prometheus_rule_alerts_sum_over_the_release_pods():
    assert "PrometheusRule" not in kinds(render())
    rule = find(render({"metrics": {"prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}}}}),
                "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert set(alerts) == {"SpillwayNoLeader", "SpillwayReplicationFailing", "SpillwayEventsDropped",
                           "SpillwayWatchRestarting"}
    for alert in alerts.values():
        assert alert["expr"].startswith(("sum", "(sum")), alert["expr"]
        assert f'namespace="{NAMESPACE}"' in alert["expr"]


def test_notes_say_the_uninstall_hook_runs_after_the_controller_is_gone():
    with helm.Chart.load(CHART) as chart:
        notes = chart.render(None, name="spillway", namespace=NAMESPACE)["spillway/templates/NOTES.txt"]
    assert "post-delete hook" in notes and "first runs" not in notes


def test_chart_icon_is_a_file_of_this_repository():
    with helm.Chart.load(CHART) as chart:
        icon = chart.metadata["icon"]
    path = icon.split("/main/", 1)[1]
    assert (REPO / path).is_file(), f"Chart.yaml's icon {icon} names no file of this repository"


MULTI_CLUSTER_VALUES = load_yaml_file(CHART / "examples" / "values-multi-cluster.yaml")


def test_multi_cluster_values_mount_the_targets_kubeconfig_secret_and_pass_the_flags():
    import json
    objects = render(MULTI_CLUSTER_VALUES)
    c = container(objects)
    args = c["args"]
    assert args[:len(DEFAULT_ARGS)] == DEFAULT_ARGS
    assert args[len(DEFAULT_ARGS):] == [
        "--target-contexts=prod-eu,prod-us",
        "--target-kubeconfig=/etc/spillway/targets/kubeconfig",
        "--target-cleanup-timeout=5m",
        "--cluster-name=mgmt",
        "--target-clusters=" + json.dumps(MULTI_CLUSTER_VALUES["multiCluster"]["targetClusters"], separators=(",", ":"), sort_keys=True),
    ]
    assert {"name": "targets", "mountPath": "/etc/spillway/targets", "readOnly": True} in c["volumeMounts"]
    volumes = controller(objects)["spec"]["template"]["spec"]["volumes"]
    assert {"name": "targets", "secret": {"secretName": "spillway-targets", "defaultMode": 0o400}} in volumes
    # The chart never renders the credentials themselves.
    assert not [o for o in objects if o["kind"] == "Secret"]


def test_multi_cluster_is_off_by_default_and_needs_the_secret_when_on():
    c = container(render(None))
    assert not [a for a in c["args"] if a.startswith("--target-") or a.startswith("--cluster-name")]
    assert [m["name"] for m in c["volumeMounts"]] == ["tmp"]
    with pytest.raises(Exception, match="multiCluster.targetKubeconfigSecret must name the Secret"):
        render({"multiCluster": {"targetContexts": "prod-*"}})
