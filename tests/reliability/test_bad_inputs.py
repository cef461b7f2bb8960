"""The catalogue of bad inputs: each gets one `error:` line naming the file, key or row, exit
code 2, no traceback, and leaves what was saved before exactly as it was.

Every case is a real `raytrain ...` subprocess run in a folder of its own, which holds a copy of
a populated model registry (one registered model, its `.pth` bundle and ONNX file) plus the
case's bad input. The sha256 of every file in the folder is taken before the command and
compared after it: a failing command may not change or delete anything; most may not even
create a file. Cases run a few at a time so their start-up (importing torch) overlaps.

Cases marked `ray` get past planning and need a cluster: they are pointed (`--address`) at the
test session's Ray instead of each starting one, and are `slow`.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

RAYTRAIN = [sys.executable, "-m", "raytrain.cli.main"]
#: A tiny valid config; cases append or override sections.
BASE = "model:\n  architecture: coefficient_optimizer\n  hidden_dims: [8]\n"
SAMPLE = (
    "dataset:\n  batch_size: 16\n  augmentation: none\n"
    "  sample: {num_train: 64, num_val: 16, num_test: 16}\n"
)
#: Subprocesses at once: enough to overlap imports, few enough for 2 cores.
PARALLEL = 4


@dataclass(frozen=True)
class Case:
    """One bad input. `argv` and `pattern` may use {d} (the case folder; escaped in the
    pattern); `files` maps a path in the folder to its text or bytes; `build` makes anything
    more complex. `pattern` is a regex the one `error:` line must match."""

    id: str
    argv: list[str]
    pattern: str
    files: dict[str, str | bytes] = field(default_factory=dict)
    build: Callable[[Path, Saved], None] | None = None
    code: int = 2
    ray: bool = False  # gets past planning: runs against the session's Ray, marked slow
    creates_nothing: bool = True
    absent: tuple[str, ...] = ()  # files that must not exist afterwards (code that ran)


@dataclass(frozen=True)
class Saved:
    """What exists before the cases run: a registry and a prepared dataset (templates)."""

    registry: Path  # a registry root with 'coef' v1.0.0
    dataset: Path  # a prepared anomaly dataset
    bundle: str  # file name of the .pth bundle inside the version folder


# -- builders for inputs that are not plain text ----------------------------------------------


def _edge_split(root: Path, n: int, size: int = 32, edge_size: int | None = None) -> None:
    import cv2

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "edges").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        es = edge_size or size
        cv2.imwrite(
            str(root / "images" / f"im{i}.png"), rng.integers(0, 255, (size, size), np.uint8)
        )
        cv2.imwrite(
            str(root / "edges" / f"im{i}.png"), (rng.random((es, es)) > 0.8).astype(np.uint8) * 255
        )


def _edges_with_unreadable_image(d: Path, _: Saved) -> None:
    _edge_split(d / "src" / "train", 4)
    _edge_split(d / "src" / "val", 2)
    (d / "src" / "train" / "images" / "im2.png").write_bytes(b"\x89PNG this is not an image")


def _edges_with_mismatched_sizes(d: Path, _: Saved) -> None:
    _edge_split(d / "src" / "train", 4)
    _edge_split(d / "src" / "val", 2, size=32, edge_size=24)


def _edges_with_empty_val(d: Path, _: Saved) -> None:
    _edge_split(d / "src" / "train", 4)
    _edge_split(d / "src" / "val", 0)


def _copy_registry(d: Path, saved: Saved) -> None:
    shutil.copytree(saved.registry, d / "models")


def _tampered_weights(d: Path, saved: Saved) -> None:
    _copy_registry(d, saved)
    weights = d / "models" / "coef" / "1.0.0" / "model.pt"
    weights.write_bytes(weights.read_bytes() + b"\0")


def _bundle_of_another_architecture(d: Path, saved: Saved) -> None:
    import torch
    from unit_helpers import tiny_model

    bundle = torch.load(saved.registry / "coef" / "1.0.0" / saved.bundle, weights_only=True)
    other, _ = tiny_model("anomaly_detector")
    bundle["model_state_dict"] = other.state_dict()
    torch.save(bundle, d / "mixed.pth")


class _RunsCode:
    """Unpickling this runs `touch PWNED`: what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def _pickle_with_code(d: Path, _: Saved) -> None:
    import torch

    torch.save({"model_state_dict": _RunsCode(d / "PWNED"), "metadata": {}}, d / "evil.pth")


