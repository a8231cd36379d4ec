"""Check the lock files against pyproject.toml and against the installed packages.

    python tools/check_lock.py --stale       # uv.lock records pyproject's current dependencies,
                                             # requirements-lock.txt has uv.lock's versions
    .venv/bin/python tools/check_lock.py --installed   # .venv holds exactly the locked versions

``--stale`` needs only the standard library, so it runs before any environment exists (the pip
fallback and ``make lint``); it is exact for the names, extras and version ranges of
``[project] dependencies`` and every ``[project.optional-dependencies]`` group, which is what a
version bump or a new dependency changes. ``uv lock --check`` (also in ``make lint``) is the
complete check when uv is available. ``--installed`` evaluates the lock's environment markers
with ``packaging`` (a locked dependency of pytest), so it runs in ``.venv``.

Exit code 0 when everything matches, 1 with one ``error: ...`` line per mismatch on stderr.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Installed alongside the locked packages by the installers themselves, never locked.
UNLOCKED_TOOLS = frozenset({"pip", "setuptools", "wheel"})

_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?"
    r"\s*(?P<spec>[^;]*?)\s*(?:;(?P<marker>.*))?$"
)
_PINNED = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(?:\s*;(?P<marker>[^\\]*))?"
)

# One requirement as compared: (normalised name, sorted extras, sorted specifier clauses).
Requirement = tuple[str, tuple[str, ...], tuple[str, ...]]


def normalise(name: str) -> str:
    """The PEP 503 form of a distribution name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _clauses(spec: str) -> tuple[str, ...]:
    return tuple(sorted(c.replace(" ", "") for c in spec.split(",") if c.strip()))


def parse_requirement(text: str) -> Requirement:
    """Split a PEP 508 string such as ``"deltalake>=1.6,<2"``; markers are not compared.

    Raises ValueError for a string that is not a requirement.
    """
    match = _REQUIREMENT.match(text)
    if match is None:
        raise ValueError(f"not a requirement: {text!r}")
    extras = tuple(sorted(normalise(e) for e in (match["extras"] or "").split(",") if e.strip()))
    return normalise(match["name"]), extras, _clauses(match["spec"])


def pyproject_requirements(pyproject: Mapping[str, Any]) -> dict[str, set[Requirement]]:
    """The requirements of ``[project]`` by group: ``""`` for the runtime ones, else the extra."""
    project = pyproject["project"]
    groups = {"": set(map(parse_requirement, project.get("dependencies", [])))}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        groups[normalise(extra)] = set(map(parse_requirement, reqs))
    return groups


def lock_requirements(lock: Mapping[str, Any], project: str) -> dict[str, set[Requirement]]:
    """The requirements uv.lock was resolved for, from the project's ``requires-dist``.

    Raises ValueError when the lock has no entry for ``project``.
    """
    for package in lock.get("package", []):
        if normalise(package["name"]) == normalise(project):
            break
    else:
        raise ValueError(f"uv.lock has no package {project!r}")
    metadata = package.get("metadata", {})
    groups: dict[str, set[Requirement]] = {"": set()}
    for extra in metadata.get("provides-extras", []):
        groups[normalise(extra)] = set()
    for entry in metadata.get("requires-dist", []):
        extra_match = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", entry.get("marker", ""))
        group = normalise(extra_match[1]) if extra_match else ""
        extras = tuple(sorted(normalise(e) for e in entry.get("extras", [])))
        requirement = (normalise(entry["name"]), extras, _clauses(entry.get("specifier", "")))
        groups.setdefault(group, set()).add(requirement)
    return groups


def _show(req: Requirement) -> str:
    name, extras, clauses = req
    return name + (f"[{','.join(extras)}]" if extras else "") + ",".join(clauses)


def stale_errors(pyproject_path: Path, lock_path: Path, export_path: Path) -> list[str]:
    """Why the locks do not match pyproject.toml (an empty list when they do)."""
    pyproject = tomllib.loads(pyproject_path.read_text())
    lock = tomllib.loads(lock_path.read_text())
    wanted = pyproject_requirements(pyproject)
    locked = lock_requirements(lock, pyproject["project"]["name"])
    errors = []
    for group in sorted(wanted.keys() | locked.keys()):
        label = f"[{group}]" if group else "dependencies"
        for req in sorted(wanted.get(group, set()) - locked.get(group, set())):
            errors.append(f"{pyproject_path.name} has {label} {_show(req)}, {lock_path.name} not")
        for req in sorted(locked.get(group, set()) - wanted.get(group, set())):
            errors.append(f"{lock_path.name} has {label} {_show(req)}, {pyproject_path.name} not")
    project = normalise(pyproject["project"]["name"])
    lock_pins = {
        (normalise(p["name"]), p["version"])
        for p in lock.get("package", [])
        if normalise(p["name"]) != project
    }
    export_pins = {(name, version) for name, version, _ in exported_pins(export_path)}
    for name, version in sorted(lock_pins - export_pins):
        errors.append(f"{export_path.name} lacks {name}=={version} from {lock_path.name}")
    for name, version in sorted(export_pins - lock_pins):
        errors.append(f"{export_path.name} has {name}=={version}, not in {lock_path.name}")
    return errors


def exported_pins(export_path: Path) -> Iterable[tuple[str, str, str]]:
    """``(name, version, marker)`` for each ``name==version`` line of a requirements file."""
    for line in export_path.read_text().splitlines():
        match = _PINNED.match(line)
        if match:
            yield normalise(match["name"]), match["version"], (match["marker"] or "").strip()


def installed_errors(export_path: Path, project: str) -> list[str]:
    """How the running interpreter's packages differ from the lock (empty when they match)."""
    from importlib import metadata

    from packaging.markers import Marker

    wanted: dict[str, str] = {}
    for name, version, marker in exported_pins(export_path):
        if not marker or Marker(marker).evaluate():
            wanted[name] = version
    have: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:  # a half-written dist-info (an install in progress) has no metadata yet
            have[normalise(name)] = dist.version
    errors = []
    for name, version in sorted(wanted.items()):
        if name not in have:
            errors.append(f"{name}=={version} is locked but not installed")
        elif have[name] != version:
            errors.append(f"{name} {have[name]} is installed, the lock has {version}")
    ignored = UNLOCKED_TOOLS | {normalise(project)}
    for name in sorted(have.keys() - wanted.keys() - ignored):
        errors.append(f"{name} {have[name]} is installed but not in the lock")
    return errors


def main(argv: list[str] | None = None) -> int:
    """Run the checks asked for; print ``error: ...`` lines and return 1 on any mismatch."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stale", action="store_true", help="locks match pyproject.toml")
    parser.add_argument("--installed", action="store_true", help="this Python has the lock")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--lock", type=Path, default=ROOT / "uv.lock")
    parser.add_argument("--export", type=Path, default=ROOT / "requirements-lock.txt")
    args = parser.parse_args(argv)
    if not (args.stale or args.installed):
        parser.error("give --stale, --installed or both")
    errors = []
    if args.stale:
        errors += stale_errors(args.pyproject, args.lock, args.export)
        if errors:
            errors.append(
                "the lock is stale: run 'make lock' and commit uv.lock and requirements-lock.txt"
            )
    if args.installed:
        project = tomllib.loads(args.pyproject.read_text())["project"]["name"]
        found = installed_errors(args.export, project)
        if found:
            found.append("the environment differs from the lock: run 'make clean test'")
        errors += found
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
