"""What the shipped binary links: FoundationEssentials, never all of Foundation (CoreFoundation,
ICU) or Yams, which cost 2.2 MiB of resident memory at every start (BENCHMARKS.md, "Memory at
start"). A module of the daemon that imports Foundation again, or a dependency that does, fails
here."""

from __future__ import annotations

from pathlib import Path

from conftest import run


def test_the_daemon_links_foundation_essentials_only(static_binary: Path):
    symbols = run(["nm", static_binary]).stdout
    # The check means something only while the binary has its symbol table.
    assert "s20FoundationEssentials" in symbols and "s8KubeWire" in symbols
    for marker, library in (("s10Foundation", "Foundation"), ("__CFInitialize", "CoreFoundation"),
                            ("ucol_open", "ICU"), ("s4Yams", "Yams")):
        assert marker not in symbols, f"spillwayd links {library}"


def test_the_daemon_reads_yaml_with_the_system_libyaml(static_binary: Path):
    needed = run(["readelf", "-d", static_binary]).stdout
    assert "libyaml-0.so.2" in needed
