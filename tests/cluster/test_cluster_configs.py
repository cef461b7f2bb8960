"""Every file in cluster/: the cluster-launcher configs against Ray's own cluster-config schema and
validation (what `ray up` checks before it calls a cloud), the KubeRay one against the RayCluster
CRD's fields, and the security rules of all of them: nothing opened to the world, the dashboard on
127.0.0.1, token authentication on, no secrets, the Ray version pinned to the installed one.

No network and no cloud calls: Ray's provider bootstrap (which talks to AWS/GCP) is not run."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from raytrain.runtime.local import cluster_env

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"
ALL_CONFIGS = sorted(CLUSTER.glob("*.yaml"))
KUBERAY = CLUSTER / "kuberay.yaml"
LAUNCHER_CONFIGS = [p for p in ALL_CONFIGS if p != KUBERAY]

RAY_VERSION = ray.__version__
RAY_SCHEMA = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
# A subset of KubeRay's RayCluster CRD (ray.io/v1); where it comes from is in its "$comment".
CRD_SCHEMA_PATH = REPO / "tests" / "assets" / "kuberay_raycluster_v1_schema.json"
CRD_SCHEMA = json.loads(CRD_SCHEMA_PATH.read_text())

# The shared file system of the documented alternative; it must be mounted on every node.
SHARED = "/mnt/shared"


def _uses_a_bucket(submit: str, header: str) -> None:
    """The documented search writes to a bucket; the shared file system is the alternative."""
    assert re.search(r"tune\.storage_path=(s3|gs)://YOUR-BUCKET/", submit), submit
    assert re.search(r"export\.registry_dir=(s3|gs)://YOUR-BUCKET/", submit), submit
    assert f"tune.storage_path={SHARED}/" in header and "tune.shared_storage=true" in header


ids = [p.name for p in ALL_CONFIGS]
launcher_ids = [p.name for p in LAUNCHER_CONFIGS]


def _raw(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _header(path: Path) -> str:
    """The comment block a file starts with (the commands that use it)."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# "))
    return "\n".join(lines)


def _command(header: str, start: str) -> str:
    """The (backslash-continued) command in `header` that starts with `start`."""
    lines = header.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(start):
            out = [line]
            while out[-1].rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                out.append(lines[i])
            return " ".join(part.rstrip("\\ ") for part in out)
    raise AssertionError(f"no `{start} ...` command in the header:\n{header}")


def ray_validate(raw: dict[str, Any]) -> dict[str, Any]:
    """Ray's own checks, in `ray up`'s order: the file against Ray's cluster-config JSON schema
    (required keys, no unknown keys, types), then Ray's defaults merged in (`prepare_config`) and
    `validate_config` (the schema again, plus head_node_type and min/max_workers consistency)."""
    jsonschema.validate(raw, RAY_SCHEMA)
    prepared = prepare_config(copy.deepcopy(raw))
    validate_config(prepared)
    return prepared


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in a YAML tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _kuberay_docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(KUBERAY.read_text()) if d]


def _raycluster() -> dict[str, Any]:
    (cluster,) = [d for d in _kuberay_docs() if d["kind"] in ("RayCluster", "RayJob")]
    return cluster


def _crd_errors(doc: dict[str, Any]) -> list[str]:
    errors = jsonschema.Draft7Validator(CRD_SCHEMA).iter_errors(doc)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


# ---------------------------------------------------------------------------------------------
# The set of configs


def test_cluster_configs_exist() -> None:
    names = {p.name for p in ALL_CONFIGS}
    assert {"gpu.yaml", "gcp-gpu.yaml", "kuberay.yaml", "local.yaml"} <= names


# ---------------------------------------------------------------------------------------------
# Cluster-launcher configs against Ray's schema


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=launcher_ids)
def test_launcher_config_passes_rays_validation(path: Path) -> None:
    prepared = ray_validate(_raw(path))
    assert prepared["head_node_type"] in prepared["available_node_types"]


