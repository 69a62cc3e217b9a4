"""The project's version: where it is written, how versions compare, and the changelog.

VERSION at the root of the repository is the one source of truth. The binary reads it at build
time (scripts/build-info); the .deb and its man page take it from the binary. The files that
cannot read it (the chart's metadata, the kustomize image tag, the install commands in the docs)
repeat it, and VERSION_SITES lists each of those places: `scripts/release VERSION` rewrites them
all, `scripts/release --check` fails when any disagrees, and the test suite runs that check.

Used by scripts/release and scripts/release-artifacts; Python standard library only.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSION_FILE = ROOT / "VERSION"
CHANGELOG = ROOT / "CHANGELOG.md"

# https://semver.org/#is-there-a-suggested-regular-expression-regex-to-check-a-semver-string
SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
# A version as it appears inside a file: semver without build metadata (which no image tag can
# carry), and the Debian spelling of a prerelease (0.6.0~rc.1 sorts before 0.6.0).
_IN_TEXT = r"\d+\.\d+\.\d+(?:[-~][0-9A-Za-z.-]*[0-9A-Za-z])?"


@dataclass(frozen=True, order=False)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        """A semantic version such as 1.2.3 or 1.2.3-rc.1; a leading "v" (a tag name) is allowed."""
        match = SEMVER.fullmatch(text.strip().removeprefix("v"))
        if not match:
            raise ValueError(f"'{text}' is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE], e.g. 0.6.0 or 0.6.0-rc.1)")
        major, minor, patch, pre, build = match.groups()
        return cls(int(major), int(minor), int(patch), tuple(pre.split(".")) if pre else (), build or "")

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + self.build
        return text

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    @property
    def tag(self) -> str:
        return f"v{self}"

    @property
    def debian(self) -> str:
        """The Debian upstream version: "~" before a prerelease so that 0.6.0~rc.1 < 0.6.0."""
        return str(self).replace("-", "~", 1) if self.prerelease else str(self)

    def precedence(self) -> tuple:
        """A sort key with semver's precedence (spec item 11); build metadata does not count."""
        if not self.prerelease:
            pre: tuple = ((1,),)  # a release ranks above every prerelease of it
        else:
            pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
            pre = ((0,), *pre)
        return (self.major, self.minor, self.patch, pre)

    def __lt__(self, other: Version) -> bool:
        return self.precedence() < other.precedence()


def current() -> Version:
    return Version.parse(VERSION_FILE.read_text())


@dataclass(frozen=True)
class Site:
    """Places in one file where the version is written: every match of `pattern` (its group
    "v" is the version) must be the current version. `required` sites must match at least once:
    they are metadata that tools read; the docs' install commands are checked where they appear."""

    path: str
    pattern: str
    required: bool = False
    debian: bool = False  # the version in its Debian spelling (a .deb file name)

    def expected(self, version: Version) -> str:
        return version.debian if self.debian else str(version)


_OWNER = r"[a-z0-9][a-z0-9-]*"
_DOC_SITES = [
    # helm install oci://ghcr.io/OWNER/charts/spillway --version X (the flag may follow a line break)
    r"oci://ghcr\.io/" + _OWNER + r"/charts/spillway\b[^\n]*(?:\\\n[^\n]*?)??--version (?P<v>" + _IN_TEXT + ")",
    # the container image, as a reference or a kustomize newTag
    r"ghcr\.io/" + _OWNER + r"/spillway:(?P<v>" + _IN_TEXT + r")\b",
    r'newTag: "(?P<v>' + _IN_TEXT + r')"',
]
_DEB_FILE = r"spillwayd_(?P<v>" + _IN_TEXT + r")-1_(?:amd64|arm64)\.deb"
_DOCS = ["README.md", "docs/install.md", "docs/operations.md", "docs/releasing.md", "charts/spillway/README.md",
         "packaging/Containerfile"]

VERSION_SITES: list[Site] = [
    Site("VERSION", r"\A(?P<v>" + _IN_TEXT + r")\n\Z", required=True),
    Site("charts/spillway/Chart.yaml", r"(?m)^version: (?P<v>" + _IN_TEXT + r")$", required=True),
    Site("charts/spillway/Chart.yaml", r'(?m)^appVersion: "(?P<v>' + _IN_TEXT + r')"$', required=True),
    Site("packaging/kustomize/default/kustomization.yaml",
         r'(?m)^ +app\.kubernetes\.io/version: "(?P<v>' + _IN_TEXT + r')"$', required=True),
    Site("packaging/kustomize/default/kustomization.yaml", r'(?m)^ +newTag: "(?P<v>' + _IN_TEXT + r')"$',
         required=True),
    *[Site(doc, pattern) for doc in _DOCS for pattern in _DOC_SITES],
    *[Site(doc, _DEB_FILE, debian=True) for doc in _DOCS],
]