def _truncated_shard(d: Path, saved: Saved) -> None:
    from raytrain.data.manifest import read_manifest

    shutil.copytree(saved.dataset, d / "data")
    shard = d / "data" / read_manifest(d / "data").splits["val"].shards[0].path
    shard.write_bytes(shard.read_bytes()[:-64])


def _vectors(d: Path, _: Saved) -> None:
    np.save(d / "x.npy", np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32))


def _file_in_the_way(d: Path, _: Saved) -> None:
    (d / "afile").write_text("a file, not a folder\n")


TRAIN_CFG = "training: {name: bad}\n" + BASE + SAMPLE + "training_params: {num_epochs: 2}\n"
ANOMALY_CFG = (
    "training: {name: bad}\nmodel: {architecture: anomaly_detector, hidden_dims: [8]}\n"
    "dataset: {path: data, batch_size: 16}\ntraining_params: {num_epochs: 1}\n"
)

CASES: list[Case] = [
    # -- the config file --------------------------------------------------------------------
    Case("missing_config", ["tune", "{d}/nope.yaml", "--dry-run"], r"{d}/nope\.yaml: no such file"),
    Case(
        "quick_not_a_mapping",
        ["tune", "{d}/c.yaml", "--dry-run", "--quick"],
        r"{d}/c\.yaml: quick: must be a mapping",
        files={"c.yaml": BASE + "quick: 3\n"},
    ),
    Case(
        "empty_config",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml: the file is empty",
        files={"c.yaml": ""},
    ),
    Case(
        "top_level_list",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml: the top level must be a mapping",
        files={"c.yaml": "- model\n- unet\n"},
    ),
    Case(
        "yaml_syntax",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml:6: YAML syntax error",
        files={"c.yaml": BASE + "optimizer:\n  learning_rate: [1e-3\n  type: Adam\n"},
    ),
    Case(
        "python_object_tag",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml:5: unsupported YAML tag",
        files={
            "c.yaml": BASE + "training:\n  name: !!python/object/apply:os.system ['touch PWNED']\n"
        },
        absent=("PWNED",),
    ),
    Case(
        "unknown_key",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml:4: trainng: unknown key \(did you mean 'training'\?\)",
        files={"c.yaml": BASE + "trainng:\n  name: x\n"},
    ),
    Case(
        "misplaced_key",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml:5: training\.learning_rate: unknown key",
        files={"c.yaml": BASE + "training:\n  learning_rate: 0.01\n"},
    ),
    Case(
        "wrong_type",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml:4: training_params\.num_epochs: .*\(got 'ten'\)",
        files={"c.yaml": BASE + "training_params: {num_epochs: ten}\n"},
    ),
    Case(
        "out_of_range",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml:4: optimizer\.learning_rate: Input should be greater than 0 \(got -0\.1\)",
        files={"c.yaml": BASE + "optimizer: {learning_rate: -0.1}\n"},
    ),
    Case(
        "set_without_value",
        ["tune", "{d}/c.yaml", "--dry-run", "--set", "optimizer.lr"],
        r"--set optimizer\.lr: expected KEY=VALUE",
        files={"c.yaml": BASE},
    ),
    Case(
        "set_unknown_key",
        ["tune", "{d}/c.yaml", "--dry-run", "--set", "optimizer.lr=0.1"],
        r"{d}/c\.yaml: optimizer\.lr: unknown key",
        files={"c.yaml": BASE},
    ),
    Case(
        "experiment_name_escapes",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml:4: training\.name: .*without '/'",
        files={"c.yaml": BASE + "training: {name: ../../etc}\n"},
    ),
    Case(
        "unknown_model",
        ["validate", "{d}/c.yaml"],
        r"{d}/c\.yaml:1: model\.architecture: unknown model architecture",
        files={"c.yaml": "model: {architecture: resnet9000}\n"},
    ),
    # -- the search space ---------------------------------------------------------------------
    Case(
        "empty_choices",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml:5: search_space\.batch_size: .*non-empty 'choices'",
        files={"c.yaml": BASE + "search_space:\n  batch_size: {type: categorical, choices: []}\n"},
    ),
    Case(
        "empty_range",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml:5: search_space\.dropout: .*'low' \(0\.2\) must be below 'high'",
        files={"c.yaml": BASE + "search_space:\n  dropout: {type: uniform, low: 0.2, high: 0.2}\n"},
    ),
    Case(
        "grid_over_a_range",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml:5: search_space\.dropout: .*'grid' needs a non-empty 'values' list",
        files={"c.yaml": BASE + "search_space:\n  dropout: {type: grid, low: 0.1, high: 0.3}\n"},
    ),
    Case(
        "log_range_from_zero",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml:5: search_space\.lr: .*log-scale range needs 'low' > 0",
        files={"c.yaml": BASE + "search_space:\n  lr: {type: loguniform, low: 0, high: 0.1}\n"},
    ),
    Case(
        "searched_value_invalid",
        ["validate", "{d}/c.yaml"],
        r"{d}/c\.yaml: search_space\.dropout: value 1\.5 for 'model\.dropout' is invalid",
        files={"c.yaml": BASE + "search_space:\n  dropout: {type: uniform, low: 0.5, high: 1.5}\n"},
    ),
    Case(
        "searched_key_unknown",
        ["validate", "{d}/c.yaml"],
        r"{d}/c\.yaml: search_space\.optimizer\.lr: .*unknown key",
        files={
            "c.yaml": BASE + "search_space:\n  optimizer.lr: {type: uniform, low: 0.1, high: 0.2}\n"
        },
    ),
    Case(
        "unknown_augmentation",
        ["validate", "{d}/c.yaml"],
        r"{d}/c\.yaml: .*NoSuchTransform",
        files={"c.yaml": BASE + "dataset:\n  augmentation: [{name: NoSuchTransform, p: 0.5}]\n"},
    ),
    Case(
        "too_many_workers",
        ["validate", "{d}/c.yaml"],
        r"{d}/c\.yaml: resources(\.num_workers)?: .*(do not fit|the cluster has)",
        files={"c.yaml": BASE + "resources: {num_workers: 4096}\n"},
    ),
    Case(
        "registry_name_escapes",
        ["validate", "{d}/c.yaml"],
        r"{d}/c\.yaml: export\.registry_name: registry name '\.\./models/x'",
        files={"c.yaml": BASE + "export: {registry_name: ../models/x}\n"},
    ),
    # -- data ---------------------------------------------------------------------------------
    Case(
        "source_without_splits",
        ["data", "prepare", "{d}/src", "--out", "{d}/out"],
        r"{d}/src",
        files={"src/README": "no train/ or val/ here\n"},
    ),
    Case(
        "unreadable_image",
        ["data", "prepare", "{d}/src", "--out", "{d}/out"],
        r"{d}/src/train/images/im2\.png: .*(readable|decode)",
        build=_edges_with_unreadable_image,
    ),
    Case(
        "image_and_target_sizes_differ",
        ["data", "prepare", "{d}/src", "--out", "{d}/out"],
        r"{d}/src/val/.*im\d\.png: .*(size|shape)",
        build=_edges_with_mismatched_sizes,
    ),
    Case(
        "empty_split",
        ["data", "prepare", "{d}/src", "--out", "{d}/out"],
        r"{d}/src/val: .*(holds no|empty)",
        build=_edges_with_empty_val,
    ),
    # -- models, checkpoints and the registry -------------------------------------------------
    Case(
        "registry_ref_escapes",
        ["evaluate", "../models"],
        r"registry name '\.\./models'",
        build=_copy_registry,
    ),
    Case(
        "unknown_registered_model",
        ["evaluate", "cof"],
        r"no registered model 'cof' \(did you mean 'coef'\?\)",
        build=_copy_registry,
    ),
    Case(
        "bad_version",
        ["evaluate", "coef:1.x"],
        r"'coef:1\.x': expected .*MAJOR\.MINOR\.PATCH",
        build=_copy_registry,
    ),
    Case(
        "corrupt_registry_index",
        ["registry", "list", "--root", "{d}/models"],
        r"{d}/models/registry\.json: corrupt registry index",
        files={"models/registry.json": '{"models": {"coef": [{"version": '},
    ),
    Case(
        "weights_changed_after_registration",
        ["predict", "coef:1.0.0", "{d}/x.npy", "--out", "{d}/out"],
        r"model\.pt: checksum differs from the registry's",
        build=lambda d, s: (_tampered_weights(d, s), _vectors(d, s)),
    ),
    Case(
        "checkpoint_of_another_architecture",
        ["predict", "{d}/mixed.pth", "{d}/x.npy", "--out", "{d}/out"],
        r"{d}/mixed\.pth: weights do not fit architecture 'coefficient_optimizer'",
        build=lambda d, s: (_bundle_of_another_architecture(d, s), _vectors(d, s)),
    ),
    Case(
        "pickle_that_carries_code",
        ["predict", "{d}/evil.pth", "{d}/x.npy", "--out", "{d}/out"],
        r"{d}/evil\.pth: refused to load",
        absent=("PWNED",),
        build=lambda d, s: (_pickle_with_code(d, s), _vectors(d, s)),
    ),
    Case(
        "missing_predict_input",
        ["predict", "coef", "{d}/nope.npy", "--out", "{d}/out"],
        r"{d}/nope\.npy",
        build=_copy_registry,
    ),
    # -- the cluster --------------------------------------------------------------------------
    Case(
        "unreachable_ray_address",
        ["tune", "{d}/c.yaml", "--address", "127.0.0.1:1"],
        r"--address 127\.0\.0\.1:1: no Ray cluster answers there",
        files={"c.yaml": TRAIN_CFG},
    ),
    Case(
        "port_in_use_by_another_service",
        ["tune", "{d}/c.yaml", "--address", "127.0.0.1:{http_port}"],
        r"--address 127\.0\.0\.1:\d+: the port is in use by something that is not a Ray",
        files={"c.yaml": TRAIN_CFG},
    ),
    # -- past planning: these reach a (the session's) Ray cluster ------------------------------
    Case(
        "missing_dataset",
        ["train", "{d}/c.yaml"],
        r"dataset\.path: nowhere is not a prepared dataset",
        files={"c.yaml": TRAIN_CFG + "dataset: {path: nowhere}\n"},
        ray=True,
        creates_nothing=False,
    ),
    Case(
        "truncated_parquet",
        ["train", "{d}/c.yaml"],
        r"data/val/part-\d+\.parquet: not a readable parquet file",
        files={"c.yaml": ANOMALY_CFG},
        build=_truncated_shard,
        ray=True,
        creates_nothing=False,
    ),
    Case(
        "unwritable_storage_path",
        ["tune", "{d}/c.yaml"],
        r"afile/results: cannot write results there \(.*afile is a file\)",
        files={"c.yaml": TRAIN_CFG + "tune: {storage_path: afile/results}\n"},
        build=_file_in_the_way,
        ray=True,
    ),
    Case(
        "remote_storage_uri",
        ["tune", "{d}/c.yaml"],
        # no endpoint answers here (or the bucket is not ours): refused before Ray starts
        r"tune\.storage_path: s3://bucket/x/\S+: ",
        files={"c.yaml": TRAIN_CFG + "tune: {storage_path: 's3://bucket/x'}\n"},
    ),
    Case(
        "more_gpus_than_the_cluster",
        ["tune", "{d}/c.yaml"],
        r"resources: one trial needs 4096 GPU",
        files={"c.yaml": TRAIN_CFG + "resources: {use_gpu: true, gpus_per_worker: 4096}\n"},
        ray=True,
    ),
    Case(
        "nan_loss",
        ["train", "{d}/c.yaml"],
        r"training failed: epoch \d+, step \d+: loss is (nan|inf)",
        files={
            "c.yaml": "training: {name: diverge}\nmodel: {architecture: coefficient_optimizer, "
            "hidden_dims: [64, 64]}\n"
            + SAMPLE.replace("batch_size: 16", "batch_size: 4")
            + "optimizer: {type: SGD, learning_rate: 10, momentum: 0.9}\n"
            "training_params: {num_epochs: 8}\n"
        },
        ray=True,
        creates_nothing=False,
    ),
]