@pytest.mark.parametrize("key", ["provider", "cluster_name"])
@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=launcher_ids)
def test_missing_required_key_fails_validation(path: Path, key: str) -> None:
    raw = _raw(path)
    del raw[key]
    with pytest.raises(jsonschema.ValidationError, match=key):
        ray_validate(raw)


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=launcher_ids)
def test_unknown_key_fails_validation(path: Path) -> None:
    raw = _raw(path)
    raw["head_start_ray_command"] = raw.pop("head_start_ray_commands")  # a typo
    with pytest.raises(jsonschema.ValidationError, match="head_start_ray_command"):
        ray_validate(raw)


def test_node_type_without_resources_fails_validation() -> None:
    raw = _raw(CLUSTER / "gpu.yaml")
    del raw["available_node_types"]["gpu_worker"]["resources"]
    with pytest.raises(jsonschema.ValidationError, match="resources"):
        ray_validate(raw)


def test_unknown_head_node_type_fails_validation() -> None:
    raw = _raw(CLUSTER / "gpu.yaml")
    raw["head_node_type"] = "nope"
    with pytest.raises(ValueError, match="head_node_type"):
        ray_validate(raw)


# ---------------------------------------------------------------------------------------------
# Cluster-launcher configs: what they do


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=launcher_ids)
def test_launcher_header_gives_the_commands(path: Path) -> None:
    header = _header(path)
    rel = f"cluster/{path.name}"
    for command in (f"ray up {rel}", f"ray dashboard {rel}", f"ray down {rel}"):
        assert command in header, f"{path.name}: header lacks `{command}`"
    submit = _command(header, "RAY_AUTH_MODE=token ray job submit")
    assert "--address http://127.0.0.1:8265" in submit
    assert "-- raytrain tune search_spaces/" in submit and "--address auto" in submit
    if path.name == "local.yaml":  # machines you own: an NFS mount is the usual way there
        assert f"tune.storage_path={SHARED}/" in submit and "tune.shared_storage=true" in submit
    else:
        _uses_a_bucket(submit, header)


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=launcher_ids)
def test_launcher_installs_raytrain_from_the_mounted_checkout(path: Path) -> None:
    prepared = ray_validate(_raw(path))
    targets = [remote for remote, local in prepared["file_mounts"].items() if local == "."]
    assert targets, "the checkout (.) is not in file_mounts"
    setup = prepared["setup_commands"]
    assert any("pip install" in c and f"-e {targets[0]}" in c for c in setup), setup
    # what is uploaded is an explicit list (test_upload_leaves_secrets_and_artifacts_behind)
    assert "/models/" in prepared.get("rsync_exclude", [])


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=launcher_ids)
def test_launcher_mounts_shared_storage_on_every_node(path: Path) -> None:
    prepared = ray_validate(_raw(path))
    mounts = [c for c in prepared["initialization_commands"] if f" {SHARED}" in c and "mount" in c]
    assert mounts, f"{path.name}: nothing mounts {SHARED}"
    if prepared.get("docker", {}).get("image"):
        run_options = " ".join(prepared["docker"].get("run_options", []))
        assert f"--volume {SHARED}:{SHARED}" in run_options


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=launcher_ids)
def test_launcher_dashboard_private_and_token_auth_on(path: Path) -> None:
    # after Ray's defaults are merged: a default start command would bind the dashboard to 0.0.0.0
    prepared = ray_validate(_raw(path))
    head = [c for c in prepared["head_start_ray_commands"] if "ray start" in c]
    assert len(head) == 1 and "--head" in head[0]
    assert "--dashboard-host=127.0.0.1" in head[0]
    starts = [
        c
        for c in prepared["head_start_ray_commands"] + prepared["worker_start_ray_commands"]
        if "ray start" in c
    ]
    for command in starts:
        assert "RAY_AUTH_MODE=token" in command, command
        assert cluster_env() in command, command  # as raytrain sets up its own local Ray
    # the token travels to every node as a file, never as a value in the config
    token_mounts = [
        r
        for r, local in prepared["file_mounts"].items()
        if r.endswith("/.ray/auth_token") and local == "~/.ray/auth_token"
    ]
    assert token_mounts, f"{path.name}: ~/.ray/auth_token is not in file_mounts"
    header = _header(path)
    assert "ray get-auth-token --generate" in header and "never run Ray here with token" in header


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=launcher_ids)
def test_launcher_pins_the_installed_ray(path: Path) -> None:
    raw = _raw(path)
    docker = raw.get("docker", {})
    if docker:
        images = [docker[k] for k in ("image", "head_image", "worker_image") if k in docker]
        assert images
        pattern = rf"rayproject/ray:{re.escape(RAY_VERSION)}-py3\d+-(gpu|cu\d+)"
        for image in images:
            assert re.fullmatch(pattern, image), f"{path.name}: {image} is not {pattern}"
    else:  # no container: the setup pins Ray with pip
        assert any(f"=={RAY_VERSION}" in c and "ray[" in c for c in raw["setup_commands"])


