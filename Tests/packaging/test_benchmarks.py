"""The benchmark harness cannot rot: spillway-bench runs every measurement once at the tiny size
(the debug binaries that `swift build --build-tests` leaves), with the loadgen built as
Benchmarks/run builds it. Only that each figure was produced is checked, never a time."""
import json
import math
import subprocess

import pytest
from conftest import REPO, TOKEN, api, run

@pytest.fixture(scope="module")
def loadgen(tmp_path_factory):
    """The loadgen, built as Benchmarks/run builds it (warnings as errors)."""
    binary = tmp_path_factory.mktemp("loadgen") / "loadgen"
    run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(binary), str(REPO / "Benchmarks/loadgen/loadgen.c"), "-lcurl"])
    return binary


MEASUREMENTS = ["1. cold", "2. limit", "3. latency, fan-out 1", "3. latency, fan-out 5", "4. new namespace",
                "5. steady state", "6. memory", "7. start-up", "8. many clusters"]


def test_tiny_benchmark_run_produces_every_figure(tmp_path, loadgen):
    bin_dir = run(["swift", "build", "--show-bin-path"], cwd=REPO).stdout.strip()
    out = tmp_path / "results"
    proc = subprocess.run([f"{bin_dir}/spillway-bench", "--size", "tiny", "--loadgen", str(loadgen), "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, f"spillway-bench exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"

    report = json.loads((out / "results.json").read_text())
    rows = report["rows"]
    for prefix in MEASUREMENTS:
        assert any(r["measurement"].startswith(prefix) for r in rows), f"no figure for {prefix}: {proc.stderr}"
    for r in rows:
        assert r["values"] and all(isinstance(v, (int, float)) and math.isfinite(v) for v in r["values"]), r
    assert report["peerFloor"], report
    assert report["machine"]["cores"] >= 1
    assert (out / "results.md").read_text().startswith("spillway-bench --size tiny")


def test_resilience_benchmark_describes_itself():
    """Benchmarks/resilience needs the real control plane and minutes of outages: the suite only
    checks that it loads and documents its options (the figures are in BENCHMARKS.md)."""
    out = run([str(REPO / "Benchmarks" / "resilience"), "--help"]).stdout
    for option in ("--only", "--runs", "--spillwayd", "--token-expiry"):
        assert option in out


def test_real_server_benchmarks_describe_themselves():
    """Benchmarks/real and Benchmarks/real-cpu need the real control plane: the suite only checks
    that they load (with the helpers they share in realcluster.py) and document their options."""
    out = run([str(REPO / "Benchmarks" / "real"), "--help"]).stdout
    for option in ("--runs", "--only", "--startup-secrets", "--resident-windows", "--flat-secrets", "--spillwayd",
                   "--loadgen", "--out", "resident", "flat"):
        assert option in out
    out = run([str(REPO / "Benchmarks" / "real-cpu"), "--help"]).stdout
    for option in ("--sources", "--namespaces", "--runs", "--value-bytes", "--state", "--perf", "--loadgen"):
        assert option in out


def test_memory_benchmark_produces_its_start_figures():
    """Benchmarks/memory against the debug binaries: the start figures are produced (heaptrack's
    half is left to the benchmark itself; it needs minutes and heaptrack)."""
    bin_dir = run(["swift", "build", "--show-bin-path"], cwd=REPO).stdout.strip()
    out = run([str(REPO / "Benchmarks" / "memory"), "--only", "start", "--spillwayd", f"{bin_dir}/spillwayd",
               "--emulator", f"{bin_dir}/kube-emulator"]).stdout
    for figure in ("VmRSS 4 s after start", "anonymous (RssAnon)", "file-backed (RssFile)", "the binary's file pages"):
        row = next((line for line in out.splitlines() if figure in line), None)
        assert row is not None, out
        assert float(row.rstrip(" |").rsplit("|", 1)[1]) > 0, row


def test_wire_benchmark_splits_what_it_generates_and_refuses_garbage(tmp_path):
    """Benchmarks/wire-bench (the debug binary): it splits every event it generates, and a file
    that is not a watch stream is an error, not a figure."""
    bin_dir = run(["swift", "build", "--show-bin-path"], cwd=REPO).stdout.strip()
    out = run([f"{bin_dir}/wire-bench", "--events", "2000"]).stdout
    assert out.startswith("split 2000 events ("), out
    assert " ns a byte" in out, out
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b'{"type":"ADDED"}\nnot json\n')
    proc = subprocess.run([f"{bin_dir}/wire-bench", "--file", str(garbage)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc
    assert "not a watch stream" in proc.stderr, proc.stderr


@pytest.mark.parametrize("drive", ["perform", "epoll"])
@pytest.mark.parametrize("watch", [False, True], ids=["alone", "watching"])
def test_loadgen_creates_every_secret_whichever_way_libcurl_is_driven(emulator, loadgen, tmp_path, drive, watch):
    """The loadgen's two drives (curl_multi_perform and curl_multi_poll, the limit's; the
    multi_socket API on epoll, Benchmarks/real-cpu's floor) each make every create, 64 in flight
    on one HTTP/2 connection, with and without a watch beside them, and stop when done."""
    prefix = f"lg-{drive}-{'w' if watch else 'a'}-"
    for i in range(3):
        api(emulator, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{prefix}{i:05d}"}})
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "@NAME@"}, "data": {"value": "djA="}}))
    out = run([str(loadgen), "--drive", drive, "--url", emulator.url, "--cacert", str(emulator.ca), "--token", TOKEN,
               "--body", str(body), "--namespace-prefix", prefix, "--namespaces", "3", "--names", "200", "--inflight", "64"]
              + (["--watch"] if watch else []), timeout=120).stdout
    result = json.loads(out)
    assert (result["created"], result["refused"], result["failed"]) == (600, 0, 0), result
    for i in range(3):
        names = {item["metadata"]["name"] for item in api(emulator, "GET", f"/api/v1/namespaces/{prefix}{i:05d}/secrets")["items"]}
        assert names == {f"lg-{n}" for n in range(200)}


def test_loadgen_refuses_an_unknown_drive(loadgen):
    proc = subprocess.run([str(loadgen), "--drive", "select", "--url", "https://127.0.0.1:1", "--namespace-prefix", "x-",
                           "--namespaces", "1", "--names", "1", "--body", str(REPO / "Benchmarks/loadgen/loadgen.c")],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "--drive is perform or epoll" in proc.stderr
