"""deploy/Dockerfile: multi-stage, non-root, exec-form, no compilers at run time."""

from __future__ import annotations

import json
import re

import pytest
from manifests import DEPLOY, REPO

Instruction = tuple[str, str]


def _instructions() -> list[Instruction]:
    text = (DEPLOY / "Dockerfile").read_text()
    # Join continuation lines, drop comments and blank lines.
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _stages() -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for keyword, rest in _instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


@pytest.fixture(scope="module")
def final_stage() -> list[Instruction]:
    return _stages()[-1]


def test_multi_stage_with_a_builder() -> None:
    stages = _stages()
    assert len(stages) >= 2
    froms = [stage[0][1] for stage in stages]
    assert any(re.search(r"\bAS\s+builder\b", f, re.I) for f in froms)
    builder_runs = " ".join(rest for stage in stages[:-1] for kw, rest in stage if kw == "RUN")
    assert "pip wheel" in builder_runs
    # Dependencies only from the hash-locked requirements (tests/deploy/test_lock.py).
    assert "--require-hashes" in builder_runs and "requirements/runtime.txt" in builder_runs


def test_final_stage_has_no_build_tools(final_stage: list[Instruction]) -> None:
    runs = " ".join(rest for kw, rest in final_stage if kw == "RUN")
    for tool in ("build-essential", "gcc", "apt-get install", "apk add"):
        assert tool not in runs
    # It installs only the builder's wheels, without an index.
    assert "--no-index" in runs and "from=builder" in runs


def test_runs_as_a_numeric_non_root_user(final_stage: list[Instruction]) -> None:
    users = [rest for kw, rest in final_stage if kw == "USER"]
    assert users, "the final stage must set USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0
    assert not gid or (gid.isdigit() and int(gid) > 0)


def test_exec_form_entrypoint_and_cmd(final_stage: list[Instruction]) -> None:
    entrypoint = [rest for kw, rest in final_stage if kw == "ENTRYPOINT"]
    cmd = [rest for kw, rest in final_stage if kw == "CMD"]
    assert json.loads(entrypoint[-1]) == ["python", "-m"]
    assert json.loads(cmd[-1]) == ["services.tracking"]


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    # Allow-list: ignore everything, then re-include only what the build copies.
    assert patterns[0] == "*"
    assert {"!pyproject.toml", "!requirements/", "!shared/", "!services/"} <= set(patterns)
    copied = [rest for kw, rest in _instructions() if kw == "COPY" and "--from" not in rest]
    for source in (part for c in copied for part in c.split()[:-1]):
        included = {source, f"{source.rstrip('/')}/", f"{source.split('/')[0]}/"}
        assert {f"!{p}" for p in included} & set(patterns), source