def test_aws_uses_its_own_security_group_everywhere() -> None:
    # without SecurityGroupIds Ray creates a default group that allows SSH from 0.0.0.0/0
    raw = _raw(CLUSTER / "gpu.yaml")
    assert raw["provider"]["type"] == "aws"
    for name, node_type in raw["available_node_types"].items():
        assert node_type["node_config"].get("SecurityGroupIds"), name
    assert "IpPermissions" not in raw["provider"].get("security_group", {})


def test_gcp_nodes_join_the_firewalled_network() -> None:
    # without networkInterfaces Ray picks the project's first subnet (often the default VPC)
    raw = _raw(CLUSTER / "gcp-gpu.yaml")
    assert raw["provider"]["type"] == "gcp"
    assert "gcp_credentials" not in raw["provider"]
    for name, node_type in raw["available_node_types"].items():
        config = node_type["node_config"]
        assert config.get("networkInterfaces") and "raytrain" in config["tags"]["items"], name
    header = _header(CLUSTER / "gcp-gpu.yaml")
    assert "--allow=tcp:22" in header and "--source-ranges=ADMIN_CIDR" in header


def test_gpu_workers_ask_for_gpus() -> None:
    for name in ("gpu.yaml", "gcp-gpu.yaml"):
        node_types = _raw(CLUSTER / name)["available_node_types"]
        workers = [t for t in node_types.values() if t.get("resources", {}).get("GPU", 0) >= 1]
        assert workers, f"{name}: no node type with a GPU"
        for worker in workers:
            assert 0 <= worker["min_workers"] <= worker["max_workers"]


# ---------------------------------------------------------------------------------------------
# Security, over every file (comments included)


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=ids)
def test_nothing_open_to_the_world(path: Path) -> None:
    text = path.read_text()
    assert "0.0.0.0/0" not in text and "::/0" not in text
    bind_all = re.compile(r"dashboard[-_]host[\"']?\s*[:= ]\s*[\"']?0\.0\.0\.0")
    assert not bind_all.search(text), "the dashboard is bound to 0.0.0.0"


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=ids)
def test_token_auth_never_disabled(path: Path) -> None:
    text = path.read_text()
    assert not re.search(r"RAY_AUTH_MODE[\"']?\s*[:=]\s*[\"']?disabled", text)
    assert not re.search(r"(?m)^\s*mode:\s*[\"']?disabled", text)
    for key, value in _walk(list(yaml.safe_load_all(text))):
        if key == "name" and value == "RAY_AUTH_MODE":
            pytest.fail("RAY_AUTH_MODE set in a pod env (leave it to spec.authOptions)")