def disagreements(version: Version, root: Path = ROOT) -> list[str]:
    """Each place whose version is not `version`, as "path: found X, expected Y"."""
    problems = []
    for site in VERSION_SITES:
        path = root / site.path
        if not path.exists():
            if site.required:
                problems.append(f"{site.path}: missing")
            continue
        found = [m.group("v") for m in re.finditer(site.pattern, path.read_text())]
        if site.required and not found:
            problems.append(f"{site.path}: no line matching {site.pattern!r}")
        problems += [f"{site.path}: found {v}, expected {site.expected(version)}"
                     for v in found if v != site.expected(version)]
    return problems


def rewrite(version: Version, root: Path = ROOT) -> list[str]:
    """Write `version` into every site; returns the files changed."""
    changed = []
    for path in sorted({site.path for site in VERSION_SITES}):
        file = root / path
        if not file.exists():
            continue
        text = original = file.read_text()
        for site in (s for s in VERSION_SITES if s.path == path):
            def put(match: re.Match, site: Site = site) -> str:
                start, end = match.span("v")
                whole = match.group(0)
                offset = match.start()
                return whole[: start - offset] + site.expected(version) + whole[end - offset:]
            text = re.sub(site.pattern, put, text)
        if text != original:
            file.write_text(text)
            changed.append(path)
    return changed


# --- CHANGELOG.md (https://keepachangelog.com/en/1.1.0/) ---------------------------------------

_SECTION = re.compile(r"(?m)^## \[(?P<name>[^\]]+)\][^\n]*\n")
_LINK = re.compile(r"(?m)^\[(?P<name>[^\]]+)\]: (?P<url>\S+)$")


def _sections(text: str) -> list[tuple[str, int, int]]:
    """(name, start of heading, end of body) for each "## [name]" section."""
    heads = list(_SECTION.finditer(text))
    links = _LINK.search(text)
    ends = [h.start() for h in heads[1:]] + [links.start() if links else len(text)]
    return [(h.group("name"), h.start(), end) for h, end in zip(heads, ends)]


def notes(version: Version, changelog: Path = CHANGELOG) -> str:
    """The body of `version`'s section of the changelog: the release notes."""
    text = changelog.read_text()
    for name, start, end in _sections(text):
        if name == str(version):
            body = _SECTION.sub("", text[start:end], count=1).strip()
            if body:
                return body + "\n"
            break
    raise LookupError(f"{changelog.name} has no notes under '## [{version}]'")


def unreleased(changelog: Path = CHANGELOG) -> str:
    text = changelog.read_text()
    for name, start, end in _sections(text):
        if name == "Unreleased":
            return _SECTION.sub("", text[start:end], count=1).strip()
    raise LookupError(f"{changelog.name} has no '## [Unreleased]' section")


def release_changelog(version: Version, previous: Version, date: datetime.date, changelog: Path = CHANGELOG) -> None:
    """Move the [Unreleased] notes under a new "## [version] - date" heading, leave
    [Unreleased] empty, and point the comparison links at the new tag."""
    text = changelog.read_text()
    body = unreleased(changelog)
    if not body:
        raise ValueError(f"{changelog.name}: nothing under '## [Unreleased]'; write the changes of {version} there first")
    name, start, end = next(s for s in _sections(text) if s[0] == "Unreleased")
    section = f"## [Unreleased]\n\n## [{version}] - {date.isoformat()}\n\n{body}\n\n"
    text = text[:start] + section + text[end:]

    links = {m.group("name"): m for m in _LINK.finditer(text)}
    if "Unreleased" in links:
        old = links["Unreleased"]
        base = old.group("url").split("/compare/")[0]
        new = (f"[Unreleased]: {base}/compare/{version.tag}...HEAD\n"
               f"[{version}]: {base}/compare/{previous.tag}...{version.tag}")
        text = text[: old.start()] + new + text[old.end():]
    changelog.write_text(text)
