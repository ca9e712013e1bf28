"""Reads and checks requirements.lock against pyproject.toml; used by scripts/lock and the lock test.

    python scripts/lockfile.py requirements pyproject.toml      the ranges to resolve (dependencies + test)
    python scripts/lockfile.py unbounded pyproject.toml         the same with every upper bound lifted
    python scripts/lockfile.py from-report REPORT.json          a lock file from ``pip install --report``
    python scripts/lockfile.py check pyproject.toml LOCK        exit 1 with one line per disagreement
    python scripts/lockfile.py diff OLD_LOCK NEW_LOCK           what moved between two lock files

Only the standard library and ``packaging`` (which pip vendors) are used, so it runs before any venv exists.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version
except ImportError:  # a bare interpreter: pip carries the same module
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]
    from pip._vendor.packaging.version import Version  # type: ignore[no-redef]

HEADER = (
    "# tuitune's whole environment, exact versions and hashes: written by `bash scripts/lock` from\n"
    "# pyproject.toml's ranges; installed by scripts/setup with --require-hashes --no-deps.\n"
    "# Packages under [tool.tuitune.lock] no-deps are locked alone (their own dependencies are not wanted).\n"
)
_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def project_requirements(pyproject: Path) -> list[Requirement]:
    """pyproject's dependencies, its test extra and the no-deps packages, as parsed requirements."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data["project"]
    lines = list(project.get("dependencies", [])) + list(project.get("optional-dependencies", {}).get("test", []))
    return [Requirement(line) for line in lines]


def no_deps_requirements(pyproject: Path) -> list[Requirement]:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    return [Requirement(r) for r in data.get("tool", {}).get("tuitune", {}).get("lock", {}).get("no-deps", [])]


def unbounded(req: Requirement) -> str:
    """``req`` without its ``<``/``<=`` bounds: what the newest-releases trial asks for."""
    kept = [str(s) for s in req.specifier if s.operator not in ("<", "<=", "~=", "==")]
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}{','.join(kept)}"


def read_lock(path: Path) -> dict[str, str]:
    """Canonical package name -> pinned version; a line that pins nothing is an error naming it."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("--hash"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ValueError(f"{path}:{number}: '{line}' pins no version (expected NAME==VERSION)")
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def from_report(report: Path) -> str:
    """A hashed lock file from pip's installation report (one or more reports' installs merged)."""
    entries: dict[str, tuple[str, str, str]] = {}
    for install in json.loads(report.read_text(encoding="utf-8"))["install"]:
        meta = install["metadata"]
        name, version = meta["name"], meta["version"]
        info = install.get("download_info", {})
        hashes = info.get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            raise SystemExit(f"pip reported no sha256 for {name} {version} ({info.get('url', '?')}); "
                             "cannot write a hashed lock")
        key = canonicalize_name(name)
        entries[key] = (name, version, hashes["sha256"])
    lines = [HEADER]
    for key in sorted(entries):
        name, version, digest = entries[key]
        lines.append(f"{name}=={version} \\\n    --hash=sha256:{digest}")
    return "\n".join(lines) + "\n"


def check(pyproject: Path, lock: Path) -> list[str]:
    """Every disagreement between pyproject's ranges and the lock, one sentence each."""
    pins = read_lock(lock)
    problems = []
    for req in project_requirements(pyproject) + no_deps_requirements(pyproject):
        if req.marker is not None and not req.marker.evaluate():
            continue
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name} is required by pyproject.toml but missing from {lock.name}; "
                            "run `bash scripts/lock`")
        elif req.specifier and not req.specifier.contains(Version(version), prereleases=True):
            problems.append(f"{lock.name} pins {req.name}=={version}, outside pyproject's range "
                            f"'{req.specifier}'; run `bash scripts/lock`")
    return problems


def diff(old: Path, new: Path) -> str:
    a, b = read_lock(old), read_lock(new)
    lines = []
    for name in sorted(set(a) | set(b)):
        if a.get(name) != b.get(name):
            lines.append(f"  {name}: {a.get(name, '-')} -> {b.get(name, '-')}")
    return "\n".join(lines) or "  nothing moved"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    command, paths = argv[0], [Path(p) for p in argv[1:]]
    if command == "requirements":
        print("\n".join(str(r) for r in project_requirements(paths[0])))
    elif command == "unbounded":
        print("\n".join(unbounded(r) for r in project_requirements(paths[0])))
    elif command == "no-deps":
        print("\n".join(str(r) for r in no_deps_requirements(paths[0])))
    elif command == "from-report":
        merged = {"install": []}
        for path in paths:
            merged["install"] += json.loads(path.read_text(encoding="utf-8"))["install"]
        tmp = paths[0].with_suffix(".merged.json")
        tmp.write_text(json.dumps(merged), encoding="utf-8")
        sys.stdout.write(from_report(tmp))
    elif command == "check":
        problems = check(paths[0], paths[1])
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            return 1
        print(f"{paths[1].name} agrees with {paths[0].name}")
    elif command == "diff":
        print(diff(paths[0], paths[1]))
    else:
        print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