SECRET_PATTERNS = [
    r"AKIA[0-9A-Z]{16}",  # AWS access key id
    r"-----BEGIN",  # private keys, certificates
    r"(?i)\bpassword\s*:",
    r"(?i)aws_secret_access_key",
    r"(?i)\"private_key\"",  # GCP service-account JSON
    r"(?i)\bapi[_-]?key\s*[:=]",
    r"RAY_AUTH_TOKEN\s*[:=]\s*(?![\"']?\$\()",  # a token value, not `$(kubectl get secret ...)`
]


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=ids)
def test_no_secrets(path: Path) -> None:
    text = path.read_text()
    for pattern in SECRET_PATTERNS:
        assert not re.search(pattern, text), f"{path.name} matches {pattern}"
    for doc in yaml.safe_load_all(text):
        assert not (isinstance(doc, dict) and doc.get("kind") == "Secret")
        for key, _value in _walk(doc):
            assert key not in ("gcp_credentials", "aws_secret_access_key", "password"), key


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=ids)
def test_no_public_services(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        for key, value in _walk(doc):
            if key in ("type", "serviceType"):
                assert value not in ("LoadBalancer", "NodePort"), f"{key}: {value}"
            if key == "enableIngress":
                assert value is not True


# ---------------------------------------------------------------------------------------------
# KubeRay


def test_vendored_crd_subset_is_a_valid_schema() -> None:
    jsonschema.Draft7Validator.check_schema(CRD_SCHEMA)


def test_kuberay_raycluster_matches_the_crd() -> None:
    cluster = _raycluster()
    assert cluster["apiVersion"] == "ray.io/v1"
    assert cluster["kind"] == "RayCluster"
    assert _crd_errors(cluster) == []


@pytest.mark.parametrize(
    "breakage, where",
    [
        (lambda c: c["spec"].pop("headGroupSpec"), "headGroupSpec"),
        (lambda c: c["spec"]["workerGroupSpecs"][0].pop("minReplicas"), "minReplicas"),
        (lambda c: c["spec"]["workerGroupSpecs"][0].pop("groupName"), "groupName"),
        (lambda c: c["spec"]["headGroupSpec"]["template"]["spec"].pop("containers"), "containers"),
        (lambda c: c["spec"]["headGroupSpec"]["rayStartParams"].update({"num-cpus": 0}), "string"),
        (lambda c: c["spec"].update({"workerGroupSpec": []}), "workerGroupSpec"),
        (lambda c: c["spec"]["authOptions"].update({"mode": "off"}), "off"),
    ],
    ids=[
        "no-head",
        "no-minReplicas",
        "no-groupName",
        "no-containers",
        "int-param",
        "typo",
        "bad-auth-mode",
    ],
)
def test_crd_subset_catches_broken_clusters(breakage: Any, where: str) -> None:
    cluster = copy.deepcopy(_raycluster())
    breakage(cluster)
    errors = _crd_errors(cluster)
    assert errors and any(where in e for e in errors), errors


def test_kuberay_header_gives_the_commands() -> None:
    header = _header(KUBERAY)
    assert "kubectl apply -f cluster/kuberay.yaml" in header
    forward = _command(header, "kubectl port-forward")
    assert "--address 127.0.0.1" in forward and "8265:8265" in forward
    submit = _command(header, "ray job submit")
    assert "--address http://127.0.0.1:8265" in submit
    assert "-- raytrain tune search_spaces/" in submit and "--address auto" in submit
    _uses_a_bucket(submit, header)
    assert "kubectl delete -f cluster/kuberay.yaml" in header
    assert "export RAY_AUTH_MODE=token" in header


def test_kuberay_token_auth_and_private_dashboard() -> None:
    spec = _raycluster()["spec"]
    assert spec["authOptions"]["mode"] == "token"
    head = spec["headGroupSpec"]
    assert "rayStartParams" in head
    assert head["rayStartParams"].get("dashboard-host", "127.0.0.1") == "127.0.0.1"
    assert head.get("serviceType", "ClusterIP") == "ClusterIP"


def test_kuberay_pins_the_installed_ray() -> None:
    spec = _raycluster()["spec"]
    assert spec["rayVersion"] == RAY_VERSION
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    for group in groups:
        for container in group["template"]["spec"]["containers"]:
            image = container["image"]
            pinned = f"ray{RAY_VERSION}-" in image or image.startswith(
                f"rayproject/ray:{RAY_VERSION}-"
            )
            assert pinned, image
    # the image raytrain is built into starts from the pinned Ray image
    assert re.search(rf"FROM rayproject/ray:{re.escape(RAY_VERSION)}-py3\d+-gpu", _header(KUBERAY))


def test_kuberay_gpu_worker_group() -> None:
    workers = _raycluster()["spec"]["workerGroupSpecs"]
    gpu_groups = []
    for group in workers:
        assert group["minReplicas"] <= group.get("replicas", group["minReplicas"])
        assert group.get("replicas", group["minReplicas"]) <= group["maxReplicas"]
        for container in group["template"]["spec"]["containers"]:
            resources = container.get("resources", {})
            asks = {**resources.get("requests", {}), **resources.get("limits", {})}
            if int(asks.get("nvidia.com/gpu", 0)) >= 1:
                gpu_groups.append(group["groupName"])
    assert gpu_groups, "no worker group requests nvidia.com/gpu"


def test_kuberay_shared_pvc_on_head_and_workers() -> None:
    docs = _kuberay_docs()
    claims = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PersistentVolumeClaim"}
    rwx = {name for name, d in claims.items() if "ReadWriteMany" in d["spec"]["accessModes"]}
    assert rwx, "no ReadWriteMany PersistentVolumeClaim"
    spec = _raycluster()["spec"]
    for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
        pod = group["template"]["spec"]
        volumes = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in pod.get("volumes", [])
            if "persistentVolumeClaim" in v
        }
        mounts = {
            m["mountPath"]: volumes.get(m["name"])
            for c in pod["containers"]
            for m in c.get("volumeMounts", [])
        }
        assert mounts.get(SHARED) in rwx, f"{SHARED} is not a ReadWriteMany claim in {mounts}"


