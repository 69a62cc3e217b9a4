"""systemd/spillwayd.service checked by systemd itself: `systemd-analyze verify` (with the man page
the .deb ships, so Documentation= resolves) and `systemd-analyze security --offline=yes`."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, run

UNIT = REPO / "systemd" / "spillwayd.service"
CONF = REPO / "systemd" / "spillway.conf"

# Every setting of `spillwayd run` (the agreed command line); the config example shows each.
SETTINGS = ["kubeconfig", "context", "sync-period", "leader-elect", "leader-elect-namespace", "leader-elect-name",
            "metrics-bind-address", "health-probe-bind-address", "log-level", "log-format", "qps", "burst",
            "protected-namespaces", "annotation-deny-prefixes", "label-deny-prefixes", "deny-secret-types",
            "require-namespace-consent", "allow-force-adopt", "self-heal-interval", "orphan-audit-interval",
            "cluster-name", "target-contexts", "target-kubeconfig", "target-clusters", "target-cleanup-timeout"]


def directives(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, duplicates kept (systemd allows them)."""
    section, out = "", []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


@pytest.fixture(scope="module")
def unit_dir(static_binary: Path, deb: Path, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A copy of the unit whose ExecStart points at the built binary (verify checks it exists),
    plus a MANPATH holding the man page from the .deb."""
    workdir = tmp_path_factory.mktemp("unit")
    (workdir / "spillwayd.service").write_text(UNIT.read_text().replace("/usr/bin/spillwayd", str(static_binary)))
    root = workdir / "deb"
    run(["dpkg-deb", "-x", str(deb), str(root)])
    return workdir, {**os.environ, "MANPATH": str(root / "usr/share/man")}


def test_unit_passes_systemd_analyze_verify_without_a_single_warning(unit_dir):
    workdir, env = unit_dir
    proc = subprocess.run(["systemd-analyze", "verify", str(workdir / "spillwayd.service")],
                          capture_output=True, text=True, env=env, cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout + proc.stderr == ""


def test_verify_catches_a_broken_unit(unit_dir, tmp_path):
    """The check above is not vacuous: a missing binary fails verify."""
    _, env = unit_dir
    broken = tmp_path / "spillwayd.service"
    broken.write_text(UNIT.read_text().replace("/usr/bin/spillwayd", str(tmp_path / "missing")))
    proc = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True, text=True, env=env)
    assert proc.returncode != 0


def exposure(unit: Path) -> float:
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)], capture_output=True, text=True)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    return float(match.group(1))


def test_security_exposure_is_at_most_2_and_documented(unit_dir):
    workdir, _ = unit_dir
    score = exposure(workdir / "spillwayd.service")
    assert score <= 2.0
    assert f"exposure {score}" in (REPO / "docs" / "install.md").read_text(), \
        f"docs/install.md should state the measured exposure {score}"


def test_unit_is_notify_with_watchdog_restart_and_reload():
    d = directives(UNIT.read_text())
    service = {k: v for s, k, v in d if s == "Service"}
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["WatchdogSec"] == "30s"
    assert service["Restart"] == "on-failure"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    # A configuration error (exit code 2) is not retried every RestartSec for ever.
    assert service["RestartPreventExitStatus"] == "2"


def test_kubeconfig_arrives_as_a_credential():
    d = directives(UNIT.read_text())
    service = {k: v for s, k, v in d if s == "Service"}
    assert service["LoadCredential"] == "kubeconfig:/etc/spillway/kubeconfig"
    assert "--kubeconfig=${CREDENTIALS_DIRECTORY}/kubeconfig" in service["ExecStart"].split()
    assert ("Unit", "ConditionPathExists", "/etc/spillway/kubeconfig") in d


@pytest.mark.parametrize("key, value", [
    ("DynamicUser", "yes"), ("NoNewPrivileges", "yes"), ("CapabilityBoundingSet", ""),
    ("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("PrivateDevices", "yes"),
    ("ProtectKernelTunables", "yes"), ("ProtectKernelModules", "yes"), ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"), ("ProtectClock", "yes"), ("ProtectHostname", "yes"),
    ("ProtectProc", "invisible"), ("ProcSubset", "pid"),
    ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"), ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"), ("RestrictSUIDSGID", "yes"), ("LockPersonality", "yes"),
    ("MemoryDenyWriteExecute", "yes"), ("SystemCallArchitectures", "native"),
    ("SystemCallFilter", "@system-service"), ("SystemCallFilter", "~@privileged @resources"), ("UMask", "0077"),
])
def test_unit_carries_every_hardening_setting_of_kubernetes_md_section_9(key, value):
    assert ("Service", key, value) in directives(UNIT.read_text())


def test_dropping_the_hardening_raises_the_exposure(tmp_path):
    """The score measures the unit: without its sandboxing it is far above 2."""
    bare = tmp_path / "spillwayd.service"
    kept = {"Type", "NotifyAccess", "ExecStart", "ExecReload", "WatchdogSec", "Restart", "LoadCredential"}
    lines = [line for line in UNIT.read_text().splitlines()
             if "=" not in line or line.startswith("#") or line.split("=", 1)[0] in kept
             or line.split("=", 1)[0] in ("Description", "Documentation", "WantedBy", "After", "Wants")]
    bare.write_text("\n".join(lines) + "\n")
    assert exposure(bare) > 5.0


def test_config_example_shows_every_setting_commented_out_with_its_default():
    text = CONF.read_text()
    shown = dict(re.findall(r"^# ([a-z-]+) = ?(.*)$", text, flags=re.M))
    assert sorted(shown) == sorted(SETTINGS)
    assert shown["sync-period"] == "5m"
    assert shown["metrics-bind-address"] == ":8080"
    assert shown["health-probe-bind-address"] == ":8081"
    # Nothing is set: the file documents, the defaults decide.
    assert [line for line in text.splitlines() if line and not line.startswith("#")] == []


def test_environment_example_sets_nothing():
    text = (REPO / "systemd" / "spillway.env").read_text()
    assert [line for line in text.splitlines() if line and not line.startswith("#")] == []
    assert "SPILLWAY_LOG_LEVEL" in text


# MemoryDenyWriteExecute= is the one hardening setting a language runtime can break (a JIT or
# trampolines in writable memory). Linux's PR_SET_MDWE (6.3+) enforces the same rule that
# systemd's seccomp filter does, so the binary is run under it here.
MDWE_EXEC = """
import ctypes, os, sys
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    sys.exit(77)
if sys.argv[1] == "--probe":
    import mmap
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except PermissionError:
        sys.exit(0)
    sys.exit(1)
os.execv(sys.argv[1], sys.argv[1:])
"""


def under_mdwe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["python3", "-c", MDWE_EXEC, *args], capture_output=True, text=True)


def test_swift_runtime_runs_under_memory_deny_write_execute(static_binary):
    probe = under_mdwe("--probe")
    if probe.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux < 6.3)")
    assert probe.returncode == 0, "PR_SET_MDWE did not refuse a writable+executable mapping"
    proc = under_mdwe(str(static_binary), "version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("spillwayd")
