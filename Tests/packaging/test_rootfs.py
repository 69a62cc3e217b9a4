"""The container runtime, without a container engine: packaging/rootfs.sh assembles the image's
root filesystem from the built binary, and spillwayd runs in it as the non-root user 65532."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, VERSION, host_arch, run

ROOTFS = REPO / "packaging" / "rootfs.sh"
CONTAINERFILE = REPO / "packaging" / "Containerfile"
# What debian:bookworm-slim already has.
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


@pytest.fixture(scope="module")
def rootfs(dry_run) -> Path:
    """The runtime tree the release dry run assembled with packaging/rootfs.sh."""
    out, proc = dry_run
    dest = out / f"rootfs-{host_arch()}"
    assert dest.is_dir(), f"the release dry run made no {dest.name}:\n{proc.stderr}"
    return dest


def runtime_packages() -> set[str]:
    """The packages the Containerfile's runtime stage installs."""
    text = CONTAINERFILE.read_text()
    runtime = text[text.rindex("FROM ${RUNTIME_IMAGE}"):]
    install = re.search(r"apt-get install -y --no-install-recommends \\\s*\n\s*([^\\&]+)", runtime)
    assert install, "no apt-get install in the runtime stage"
    return set(install.group(1).split())


def test_spillwayd_starts_in_the_rootfs_as_user_65532(rootfs):
    # A container runtime mounts /proc; the statically linked Swift runtime reads the command line
    # from /proc/self/cmdline, so the chroot gets one too (in a private mount namespace).
    (rootfs / "proc").mkdir(exist_ok=True)
    proc = run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount -t proc proc "$1/proc" && exec chroot --userspec=65532:65532 "$1" /usr/bin/spillwayd version',
                "sh", str(rootfs)])
    assert proc.stdout.splitlines()[0] == f"spillwayd {VERSION}"


def test_the_non_root_user_can_write_nothing_but_tmp(rootfs):
    """What a read-only root filesystem enforces: the image never needs to write outside /tmp."""
    writable = []
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                continue
            if st.st_uid == 65532 or st.st_mode & stat.S_IWOTH:
                writable.append(str(path.relative_to(rootfs)))
    assert writable == ["tmp"]
    assert stat.S_IMODE((rootfs / "tmp").stat().st_mode) == 0o1777


def test_rootfs_has_the_user_ca_bundle_and_loader(rootfs):
    assert "nonroot:x:65532:65532:" in (rootfs / "etc/passwd").read_text()
    assert "nonroot:x:65532:" in (rootfs / "etc/group").read_text()
    assert (rootfs / "etc/ssl/certs/ca-certificates.crt").stat().st_size > 100_000
    assert (rootfs / "lib64/ld-linux-x86-64.so.2").exists() or (rootfs / "lib/ld-linux-aarch64.so.1").exists()


def test_the_image_installs_every_library_the_binary_needs(static_binary):
    """Each DT_NEEDED library belongs to a package of the runtime stage or of the slim base,
    and none comes from the Swift toolchain (the stdlib is linked in)."""
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", run(["readelf", "-d", str(static_binary)]).stdout)
    assert needed
    ldd = run(["ldd", str(static_binary)]).stdout
    resolved = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, flags=re.M))
    # The dynamic loader appears by path only: "/lib64/ld-linux-x86-64.so.2 (0x...)".
    resolved.update({os.path.basename(p): p for p in re.findall(r"^\s*(/\S+) \(", ldd, flags=re.M)})
    owners = set()
    for soname in needed:
        path = resolved[soname]
        assert not path.startswith("/opt/") and "swift" not in path, f"{soname} comes from the toolchain: {path}"
        owners.add(owning_package(path))
    missing = owners - runtime_packages() - BASE_PACKAGES
    assert missing == set(), f"the Containerfile's runtime stage does not install {missing}"


def owning_package(path: str) -> str:
    """The Debian package of a library path, trying the names usrmerge gives the same file."""
    real = os.path.realpath(path)
    candidates = [path, real] + [p.replace("/usr/lib/", "/lib/", 1) for p in (path, real) if p.startswith("/usr/lib/")]
    for candidate in candidates:
        proc = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if proc.returncode == 0:
            return proc.stdout.split(":")[0]
    pytest.fail(f"no Debian package owns {path}")


def test_containerfile_is_a_static_stdlib_build_on_a_slim_non_root_runtime():
    text = CONTAINERFILE.read_text()
    assert "ARG SWIFT_IMAGE=swift:6.3-bookworm" in text
    assert "ARG RUNTIME_IMAGE=debian:bookworm-slim" in text
    assert re.search(r"FROM \$\{SWIFT_IMAGE\} AS build", text)
    assert "swift build -c release --product spillwayd --static-swift-stdlib" in text
    assert "COPY --from=binary --chmod=0755 /out/usr/bin/spillwayd /usr/bin/spillwayd" in text
    # The binary comes from stage "build" by default, or from the release's binaries (named as
    # scripts/release-artifacts names them) with --build-arg SPILLWAYD_FROM=prebuilt.
    assert re.search(r"^ARG SPILLWAYD_FROM=build$", text, flags=re.M)
    assert re.search(r"^FROM \$\{SPILLWAYD_FROM\} AS binary$", text, flags=re.M)
    assert "COPY --from=dist spillwayd-${SPILLWAY_VERSION}-linux-${TARGETARCH} /out/usr/bin/spillwayd" in text
    assert re.search(r"^USER 65532:65532$", text, flags=re.M)
    assert {"libcurl4", "libsystemd0", "libmicrohttpd12", "libyaml-0-2", "libssl3", "ca-certificates"} <= runtime_packages()
    assert "libcurl3-gnutls" not in text
    assert 'ENTRYPOINT ["/usr/bin/spillwayd"]' in text


def test_the_build_context_holds_everything_the_containerfile_copies():
    """packaging/Containerfile.dockerignore admits only what the build stage copies: a source
    missing from it would fail the image build, which no test here can run."""
    admitted = [line[1:].rstrip("/") for line in (REPO / "packaging/Containerfile.dockerignore").read_text().splitlines()
                if line.startswith("!")]
    sources = [src for line in CONTAINERFILE.read_text().splitlines() if line.startswith("COPY ") and "--from" not in line
               for src in line.split()[1:-1]]
    assert sources
    for src in sources:
        src = src.removeprefix("./").rstrip("/")
        assert (REPO / src).exists(), src
        assert any(src == a or src.startswith(a + "/") for a in admitted), f"{src} is not in the build context"


def test_rootfs_refuses_a_non_empty_destination(static_binary, tmp_path):
    (tmp_path / "something").write_text("keep me")
    proc = subprocess.run([str(ROOTFS), str(static_binary), str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "is not empty" in proc.stderr
    assert (tmp_path / "something").read_text() == "keep me"