def test_kuberay_network_policy_limits_ingress_to_the_cluster() -> None:
    name = _raycluster()["metadata"]["name"]
    policies = [d for d in _kuberay_docs() if d["kind"] == "NetworkPolicy"]
    assert policies
    selector = {"ray.io/cluster": name}
    policy = policies[0]["spec"]
    assert policy["podSelector"]["matchLabels"] == selector
    assert "Ingress" in policy["policyTypes"]
    sources = [src for rule in policy["ingress"] for src in rule["from"]]
    assert sources and all(
        src.get("podSelector", {}).get("matchLabels") == selector for src in sources
    )


#: A checkout as a user has it: code to upload, and what must stay on this machine.
UPLOADED = {
    "pyproject.toml",
    "README.md",
    "raytrain/__init__.py",
    "raytrain/models/cnn.py",  # a package folder named like the registry: still uploaded
    "raytrain/data/io.py",
    "search_spaces/edges.yaml",
    "cluster/gpu.yaml",
    "tests/test_x.py",
}
KEPT_HERE = {
    "models/registry.json",
    "models/edges/1.0.0/model.pt",
    "results/edges/trials.csv",
    ".env",
    ".env.local",
    "cluster/.env",
    ".venv/bin/python",
    "wandb/run-1/files/config.yaml",
    "data/train/images/a.png",
    "datasets/anomaly/manifest.json",
    ".cache/raytrain/datasets/x.parquet",
    ".git/config",
    "raytrain/__pycache__/x.pyc",
    "raytrain.egg-info/PKG-INFO",
    "build/lib/x.py",
    "dist/raytrain-0.1.whl",
    "key.pem",
}


@pytest.mark.parametrize("path", LAUNCHER_CONFIGS, ids=launcher_ids)
def test_upload_leaves_secrets_and_artifacts_behind(path: Path, tmp_path: Path) -> None:
    """`rsync --dry-run` with the config's filter, as Ray's launcher calls it (one --exclude
    per rsync_exclude entry, a dir-merge per rsync_filter entry), over a fixture checkout:
    exactly the code is uploaded."""
    import shutil
    import subprocess

    rsync = shutil.which("rsync")
    if rsync is None:
        pytest.skip("rsync is not installed")
    raw = _raw(path)
    src = tmp_path / "checkout"
    for rel in UPLOADED | KEPT_HERE:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("x")
    argv = [rsync, "-a", "--dry-run", "--out-format=%n"]
    for pattern in raw.get("rsync_exclude", []):
        argv += ["--exclude", pattern]
    for name in raw.get("rsync_filter", []):
        argv += ["--filter", f"dir-merge,- {name}"]
    done = subprocess.run(
        [*argv, f"{src}/", str(tmp_path / "node")], capture_output=True, text=True, check=True
    )
    sent = {line for line in done.stdout.splitlines() if line and not line.endswith("/")}
    assert sent == UPLOADED, (sorted(sent - UPLOADED), sorted(UPLOADED - sent))
