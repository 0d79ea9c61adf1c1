"""Kubernetes manifests: they render with the real `kubectl kustomize`, validate against
the API schemas, and carry the operational guarantees issue 10 asks for (probes,
hardening, resources, graceful shutdown, disruption budgets, autoscaling, no committed
secrets, HA in prod) and issue 23's (images by digest, explicit pull policy, secrets by
reference, a NetworkPolicy for every in-cluster dependency). checkov runs in
test_checkov.py."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from manifests import (
    K8S,
    KUBECTL,
    OVERLAYS,
    REPO,
    SERVICES,
    containers,
    lcs_deployments,
    of_kind,
    pod_spec,
    rendered,
)

# The oldest Kubernetes minor we support; kubernetes-validate ships 1.25 .. 1.37.
K8S_VERSION = "1.30.0"
CRD_SCHEMAS = Path(__file__).parent / "crd_schemas"
CRD_KINDS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): "rabbitmqcluster.json",
    ("postgresql.cnpg.io/v1", "Cluster"): "cnpg-cluster.json",
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): "cnpg-scheduledbackup.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.json",
}
SECRET_ENV = {"LCS_AUTH_SECRET", "LCS_ID_HASH_KEY", "LCS_SMTP_PASSWORD", "LCS_SMS_TOKEN", "LCS_PUBLIC_LINK_KEYS"}
URL_ENV = {"LCS_DATABASE_URL", "LCS_AMQP_URL"}
# The release pipeline replaces this digest (docs/OPERATIONS.md, "Images").
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def _generated_names(path: str) -> list[str]:
    kust = yaml.safe_load((K8S / path / "kustomization.yaml").read_text())
    return [g["name"] for key in ("secretGenerator", "configMapGenerator") for g in kust.get(key, [])]


def _workloads(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return of_kind(objs, "Deployment") + of_kind(objs, "Job")


# ------------------------------------------------------------------------- rendering
def test_rendered_by_the_locked_kubectl(kustomization: str) -> None:
    version = subprocess.run([str(KUBECTL), "version", "--client", "-o", "json"], capture_output=True, text=True,
                             check=True, timeout=60).stdout
    assert json.loads(version)["kustomizeVersion"].startswith("v5."), version
    objs = rendered(kustomization)
    assert objs, f"{kustomization} rendered nothing"
    keys = [_key(o) for o in objs]
    assert len(keys) == len(set(keys)), f"duplicate objects in {kustomization}"


def test_generated_names_carry_a_content_hash() -> None:
    names = _generated_names("overlays/dev")
    objs = rendered("overlays/dev")
    for name in names:
        assert any(re.fullmatch(rf"{name}-[a-z0-9]{{10}}", o["metadata"]["name"]) for o in objs), name
    # ...and the Deployments reference the suffixed names, never the bare ones.
    text = json.dumps(of_kind(objs, "Deployment"))
    for name in names:
        assert f'"name": "{name}"' not in text


# ------------------------------------------------------------------------ validation
def test_every_object_validates_against_its_schema(kustomization: str) -> None:
    for obj in rendered(kustomization):
        crd_schema = CRD_KINDS.get((obj["apiVersion"], obj["kind"]))
        if crd_schema is not None:
            schema = json.loads((CRD_SCHEMAS / crd_schema).read_text())
            jsonschema.validate(obj, schema, cls=jsonschema.Draft202012Validator)
        else:
            try:
                kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                pytest.fail(f"{_key(obj)}: {e.message} at {'/'.join(map(str, e.path))}")


def test_crd_schemas_reject_unknown_fields() -> None:
    cluster = next(o for o in rendered("overlays/prod") if o["kind"] == "Cluster")
    broken = json.loads(json.dumps(cluster))
    broken["spec"]["instance"] = 3  # typo of `instances`
    schema = json.loads((CRD_SCHEMAS / "cnpg-cluster.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


# ------------------------------------------------------------------ workload hygiene
def test_probes_are_present_and_distinct(overlay: str) -> None:
    for workload in of_kind(rendered(overlay), "Deployment"):
        for c in pod_spec(workload)["containers"]:
            where = f"{overlay} {workload['metadata']['name']}/{c['name']}"
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in c, f"{where}: no {probe}"
    for workload in lcs_deployments(rendered(overlay)):
        c = pod_spec(workload)["containers"][0]
        assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["startupProbe"]["httpGet"]["path"] == "/livez"
        assert c["livenessProbe"]["httpGet"]["path"] != c["readinessProbe"]["httpGet"]["path"]


def test_pods_are_hardened(overlay: str) -> None:
    for workload in _workloads(rendered(overlay)):
        spec = pod_spec(workload)
        name = f"{overlay} {workload['kind']}/{workload['metadata']['name']}"
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, name
        assert isinstance(pod_sc["runAsUser"], int) and pod_sc["runAsUser"] > 0, name
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec.get("automountServiceAccountToken") is False, name
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for c in containers(spec):
            sc = c["securityContext"]
            where = f"{name}/{c['name']}"
            assert sc["runAsNonRoot"] is True, where
            assert isinstance(sc["runAsUser"], int) and sc["runAsUser"] > 0, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in sc["capabilities"], where
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
            # A read-only root needs somewhere writable for temp files.
            tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and tmp[0]["name"] in tmp_volumes, f"{where}: no emptyDir at /tmp"


def test_every_container_has_requests_and_limits(overlay: str) -> None:
    for workload in _workloads(rendered(overlay)):
        for c in containers(pod_spec(workload)):
            where = f"{overlay} {workload['metadata']['name']}/{c['name']}"
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][bound]), f"{where}: {bound}"


def test_shutdown_fits_in_the_termination_grace_period(overlay: str) -> None:
    objs = rendered(overlay)
    common = next(o for o in of_kind(objs, "ConfigMap") if o["metadata"]["name"] == "lcs-common")
    grace = float(common["data"]["LCS_SHUTDOWN_GRACE_SECONDS"])
    for workload in lcs_deployments(objs):
        spec = pod_spec(workload)
        c = spec["containers"][0]
        pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
        assert pre_stop[0] == "sleep"
        budget = grace + float(pre_stop[1])
        assert spec["terminationGracePeriodSeconds"] > budget, workload["metadata"]["name"]


def test_each_service_runs_its_own_migrations_first(overlay: str) -> None:
    for workload in lcs_deployments(rendered(overlay)):
        name = workload["metadata"]["name"]
        (init,) = pod_spec(workload)["initContainers"]
        assert init["args"] == ["shared.migrate", name]
        assert init["image"] == pod_spec(workload)["containers"][0]["image"]
        assert pod_spec(workload)["containers"][0]["args"] == [f"services.{name}"]


def test_services_expose_the_documented_ports(overlay: str) -> None:
    objs = rendered(overlay)
    services = {s["metadata"]["name"]: s for s in of_kind(objs, "Service")}
    for name, port in SERVICES.items():
        assert services[name]["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http"}]
        deployment = next(d for d in lcs_deployments(objs) if d["metadata"]["name"] == name)
        assert pod_spec(deployment)["containers"][0]["ports"] == [{"name": "http", "containerPort": port}]


def test_every_service_has_a_disruption_budget(overlay: str) -> None:
    objs = rendered(overlay)
    budgets = {p["metadata"]["name"]: p for p in of_kind(objs, "PodDisruptionBudget")}
    for workload in lcs_deployments(objs):
        pdb = budgets[workload["metadata"]["name"]]
        assert pdb["spec"]["selector"] == workload["spec"]["selector"]


def test_tracking_autoscales_on_cpu_and_needs_no_shared_volume(overlay: str) -> None:
    objs = rendered(overlay)
    (hpa,) = [h for h in of_kind(objs, "HorizontalPodAutoscaler") if h["metadata"]["name"] == "tracking"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "tracking"}
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    tracking = next(d for d in lcs_deployments(objs) if d["metadata"]["name"] == "tracking")
    assert "replicas" not in tracking["spec"], "the HPA owns tracking's replica count"
    # Exception photos are kept in PostgreSQL (LCS_PHOTO_STORE's default): the replicas share no
    # volume, so none needs ReadWriteMany storage. (The dev stand-in PostgreSQL keeps its own claim.)
    claims = [v for d in lcs_deployments(objs) for v in pod_spec(d).get("volumes", [])
              if "persistentVolumeClaim" in v]
    assert claims == []
    assert not [p for p in of_kind(objs, "PersistentVolumeClaim") if "photo" in p["metadata"]["name"]]
    env_from = pod_spec(tracking)["containers"][0]["envFrom"]
    configs = [o for o in of_kind(objs, "ConfigMap")
               if o["metadata"]["name"] in [e["configMapRef"]["name"] for e in env_from if "configMapRef" in e]]
    assert all(o["data"].get("LCS_PHOTO_STORE", "postgres") == "postgres" for o in configs)


# ------------------------------------------------------------------------- secrets
# What each lcs container must receive from Secrets (the rest comes from ConfigMaps).
NEEDS = {
    "migrate": {"LCS_AUTH_SECRET", "LCS_ID_HASH_KEY", "LCS_DATABASE_URL"},
    "service": {"LCS_AUTH_SECRET", "LCS_ID_HASH_KEY", "LCS_DATABASE_URL", "LCS_AMQP_URL"},
    "notifier": {"LCS_SMTP_PASSWORD", "LCS_SMS_TOKEN"},
    "links": {"LCS_PUBLIC_LINK_KEYS"},  # who signs (notifier) or verifies (tracking) public links
}


def _needs(workload: dict[str, Any], container: dict[str, Any]) -> set[str]:
    if container["name"] == "migrate":
        return NEEDS["migrate"]
    name = workload["metadata"]["name"]
    return NEEDS["service"] | (NEEDS["notifier"] if name == "notifier" else set()) \
        | (NEEDS["links"] if name in ("notifier", "tracking") else set())


@pytest.mark.parametrize("path", ["base", "overlays/prod"])
def test_no_secret_values_in_base_or_prod(path: str) -> None:
    assert of_kind(rendered(path), "Secret") == [], f"{path} must not carry Secret objects"
    for directory in [K8S / path, K8S / "components"]:
        for f in directory.rglob("*.yaml"):
            text = f.read_text()
            assert "secretGenerator" not in text and not re.search(r"^kind:\s*Secret\b", text, re.M), f


def test_secrets_reach_containers_by_reference_only(overlay: str) -> None:
    """A secret enters a container whole through `envFrom: secretRef` (or as a mounted
    file), never as an env entry: no secretKeyRef, and no literal value holding one. The
    only env values built from secrets are URLs whose password is a $(VAR) filled from a
    Secret through envFrom."""
    for workload in _workloads(rendered(overlay)):
        for c in containers(pod_spec(workload)):
            where = f"{overlay} {workload['metadata']['name']}/{c['name']}"
            for env in c.get("env", []):
                assert "secretKeyRef" not in env.get("valueFrom", {}), (where, env)
                assert env["name"] not in SECRET_ENV, (where, env)
                value = env.get("value", "")
                if env["name"] in URL_ENV or "://" in value:
                    assert re.search(r"://[^:/@]+:\$\([A-Za-z_]+\)@", value) or "@" not in value, (where, env)
                assert not re.search(r"(?i)pass|secret|token|key", env["name"]) or env["name"].endswith("_FILE"), (
                    where, env)


def test_dev_secrets_are_obviously_dev_only() -> None:
    kust = yaml.safe_load((K8S / "overlays/dev/kustomization.yaml").read_text())
    for generator in kust["secretGenerator"]:
        for literal in generator["literals"]:
            assert "dev-only" in literal.partition("=")[2], literal


def test_every_referenced_secret_exists_in_dev() -> None:
    objs = rendered("overlays/dev")
    secrets = {s["metadata"]["name"]: s for s in of_kind(objs, "Secret")}
    configmaps = {c["metadata"]["name"] for c in of_kind(objs, "ConfigMap")}
    for workload in of_kind(objs, "Deployment"):
        spec = pod_spec(workload)
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets, volume
        for c in containers(spec):
            from_secrets: set[str] = set()
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps, source
                if "secretRef" in source:
                    secret = secrets[source["secretRef"]["name"]]
                    from_secrets |= {source.get("prefix", "") + key for key in secret["data"]}
            if workload["metadata"]["name"] in SERVICES:
                missing = _needs(workload, c) - from_secrets
                assert not missing, f"{workload['metadata']['name']}/{c['name']} gets no {sorted(missing)}"


def test_prod_secrets_are_the_ones_the_operations_guide_creates() -> None:
    """The Secrets ops create by hand (docs/OPERATIONS.md) carry exactly the LCS_* keys
    the prod containers take from them."""
    guide = (REPO / "docs" / "OPERATIONS.md").read_text()
    created = {
        m.group(1): set(re.findall(r"--from-literal=([A-Z_]+)=", m.group(2)))
        for m in re.finditer(r"create secret generic (lcs-[a-z-]+) ((?:.*\\\n)*.*)", guide)
    }
    loop = re.search(r'for s in ([a-z ]+); do\n\s+kubectl -n lcs create secret generic "lcs-pg-\$s"', guide)
    assert loop, "the guide creates one lcs-pg-<service> Secret per service in a loop"
    created |= {f"lcs-pg-{service}": set() for service in loop.group(1).split()}
    operator_made = {"lcs-rabbitmq-default-user"}
    objs = rendered("overlays/prod")
    for workload in lcs_deployments(objs):
        for c in containers(pod_spec(workload)):
            used = {s["secretRef"]["name"] for s in c["envFrom"] if "secretRef" in s}
            missing_secrets = used - operator_made - set(created)
            assert not missing_secrets, f"the guide does not create {missing_secrets}"
            refs = {s["secretRef"]["name"] for s in c["envFrom"] if "secretRef" in s and "prefix" not in s}
            provided = set().union(*(created[name] for name in refs))
            env = {e["name"] for e in c.get("env", [])}
            missing = _needs(workload, c) - provided - env
            assert not missing, f"prod {workload['metadata']['name']}/{c['name']} gets no {sorted(missing)}"


# ---------------------------------------------------------------------------- prod
def test_prod_runs_at_least_two_of_everything() -> None:
    objs = rendered("overlays/prod")
    scaled = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(objs, "HorizontalPodAutoscaler")}
    assert set(scaled) == {"tracking", "web"}
    for workload in lcs_deployments(objs):
        name = workload["metadata"]["name"]
        if name in scaled:
            assert "replicas" not in workload["spec"] and scaled[name]["spec"]["minReplicas"] >= 2, name
        else:
            assert workload["spec"]["replicas"] >= 2, name


def test_prod_images_are_pinned() -> None:
    """The lcs image by digest (a placeholder the release pipeline sets), the operators'
    data-store images by exact release tag."""
    objs = rendered("overlays/prod")
    kust = yaml.safe_load((K8S / "overlays/prod/kustomization.yaml").read_text())
    (entry,) = [i for i in kust["images"] if i["name"] == "lcs"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", entry["digest"]) and "newTag" not in entry, entry
    if entry["digest"] == PLACEHOLDER_DIGEST:
        assert "set by the release pipeline" in (K8S / "overlays/prod/kustomization.yaml").read_text()
    for workload in _workloads(objs):
        for c in containers(pod_spec(workload)):
            assert c["image"] == f"{entry['newName']}@{entry['digest']}", c["image"]
    images = [o["spec"]["image"] for o in of_kind(objs, "RabbitmqCluster")]
    images += [o["spec"]["imageName"] for o in of_kind(objs, "Cluster")]
    for image in images:
        name, _, tag = image.rpartition(":")
        assert "@sha256:" in image or (name and re.fullmatch(r"\d+\.\d+(\.\d+)?(-[a-z]+)?", tag)), image


def test_every_container_states_its_pull_policy(overlay: str) -> None:
    for workload in _workloads(rendered(overlay)):
        for c in containers(pod_spec(workload)):
            # IfNotPresent: an image by digest never changes; dev's lcs:dev is loaded into
            # the laptop cluster (kind load) and exists in no registry.
            assert c.get("imagePullPolicy") == "IfNotPresent", f"{workload['metadata']['name']}/{c['name']}"


def test_prod_rabbitmq_is_a_three_node_quorum_cluster() -> None:
    (rabbit,) = of_kind(rendered("overlays/prod"), "RabbitmqCluster")
    assert rabbit["spec"]["replicas"] == 3
    config = rabbit["spec"]["rabbitmq"]["additionalConfig"]
    assert re.search(r"^default_queue_type\s*=\s*quorum$", config, re.M)


def test_prod_postgres_has_replicas_and_a_least_privilege_role_per_service() -> None:
    objs = rendered("overlays/prod")
    (cluster,) = of_kind(objs, "Cluster")
    assert cluster["spec"]["instances"] >= 3  # 1 primary + 2 replicas
    sql = " ; ".join(cluster["spec"]["bootstrap"]["initdb"]["postInitApplicationSQL"])
    assert "REVOKE CREATE ON SCHEMA public FROM PUBLIC" in sql
    roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    for service in SERVICES:
        assert f"CREATE SCHEMA {service} AUTHORIZATION {service}" in sql
        assert roles[service]["login"] is True and not roles[service].get("superuser")
        assert roles[service]["passwordSecret"] == {"name": f"lcs-pg-{service}"}
    assert "GRANT ALL" not in sql.upper() and "SUPERUSER" not in sql.upper()
    # Every service connects as its own role to the primary (-rw) Service.
    for workload in lcs_deployments(objs):
        name = workload["metadata"]["name"]
        for c in containers(pod_spec(workload)):
            env = {e["name"]: e for e in c["env"]}
            url = env["LCS_DATABASE_URL"]["value"]
            assert url.startswith(f"postgresql://{name}:$(LCS_DB_password)@{cluster['metadata']['name']}-rw:")
            assert {"prefix": "LCS_DB_", "secretRef": {"name": f"lcs-pg-{name}"}} in c["envFrom"]
    assert of_kind(objs, "ScheduledBackup"), "prod Postgres must be backed up"


def test_components_are_included() -> None:
    prod = rendered("overlays/prod")
    policies = {p["metadata"]["name"]: p for p in of_kind(prod, "NetworkPolicy")}
    deny = policies["lcs-default-deny"]["spec"]
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"} and "ingress" not in deny and "egress" not in deny
    allowed_ports = {
        p["port"] for pol in policies.values() for rule in pol["spec"].get("egress", []) for p in rule["ports"]
    }
    assert {53, 5432, 5672, 587} <= allowed_ports
    (monitor,) = of_kind(prod, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    services = [s for s in of_kind(prod, "Service") if s["metadata"]["name"] in SERVICES]
    selector = monitor["spec"]["selector"]["matchLabels"]
    for service in services:
        assert selector.items() <= service["metadata"]["labels"].items(), service["metadata"]["name"]
    assert of_kind(rendered("overlays/dev"), "NetworkPolicy")


def test_overlays_list() -> None:
    assert sorted(p.name for p in (K8S / "overlays").iterdir()) == sorted(o.split("/")[1] for o in OVERLAYS)


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    return set(selector) <= {"matchLabels"} and selector.get("matchLabels", {}).items() <= labels.items()


def test_every_dev_dependency_has_its_own_network_policy() -> None:
    """Each in-cluster stand-in (PostgreSQL, RabbitMQ, Mailpit, the SMS gateway) is
    isolated both ways: only lcs pods reach it, only on a port its container serves, and
    it opens nothing but DNS."""
    objs = rendered("overlays/dev")
    policies = of_kind(objs, "NetworkPolicy")
    infra = [d for d in of_kind(objs, "Deployment")
             if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/part-of") == "lcs-dev-infra"]
    assert {d["metadata"]["name"] for d in infra} == {"postgres", "rabbitmq", "mailpit", "sms-gateway"}
    for dependency in infra:
        name = dependency["metadata"]["name"]
        labels = dependency["spec"]["template"]["metadata"]["labels"]
        served = {p["containerPort"] for c in pod_spec(dependency)["containers"] for p in c["ports"]}
        own = [p for p in policies if _selects(p, labels) and "Ingress" in p["spec"]["policyTypes"]]
        assert own, f"no NetworkPolicy isolates {name}"
        selecting = [p for p in policies if _selects(p, labels)]
        assert any("Egress" in p["spec"]["policyTypes"] for p in own), f"{name}: egress not isolated"
        for policy in selecting:
            for rule in policy["spec"].get("ingress", []):
                assert rule["ports"] and {p["port"] for p in rule["ports"]} <= served, (name, rule)
                for peer in rule["from"]:
                    assert set(peer) == {"podSelector"}, (name, peer)
                    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/part-of"] == "lcs", (name, peer)
            for rule in policy["spec"].get("egress", []):
                assert {p["port"] for p in rule["ports"]} == {53}, (name, rule)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_web_autoscales_and_calls_the_backends_through_their_services(overlay: str) -> None:
    objs = rendered(overlay)
    (hpa,) = [h for h in of_kind(objs, "HorizontalPodAutoscaler") if h["metadata"]["name"] == "web"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "web"
    (config,) = [c for c in of_kind(objs, "ConfigMap") if c["metadata"]["name"].startswith("web-config")]
    for name, port in SERVICES.items():
        if name != "web":
            assert config["data"][f"LCS_{name.upper()}_URL"] == f"http://{name}:{port}"


def test_prod_serves_the_desk_through_an_sse_friendly_ingress() -> None:
    objs = rendered("overlays/prod")
    (ingress,) = of_kind(objs, "Ingress")
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 60  # well above the 15 s heartbeat
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "web"
    assert ingress["spec"]["tls"]


def test_network_policy_lets_web_reach_the_backends_only_on_their_ports() -> None:
    objs = rendered("overlays/prod")
    (policy,) = [p for p in of_kind(objs, "NetworkPolicy") if p["metadata"]["name"] == "lcs-allow-web-to-services"]
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "web"
    ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert ports == {port for name, port in SERVICES.items() if name != "web"}
