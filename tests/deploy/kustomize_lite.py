"""A small kustomize renderer for exactly the features deploy/k8s uses.

It exists so the manifests can be checked where no kustomize binary is available, and
as a second opinion where one is: tests render every overlay with both and compare.
Supported (anything else raises, so a new feature cannot slip past silently):

- `resources` (files and directories) and `components` (kind: Component);
- `patches` with `path`: strategic merge, targeted by kind + metadata.name, one or
  more YAML documents per file; `null` deletes a key; lists of containers, env,
  volumes, ... merge by their key with patch items first (as kustomize orders them);
- `images` (newName / newTag / digest) on containers and initContainers;
- `namespace`;
- `labels` with `includeSelectors: false` (metadata labels only);
- `secretGenerator` / `configMapGenerator` with `literals`, including kustomize's
  content-hash name suffix and the rewrite of references to the generated names.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

KUSTOMIZATION_KEYS = {
    "apiVersion", "kind", "resources", "components", "patches", "images", "namespace",
    "labels", "secretGenerator", "configMapGenerator",
}
# Strategic-merge keys for the lists the patches touch (as in the Kubernetes API).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
}
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "PersistentVolume", "StorageClass", "PriorityClass",
}
POD_SPEC_PATHS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}


class UnsupportedFeature(Exception):
    """The kustomization uses something this renderer deliberately does not handle."""


def build(directory: Path) -> list[Obj]:
    """Render the kustomization in `directory` like `kubectl kustomize` would."""
    return _apply(Path(directory), [], component=False)


def _load_yaml_docs(path: Path) -> list[Obj]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _apply(directory: Path, objs: list[Obj], *, component: bool) -> list[Obj]:
    kust = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kust) - KUSTOMIZATION_KEYS
    if unknown:
        raise UnsupportedFeature(f"{directory}: {sorted(unknown)}")
    expected_kind = "Component" if component else "Kustomization"
    if kust.get("kind", "Kustomization") != expected_kind:
        raise UnsupportedFeature(f"{directory}: expected kind {expected_kind}")

    objs = list(objs)
    for entry in kust.get("resources", []):
        path = directory / entry
        if path.is_dir():
            objs.extend(_apply(path, [], component=False))
        else:
            objs.extend(_load_yaml_docs(path))
    for entry in kust.get("components", []):
        objs = _apply(directory / entry, objs, component=True)

    renamed: dict[tuple[str, str], str] = {}
    for kind, key in (("Secret", "secretGenerator"), ("ConfigMap", "configMapGenerator")):
        for gen in kust.get(key, []):
            obj = _generate(kind, gen)
            renamed[(kind, gen["name"])] = obj["metadata"]["name"]
            objs.append(obj)

    for patch in kust.get("patches", []):
        if set(patch) != {"path"}:
            raise UnsupportedFeature(f"{directory}: only `patches: - path:` is supported")
        for doc in _load_yaml_docs(directory / patch["path"]):
            _apply_patch(objs, doc, directory / patch["path"])

    if "namespace" in kust:
        for obj in objs:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = kust["namespace"]

    for label in kust.get("labels", []):
        if label.get("includeSelectors", False) or label.get("includeTemplates", False):
            raise UnsupportedFeature("labels: only includeSelectors: false is supported")
        for obj in objs:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])

    for image in kust.get("images", []):
        for obj in objs:
            for container in _containers(obj):
                _set_image(container, image)

    if renamed:
        for obj in objs:
            _rename_references(obj, renamed)
    return objs


# ----------------------------------------------------------------------- generators
def _generate(kind: str, gen: Obj) -> Obj:
    if set(gen) - {"name", "literals"}:
        raise UnsupportedFeature(f"generator {gen.get('name')}: only name + literals")
    data: dict[str, str] = {}
    for literal in gen.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    obj: Obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": gen["name"]}}
    if kind == "Secret":
        obj["type"] = "Opaque"
        obj["data"] = {k: _kustomize_base64(v) for k, v in data.items()}
    else:
        obj["data"] = data
    obj["metadata"]["name"] = f"{gen['name']}-{content_hash(obj)}"
    return obj


def _kustomize_base64(value: str) -> str:
    """Base64 as kustomize writes it: encodings of 70+ characters are cut into
    70-character lines, each ending in a newline."""
    encoded = base64.b64encode(value.encode()).decode()
    if len(encoded) < 70:
        return encoded
    return "".join(encoded[i:i + 70] + "\n" for i in range(0, len(encoded), 70))


def content_hash(obj: Obj) -> str:
    """kustomize's name suffix, so a changed Secret or ConfigMap gets a new name and the
    Deployments referencing it roll: sha256 of a canonical JSON encoding (taken before
    the object is named), first 10 hex digits with 0 1 3 a e swapped for letters."""
    encoded: Obj = {"kind": obj["kind"], "name": "", "data": obj.get("data", {})}
    if obj["kind"] == "Secret":
        encoded["type"] = obj.get("type", "Opaque")
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans({"0": "g", "1": "h", "3": "k", "a": "m", "e": "t"}))


def _rename_references(obj: Obj, renamed: dict[tuple[str, str], str]) -> None:
    for pod_spec in _pod_specs(obj):
        for container in pod_spec.get("containers", []) + pod_spec.get("initContainers", []):
            for env in container.get("env", []):
                ref_from = env.get("valueFrom", {})
                for ref_key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                    ref = ref_from.get(ref_key)
                    if ref and (kind, ref["name"]) in renamed:
                        ref["name"] = renamed[(kind, ref["name"])]
            for source in container.get("envFrom", []):
                for ref_key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                    ref = source.get(ref_key)
                    if ref and (kind, ref["name"]) in renamed:
                        ref["name"] = renamed[(kind, ref["name"])]
        for volume in pod_spec.get("volumes", []):
            if "secret" in volume and ("Secret", volume["secret"]["secretName"]) in renamed:
                volume["secret"]["secretName"] = renamed[("Secret", volume["secret"]["secretName"])]
            if "configMap" in volume and ("ConfigMap", volume["configMap"]["name"]) in renamed:
                volume["configMap"]["name"] = renamed[("ConfigMap", volume["configMap"]["name"])]


# ---------------------------------------------------------------------------- patches
def _apply_patch(objs: list[Obj], patch: Obj, source: Path) -> None:
    targets = [
        o for o in objs
        if o["kind"] == patch["kind"] and o["metadata"]["name"] == patch["metadata"]["name"]
    ]
    if len(targets) != 1:
        raise UnsupportedFeature(
            f"{source}: patch for {patch['kind']}/{patch['metadata']['name']} "
            f"matches {len(targets)} objects"
        )
    strategic_merge(targets[0], patch)


def strategic_merge(base: Obj, patch: Obj) -> Obj:
    """Merge `patch` into `base` in place (the subset of strategic merge we use)."""
    for key, value in patch.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            strategic_merge(base[key], value)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(base.get(key), list):
            base[key] = _merge_list(base[key], value, MERGE_KEYS[key])
        else:
            base[key] = _drop_nulls(copy.deepcopy(value))
    return base


def _merge_list(base: list[Obj], patch: list[Obj], merge_key: str) -> list[Obj]:
    by_key = {item[merge_key]: item for item in base}
    merged = []
    for item in patch:
        if item[merge_key] in by_key:
            merged.append(strategic_merge(by_key.pop(item[merge_key]), item))
        else:
            merged.append(_drop_nulls(copy.deepcopy(item)))
    # kustomize emits the patch's items first, then the untouched ones in base order.
    return merged + [item for item in base if item[merge_key] in by_key]


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


# ----------------------------------------------------------------------------- images
def _pod_specs(obj: Obj) -> list[Obj]:
    path = POD_SPEC_PATHS.get(obj.get("kind", ""))
    node: Any = obj
    for part in path or ():
        node = node.get(part) if isinstance(node, dict) else None
    return [node] if path and isinstance(node, dict) else []


def _containers(obj: Obj) -> list[Obj]:
    return [
        c for spec in _pod_specs(obj)
        for c in spec.get("containers", []) + spec.get("initContainers", [])
    ]


def _split_image(ref: str) -> tuple[str, str | None, str | None]:
    name, digest = (ref.split("@", 1) + [None])[:2] if "@" in ref else (ref, None)
    tag = None
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    return name, tag, digest


def _set_image(container: Obj, image: Obj) -> None:
    name, tag, digest = _split_image(container["image"])
    if name != image["name"]:
        return
    name = image.get("newName", name)
    if "digest" in image:
        container["image"] = f"{name}@{image['digest']}"
    elif "newTag" in image:
        container["image"] = f"{name}:{image['newTag']}"
    else:
        container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
