"""The project's Python programs (the benchmark harnesses, the scripts, these tests) pass pyflakes:
a misspelt or missing import in a harness that only runs against the real control plane would
otherwise surface the next time someone measures, not when it was written."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO, run


def python_programs() -> list[str]:
    files = run(["git", "ls-files"], cwd=REPO).stdout.split()
    programs = []
    for name in files:
        path = REPO / name
        if name.endswith(".py"):
            programs.append(name)
        elif path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.readline().startswith(b"#!/usr/bin/env python3"):
                    programs.append(name)
    return programs


def test_the_checked_programs_include_the_extensionless_harnesses():
    programs = python_programs()
    for name in ("Benchmarks/real", "Benchmarks/real-cpu", "Benchmarks/realcluster.py", "Tests/packaging/conftest.py"):
        assert name in programs, programs


def test_pyflakes_finds_nothing_in_the_python_programs():
    proc = subprocess.run([sys.executable, "-m", "pyflakes", *python_programs()], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
