"""checkov on the rendered overlays (issue 23, point 10).

checkov (PyPI) runs from its own virtualenv, `.venv/checkov` (requirements/checkov.txt),
on exactly what `kubectl kustomize` renders. Every finding must be accepted, with its
reason, in the table "Accepted checkov findings" of docs/OPERATIONS.md; a row that no
finding matches fails too, so the table always says what is really left."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from manifests import OVERLAYS, REPO, render_text

CHECKOV = Path(os.environ.get("LCS_CHECKOV", REPO / ".venv" / "checkov" / "bin" / "checkov"))
GUIDE = REPO / "docs" / "OPERATIONS.md"
TABLE_HEADING = "### Accepted checkov findings"

Finding = tuple[str, str]  # (check id, "Kind/name")


def accepted() -> dict[str, dict[Finding, str]]:
    """overlay -> {(check, object): reason}, from the guide's table."""
    text = GUIDE.read_text()
    assert TABLE_HEADING in text, f"{GUIDE} has no '{TABLE_HEADING}' section"
    section = text.split(TABLE_HEADING, 1)[1].split("\n#", 1)[0]
    table: dict[str, dict[Finding, str]] = {overlay: {} for overlay in OVERLAYS}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not re.match(r"`CKV2?_K8S_\d+`", cells[0]):
            continue
        check = cells[0].split("`")[1]
        objects = re.findall(r"`([A-Za-z]+/[a-z0-9-]+)`", cells[2])
        assert objects and cells[3], f"row without objects or reason: {line}"
        for overlay in (o.strip() for o in cells[1].split(",")):
            for obj in objects:
                table[f"overlays/{overlay}"][(check, obj)] = cells[3]
    return table


def findings(overlay: str, tmp_path: Path) -> set[Finding]:
    assert CHECKOV.exists(), f"{CHECKOV} missing: `make venv` installs it from requirements/checkov.txt"
    manifest = tmp_path / f"{overlay.replace('/', '-')}.yaml"
    manifest.write_text(render_text(overlay))
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "HOME": str(tmp_path)}
    run = subprocess.run(
        [str(CHECKOV), "--framework", "kubernetes", "--file", str(manifest), "--output", "json",
         "--quiet", "--compact", "--skip-download"],  # --skip-download: no platform calls
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert run.returncode in (0, 1), f"checkov failed ({run.returncode}):\n{run.stderr[-3000:]}"
    reports = json.loads(run.stdout) if run.stdout.strip() else []
    reports = reports if isinstance(reports, list) else [reports]
    if run.returncode == 1:
        assert reports, run.stderr[-3000:]
    found: set[Finding] = set()
    for report in reports:
        assert report["summary"]["parsing_errors"] == 0, report["summary"]
        assert report["summary"]["resource_count"] > 0, report["summary"]
        for failure in report["results"]["failed_checks"]:
            kind, _namespace, name = failure["resource"].split(".")[:3]
            found.add((failure["check_id"], f"{kind}/{name}"))
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checkov_finds_only_what_the_operations_guide_accepts(overlay: str, tmp_path: Path) -> None:
    allowed = accepted()[overlay]
    found = findings(overlay, tmp_path)
    unlisted = sorted(found - set(allowed))
    stale = sorted(set(allowed) - found)
    assert not unlisted, (
        f"checkov findings on {overlay} that docs/OPERATIONS.md does not accept (fix the manifests, or add a "
        f"row with the reason): {unlisted}")
    assert not stale, f"rows of docs/OPERATIONS.md that no checkov finding on {overlay} matches any more: {stale}"


def test_the_allow_list_is_read() -> None:
    table = accepted()
    assert table["overlays/prod"] and table["overlays/dev"]
    assert ("CKV_K8S_43", "Deployment/tracking") not in table["overlays/prod"], "prod pins the lcs image by digest"
