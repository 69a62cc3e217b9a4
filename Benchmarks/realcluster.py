"""The real control plane (../shared/kube) and spillwayd as a process, for the benchmarks that
run against a real kube-apiserver (Benchmarks/resilience, Benchmarks/real): a client of our own
(no kubectl in the timed paths), the chart's RBAC rendered by kustomize, the daemon with its JSON
log read back, and the Markdown table of results."""
from __future__ import annotations

import base64
from collections.abc import Callable
import http.client
import json
import os
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONTROL_PLANE = REPO.parent / "shared" / "kube" / "control-plane"
PREFIX = "bench-"
SYSTEM_NS = PREFIX + "spillway-system"
MANAGED = "spillway.kroy.io/managed-by"


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


# --- the control plane and a client of our own (no kubectl in the timed paths) ---------------

class Cluster:
    def __init__(self, state: Path):
        env = {**os.environ, "KUBE_BIN_CACHE": os.environ.get("KUBE_BIN_CACHE", "/tmp/.kube-bin")}
        self.env = env
        self.state = state
        self.kubeconfig = self.plane("start").strip()
        self.port = int((state / "api.port").read_text())
        self.token = (state / "pki" / "admin.token").read_text().strip()
        self.ssl = ssl.create_default_context(cafile=str(state / "pki" / "ca.crt"))

    def plane(self, *args) -> str:
        return subprocess.run([str(CONTROL_PLANE), args[0], str(self.state), *args[1:]], env=self.env,
                              check=True, capture_output=True, text=True).stdout

    def kubectl(self, *args, stdin: str | None = None) -> str:
        return subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, *args], input=stdin, check=True,
                              capture_output=True, text=True).stdout

    def request(self, method: str, path: str, body: dict | None = None,
                sending: Callable[[], None] | None = None) -> tuple[int, dict | None]:
        """`sending` is called once the connection is up (TCP and TLS), right before the request
        goes out: a timer started there measures the server and the daemon, not this client's
        handshake (a new connection per request, several milliseconds of TLS in Python)."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl, timeout=5)
        try:
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/merge-patch+json" if method == "PATCH" else "application/json"
            conn.connect()
            if sending:
                sending()
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            payload = r.read()
            return r.status, (json.loads(payload) if payload else None)
        except OSError:
            return 0, None
        finally:
            conn.close()

    def create_namespace(self, name: str):
        status, _ = self.request("POST", "/api/v1/namespaces", {"metadata": {"name": name, "labels": {"bench": "resilience"}}})
        assert status in (201, 409), f"namespace {name}: {status}"

    def secret_data(self, ns: str, name: str) -> dict | None:
        status, obj = self.request("GET", f"/api/v1/namespaces/{ns}/secrets/{name}")
        if status != 200 or obj.get("metadata", {}).get("labels", {}).get(MANAGED) not in ("spillway", None):
            return None
        return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}

    def set_source(self, ns: str, name: str, targets: str, value: str, annotations: dict[str, str] | None = None,
                   sending: Callable[[], None] | None = None):
        """Creates the source, or updates its data; `annotations` besides replicate-to. `sending`
        as for `request`, for the request that makes the change (the PATCH after a 409)."""
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns,
                "annotations": {"spillway.kroy.io/replicate-to": targets, **(annotations or {})}},
                "data": {"value": base64.b64encode(value.encode()).decode()}}
        status, _ = self.request("POST", f"/api/v1/namespaces/{ns}/secrets", body, sending)
        if status == 409:
            status, _ = self.request("PATCH", f"/api/v1/namespaces/{ns}/secrets/{name}", {"data": body["data"]}, sending)
        assert status in (200, 201), f"source {ns}/{name}: {status}"

    def wait_ready(self):
        for _ in range(600):
            status, _ = self.request("GET", "/api/v1/namespaces/default")
            if status == 200:
                return
            time.sleep(0.1)
        raise RuntimeError("API server not back")


def install_rbac(cluster: Cluster, work: Path) -> str:
    """The chart's RBAC rendered by kustomize under the bench prefix; returns the daemon's kubeconfig."""
    overlay = work / "rbac-overlay"
    overlay.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-r", str(REPO / "packaging" / "kustomize" / "rbac"), str(overlay / "rbac")], check=True)
    (overlay / "kustomization.yaml").write_text(f"namespace: {SYSTEM_NS}\nnamePrefix: {PREFIX}\nresources:\n- rbac\n")
    cluster.create_namespace(SYSTEM_NS)
    cluster.kubectl("apply", "-k", str(overlay))
    return daemon_kubeconfig(cluster, work, cluster.port, token_file=None)


def daemon_kubeconfig(cluster: Cluster, work: Path, port: int, token_file: str | None, duration: str = "2h") -> str:
    path = work / f"daemon-{port}-{time.monotonic_ns()}.kubeconfig"
    ca = base64.b64encode((cluster.state / "pki" / "ca.crt").read_bytes()).decode()
    if token_file:
        user = f"    tokenFile: {token_file}\n"
    else:
        token = cluster.kubectl("create", "token", PREFIX + "spillway", "-n", SYSTEM_NS, "--duration", duration).strip()
        user = f"    token: {token}\n"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority-data: {ca}
users:
- name: spillwayd
  user:
{user}contexts:
- name: bench
  context: {{cluster: bench, user: spillwayd}}
current-context: bench
""")
    path.chmod(0o600)
    return str(path)


