"""Helpers for the deployment tests: repo paths, rendered overlays (cached), selectors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from kustomize_lite import build

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
# Every directory with a kustomization that must render on its own.
KUSTOMIZATIONS = ["base", "overlays/dev", "overlays/prod"]
OVERLAYS = ["overlays/dev", "overlays/prod"]
SERVICES = {"tracking": 8001, "receipts": 8002, "complaints": 8003, "notifier": 8004, "web": 8005}

_cache: dict[tuple[str, str], list[dict[str, Any]]] = {}


def render_python(path: str) -> list[dict[str, Any]]:
    if ("py", path) not in _cache:
        _cache[("py", path)] = build(K8S / path)
    return _cache[("py", path)]


def render_kubectl(path: str) -> list[dict[str, Any]] | None:
    """`kubectl kustomize` output, or None where no kubectl binary exists."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    if ("kubectl", path) not in _cache:
        out = subprocess.run(
            [kubectl, "kustomize", str(K8S / path)], capture_output=True, text=True, check=True, timeout=120
        ).stdout
        _cache[("kubectl", path)] = [d for d in yaml.safe_load_all(out) if d]
    return _cache[("kubectl", path)]


def rendered(path: str) -> list[dict[str, Any]]:
    """The objects an overlay produces: kubectl's rendering where available (it is what
    ops run), otherwise the Python renderer's."""
    return render_kubectl(path) or render_python(path)


def of_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def lcs_deployments(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in of_kind(objs, "Deployment") if o["metadata"]["name"] in SERVICES]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]
