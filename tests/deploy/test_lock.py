"""Reproducible installs (issue 23, point 11): every dependency is locked with hashes in
requirements/*.txt (`make lock` writes them from pyproject.toml and requirements/*.in),
and make, the image and CI install from those locks only."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from manifests import DEPLOY, REPO
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REQUIREMENTS = REPO / "requirements"
LOCKS = ["dev", "runtime", "build", "uv", "checkov"]


def locked(name: str) -> dict[str, list[tuple[Version, Marker | None, list[str]]]]:
    """package -> [(version, marker, hashes)] of one lock file (a package may appear once
    per marker, e.g. a version per Python)."""
    text = (REQUIREMENTS / f"{name}.txt").read_text()
    entries: dict[str, list[tuple[Version, Marker | None, list[str]]]] = {}
    for block in re.split(r"\n(?=\S)", re.sub(r"^\s*#.*$", "", text, flags=re.M)):
        block = block.strip()
        if not block:
            continue
        head = block.split("\\", 1)[0].strip()
        requirement = Requirement(head)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{name}.txt: {head} is not pinned"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        entries.setdefault(canonicalize_name(requirement.name), []).append(
            (Version(spec.version), requirement.marker, hashes))
    return entries


def applicable(entries: list[tuple[Version, Marker | None, list[str]]]) -> Version | None:
    versions = [version for version, marker, _ in entries if marker is None or marker.evaluate()]
    assert len(versions) <= 1, entries
    return versions[0] if versions else None


def declared() -> tuple[list[Requirement], list[Requirement]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(r) for r in project["dependencies"]]
    dev = [Requirement(r) for r in project["optional-dependencies"]["dev"]]
    return runtime, dev


def inputs(name: str) -> list[Requirement]:
    lines = (REQUIREMENTS / name).read_text().splitlines()
    return [Requirement(line.split("#")[0]) for line in lines if line.split("#")[0].strip()]


@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_package_is_pinned_with_hashes(lock: str) -> None:
    entries = locked(lock)
    assert entries, f"requirements/{lock}.txt is empty"
    for package, versions in entries.items():
        for version, _, hashes in versions:
            assert hashes, f"requirements/{lock}.txt: {package}=={version} has no hash"


def test_the_locks_cover_what_pyproject_and_the_inputs_declare() -> None:
    """Adding a dependency without `make lock` fails here (and the venv would lack it)."""
    runtime, dev = declared()
    pending_runtime, pending_dev = inputs("pending-runtime.in"), inputs("pending-dev.in")
    wanted = {
        "dev": runtime + dev + pending_runtime + pending_dev + inputs("build.in"),
        "runtime": runtime + pending_runtime,
        "build": inputs("build.in"),
        "uv": inputs("uv.in"),
        "checkov": inputs("checkov.in"),
    }
    for lock, requirements in wanted.items():
        entries = locked(lock)
        for requirement in requirements:
            if requirement.marker is not None and not requirement.marker.evaluate():
                continue
            name = canonicalize_name(requirement.name)
            assert name in entries, f"{requirement} is not in requirements/{lock}.txt: run `make lock`"
            version = applicable(entries[name])
            assert version is not None and requirement.specifier.contains(version, prereleases=True), (
                f"requirements/{lock}.txt has {name}=={version}, outside {requirement}: run `make lock`")


def test_the_image_gets_the_versions_the_tests_ran_with() -> None:
    dev = locked("dev")
    for lock in ("runtime", "build"):
        for package, entries in locked(lock).items():
            assert {v for v, _, _ in entries} <= {v for v, _, _ in dev[package]}, (lock, package)


def test_this_environment_is_the_dev_lock() -> None:
    """The running virtualenv holds exactly the locked versions (make venv installs from
    the lock, not from pyproject's ranges)."""
    for package, entries in {**locked("dev"), **locked("uv")}.items():
        version = applicable(entries)
        if version is not None:
            assert Version(metadata.version(package)) == version, f"{package}: not the locked {version}"
    assert "hypothesis-jsonschema" not in {canonicalize_name(d.metadata["Name"]) for d in metadata.distributions()}


def test_make_and_ci_install_from_the_locks() -> None:
    makefile = (REPO / "Makefile").read_text()
    stamp_rule = re.search(r"^\$\(STAMP\):(.*)$", makefile, re.M)
    assert stamp_rule and "requirements/dev.txt" in stamp_rule.group(1), "the venv must rebuild when the lock changes"
    recipes = re.findall(r"^\t(.*)$", makefile, re.M)
    installs = [r for r in recipes if re.search(r"\b(pip|uv pip|UV_PIP\)) (install|sync)\b", r)]
    assert installs and all("--require-hashes" in r or "--no-deps" in r and " -e ." in r for r in installs), installs
    assert re.search(r"^lock:", makefile, re.M) and "scripts/lock.sh" in makefile
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_the_image_installs_from_the_locks() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"pip wheel --require-hashes --no-deps --wheel-dir /wheels -r requirements/runtime\.txt",
                     dockerfile)
    assert re.search(r"pip install --require-hashes --no-deps -r requirements/build\.txt", dockerfile)
    assert "--no-build-isolation" in dockerfile


def test_lock_script_writes_every_lock() -> None:
    script = (REPO / "scripts" / "lock.sh").read_text()
    for lock in LOCKS:
        assert f"-o requirements/{lock}.txt" in script, lock
    assert "--generate-hashes" in script
    assert Path(REPO / "scripts" / "lock.sh").stat().st_mode & 0o111