# --- the daemon -------------------------------------------------------------------------------

def logged_at(record: dict) -> float:
    """Wall-clock time (seconds since the epoch) of one line of the daemon's JSON log."""
    return datetime.strptime(record["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


class Daemon:
    def __init__(self, binary: str, kubeconfig: str, work: Path, flags: list[str], metrics: str = "0",
                 wrapper: list[str] | None = None):
        """`wrapper`: a command the daemon runs under (heaptrack); `proc` is then the wrapper's."""
        self.log_path = work / f"spillwayd-{time.monotonic_ns()}.log"
        conf = work / "empty.conf"
        conf.write_text("")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            (wrapper or []) + [binary, "--kubeconfig", kubeconfig, "--metrics-bind-address", metrics, "--health-probe-bind-address", "0",
             "--log-format", "json", *flags],
            stdout=self.log, stderr=self.log, env={"PATH": "/usr/bin:/bin", "SPILLWAY_CONFIG": str(conf)})

    def records(self) -> list[dict]:
        out = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return out

    def first(self, msg_prefix: str, after: float = 0.0) -> float | None:
        """Wall-clock time (from the log's own timestamp) of the first line starting with msg_prefix."""
        for r in self.records():
            if r.get("msg", "").startswith(msg_prefix):
                t = logged_at(r)
                if t >= after:
                    return t
        return None

    def wait_for(self, msg_prefix: str, timeout: float = 60, after: float = 0.0) -> float:
        deadline = time.time() + timeout
        while time.time() < deadline:
            t = self.first(msg_prefix, after)
            if t is not None:
                return t
            if self.proc.poll() is not None:
                raise RuntimeError(f"spillwayd exited: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.02)
        raise RuntimeError(f"no '{msg_prefix}' within {timeout} s: {self.log_path.read_text()[-2000:]}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def written(daemon: Daemon, action: str, sources: set[str], count: int, timeout: float = 120) -> float:
    """The log time of the `count`-th `action` audit line (create, update) of these sources."""
    return write_times(daemon, action, sources, count, timeout)[count - 1]


def delete_sources(cluster: Cluster, daemon: Daemon, namespace: str, names: list[str], replicas: int, timeout: float = 600):
    """Deletes these Secret sources while `daemon` runs and waits until it has removed their
    `replicas` replicas: the next measurement starts from the cluster it had before them, not
    one whose earlier sources and replicas a fresh daemon also lists, keeps and checks."""
    for name in names:
        status, _ = cluster.request("DELETE", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        assert status in (200, 202), f"source {namespace}/{name}: delete answered {status}"
    written(daemon, "cleanup", {f"{namespace}/{n}" for n in names}, replicas, timeout)


def write_times(daemon: Daemon, action: str, sources: set[str], count: int, timeout: float = 120) -> list[float]:
    """The log times of the first `count` `action` audit lines of these sources (any cluster)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        times = sorted(logged_at(r)
                       for r in daemon.records() if r.get("action") == action and r.get("source") in sources)
        if len(times) >= count:
            return times[:count]
        time.sleep(0.05)
    raise RuntimeError(f"{len(times)} of {count} {action} lines for {sorted(sources)[:3]} within {timeout} s")


def free_port() -> int:
    """A loopback port free right now (for the daemon's metrics endpoint)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric_counters(port: int, families: tuple[str, ...]) -> dict[str, float]:
    """The labelled samples of these metric families on the daemon's /metrics, by their full
    `name{labels}`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    out: dict[str, float] = {}
    for line in text.splitlines():
        for family in families:
            if line.startswith(family + "{"):
                key, value = line.rsplit(" ", 1)
                out[key] = float(value)
    return out


def proc_status_mib(pid: int, field: str) -> float:
    """A memory line of /proc/PID/status (VmRSS, VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_nanoseconds(pid: int) -> int:
    """Time on CPU of the process's live threads (/proc/PID/task/*/schedstat), in nanoseconds:
    /proc's utime and stime count 10 ms ticks, too coarse for a minute of a daemon at rest."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total


def wait_until(condition, timeout=120.0, poll=0.01) -> float | None:
    start = time.time()
    while time.time() - start < timeout:
        if condition():
            return time.time()
        time.sleep(poll)
    return None


def percentile(samples: list[float], p: float) -> float:
    s = sorted(samples)
    k = min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


def table(rows) -> str:
    out = ["| group | case | figure | p50 | p99 | max | runs | goal |", "|---|---|---|--:|--:|--:|--:|---|"]
    for group, case, figure, samples, goal in rows:
        out.append(f"| {group} | {case} | {figure} | {statistics.median(samples):.3f} | {percentile(samples, 99):.3f} "
                   f"| {max(samples):.3f} | {len(samples)} | {goal} |")
    return "\n".join(out)
