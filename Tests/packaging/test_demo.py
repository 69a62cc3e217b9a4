"""The README's quick start: `scripts/demo` shows replication with no cluster."""
import subprocess

from conftest import REPO


def test_demo_replicates_the_examples_against_the_bundled_emulator():
    proc = subprocess.run([str(REPO / "scripts" / "demo"), "--check"], capture_output=True, text=True,
                          timeout=900, cwd=REPO)
    assert proc.returncode == 0, f"scripts/demo --check exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    rows = [line.split() for line in proc.stdout.splitlines()]
    replicas = {(r[0], r[1]): r[3] for r in rows if len(r) == 4 and r[0] in ("Secret", "ConfigMap")}
    secret_namespaces = {ns for (kind, ns) in replicas if kind == "Secret"}
    configmap_namespaces = {ns for (kind, ns) in replicas if kind == "ConfigMap"}
    # team-* plus sandbox and prod, minus the excluded team-dev.
    assert secret_namespaces == {"team-a", "team-b", "sandbox", "prod"}, proc.stdout
    # "all": every namespace but the source's own and the protected kube-system.
    assert configmap_namespaces == {"team-a", "team-b", "team-dev", "sandbox", "prod",
                                    "kube-public", "kube-node-lease"}, proc.stdout
    assert {src for (kind, _), src in replicas.items() if kind == "Secret"} == {"Secret/default/shared-db-credentials"}
    assert {src for (kind, _), src in replicas.items() if kind == "ConfigMap"} == {"ConfigMap/default/shared-settings"}
    assert "demo: ok (11 replicas)" in proc.stdout