assert len({c.id for c in CASES}) == len(CASES)


@dataclass
class Run:
    case: Case
    folder: Path
    returncode: int
    stdout: str
    stderr: str
    before: dict[str, str]
    after: dict[str, str]
    seconds: float


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(
        RAYTRAIN_DATA_DIR=str(data_dir),
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        RAY_USAGE_STATS_ENABLED="0",
    )
    return env


def make_saved(root: Path) -> Saved:
    """The state that exists before any bad input: a registry with one model (weights, .pth,
    ONNX, card) and a prepared dataset."""
    from unit_helpers import make_checkpoint

    from raytrain.artifacts.registry import ModelRegistry
    from raytrain.config.schema import SampleDataSection
    from raytrain.data.sample import ensure_sample_dataset

    _, ckpt = make_checkpoint(root / "ckpt", "coefficient_optimizer")
    entry = ModelRegistry(root / "models").register("coef", ckpt)
    dataset = ensure_sample_dataset(
        "anomaly", SampleDataSection(num_train=32, num_val=8, num_test=8), root=root / "prepared"
    )
    return Saved(root / "models", dataset, next(f for f in entry["files"] if f.endswith(".pth")))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Saved:
    return make_saved(tmp_path_factory.mktemp("saved"))


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    """A port held by a plain HTTP server: what a user gets by giving the dashboard's or any
    other service's port as the Ray address."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def _run_cases(
    cases: list[Case], base: Path, saved: Saved, extra: dict[str, str], address: str | None
) -> dict[str, Run]:
    data_dir = base / "datasets"
    jobs = []
    for case in cases:
        d = base / case.id
        d.mkdir()
        for rel, content in case.files.items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                (d / rel).write_bytes(content)
            else:
                (d / rel).write_text(content)
        if case.build:
            case.build(d, saved)
        argv = [a.format(d=d, **extra) for a in case.argv]
        if address:
            argv += ["--address", address]
        jobs.append((case, d, argv, _hashes(d)))

    def run(job: tuple[Case, Path, list[str], dict[str, str]]) -> Run:
        case, d, argv, before = job
        t0 = time.monotonic()
        proc = subprocess.run(
            [*RAYTRAIN, *argv],
            cwd=d,
            env=_env(data_dir),
            capture_output=True,
            text=True,
            timeout=300,
        )
        seconds = time.monotonic() - t0
        return Run(case, d, proc.returncode, proc.stdout, proc.stderr, before, _hashes(d), seconds)

    with ThreadPoolExecutor(PARALLEL) as pool:
        return {r.case.id: r for r in pool.map(run, jobs)}


@pytest.fixture(scope="module")
def quick_runs(
    tmp_path_factory: pytest.TempPathFactory, saved: Saved, http_port: int
) -> dict[str, Run]:
    cases = [c for c in CASES if not c.ray]
    return _run_cases(
        cases, tmp_path_factory.mktemp("bad"), saved, {"http_port": str(http_port)}, None
    )


@pytest.fixture(scope="module")
def ray_runs(
    tmp_path_factory: pytest.TempPathFactory, saved: Saved, ray_start_2_cpus: None
) -> dict[str, Run]:
    import ray

    address = ray.get_runtime_context().gcs_address
    cases = [c for c in CASES if c.ray]
    return _run_cases(cases, tmp_path_factory.mktemp("bad_ray"), saved, {}, address)


def _check(run: Run) -> None:
    case = run.case
    where = f"\n--- stdout\n{run.stdout[-3000:]}\n--- stderr\n{run.stderr[-3000:]}"
    if case.ray:  # `raytrain train` streams the workers' logs, each line prefixed "(Worker pid=)"
        own = [ln for ln in (run.stderr + run.stdout).splitlines() if ln.startswith("Traceback")]
        assert not own, where
    else:
        assert "Traceback" not in run.stderr + run.stdout, where
    assert run.returncode == case.code, where
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, where
    if not case.ray:  # nothing else on stderr (a Ray driver also logs its connection there)
        assert run.stderr.strip().splitlines() == errors, where
    pattern = case.pattern.replace("{d}", re.escape(str(run.folder)))
    assert re.search(pattern, errors[0]), f"{errors[0]!r} does not match {pattern!r}"
    for rel in case.absent:
        assert not (run.folder / rel).exists(), f"{rel} exists: the input ran code"
    changed = {k for k, v in run.before.items() if run.after.get(k) != v}
    assert not changed, f"changed or deleted by a failed command: {sorted(changed)}"
    if case.creates_nothing:
        assert set(run.after) == set(run.before), sorted(set(run.after) - set(run.before))


@pytest.mark.parametrize("case_id", [c.id for c in CASES if not c.ray])
def test_bad_input(case_id: str, quick_runs: dict[str, Run]) -> None:
    _check(quick_runs[case_id])


@pytest.mark.slow
@pytest.mark.parametrize("case_id", [c.id for c in CASES if c.ray])
def test_bad_input_past_planning(case_id: str, ray_runs: dict[str, Run]) -> None:
    _check(ray_runs[case_id])


def test_catalogue_covers_the_issue() -> None:
    """Issue 8's list, by case id: a renamed or dropped case fails here."""
    required = {
        "yaml_syntax", "python_object_tag", "unknown_key", "misplaced_key", "wrong_type",
        "out_of_range", "empty_choices", "grid_over_a_range", "missing_dataset",
        "unreadable_image", "truncated_parquet", "image_and_target_sizes_differ", "empty_split",
        "nan_loss", "checkpoint_of_another_architecture", "pickle_that_carries_code",
        "registry_name_escapes", "unwritable_storage_path", "unreachable_ray_address",
        "port_in_use_by_another_service",
    }  # fmt: skip
    ids = {c.id for c in CASES}
    assert required <= ids, required - ids
    assert len(ids) >= 25
