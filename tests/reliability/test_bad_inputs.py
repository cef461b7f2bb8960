"""The catalogue of bad inputs: each gets one `error:` line naming the file, key or row, exit
code 2, no traceback, and leaves what was saved before exactly as it was.

Every case is a real `raytrain ...` process run in a folder of its own, which holds a copy of
a populated model registry (one registered model, its `.pth` bundle and ONNX file) plus the
case's bad input. The sha256 of every file in the folder is taken before the command and
compared after it: a failing command may not change or delete anything; most may not even
create a file. Cases that stop before Ray are forked from one process that imported raytrain
once (`cli_forkserver.py`: each still its own process, folder, environment and exit code),
a few at a time.

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

RAYTRAIN = [sys.executable, "-m", "raytrain"]
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
        r"dataset\.path: nowhere does not exist",  # found before Ray starts
        files={"c.yaml": "training: {name: bad}\n" + BASE + "dataset: {path: nowhere}\n"},
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
        r"tune\.storage_path: afile/results: cannot write there \(.*afile is a file\)",
        files={"c.yaml": TRAIN_CFG + "tune: {storage_path: afile/results}\n"},
        build=_file_in_the_way,
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


# -- round two: files raytrain reads back, resource exhaustion, late failure ------------------

#: Nine levels of nine-fold aliases: 9^9 values once expanded ("billion laughs").
BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
)
BOMB_ONE_LINE = (
    "{"
    + ", ".join(
        ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
        + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    )
    + "}"
)
VERSION = "models/coef/1.0.0"


def _braces(text: str) -> str:
    """`text` inside an argv entry (argv entries are format strings: {d} is the folder)."""
    return text.replace("{", "{{").replace("}", "}}")


def _edit_index(edit: Callable[[dict], object]) -> Callable[[Path, Saved], None]:
    """A copy of the registry whose registry.json went through `edit(index)`."""
    import json

    def build(d: Path, saved: Saved) -> None:
        _copy_registry(d, saved)
        path = d / "models" / "registry.json"
        index = json.loads(path.read_text())
        edit(index)
        path.write_text(json.dumps(index))
        _vectors(d, saved)

    return build


def _entry(index: dict) -> dict:
    return index["models"]["coef"][0]


def _set_entry(**values: object) -> Callable[[Path, Saved], None]:
    return _edit_index(lambda index: _entry(index).update(values))


def _drop_entry_key(key: str) -> Callable[[Path, Saved], None]:
    return _edit_index(lambda index: _entry(index).pop(key))


def _replace_index(text: str | bytes) -> Callable[[Path, Saved], None]:
    def build(d: Path, saved: Saved) -> None:
        _copy_registry(d, saved)
        path = d / "models" / "registry.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return build


def _index_is_a_folder(d: Path, saved: Saved) -> None:
    _copy_registry(d, saved)
    (d / "models" / "registry.json").unlink()
    (d / "models" / "registry.json").mkdir()
    (d / "models" / "registry.json" / "note.txt").write_text("a folder where the index was\n")


def _version_folder_is_a_link(d: Path, saved: Saved) -> None:
    _copy_registry(d, saved)
    shutil.move(d / VERSION, d / "elsewhere")
    (d / VERSION).symlink_to(d / "elsewhere", target_is_directory=True)
    _vectors(d, saved)


def _edit_meta(edit: Callable[[dict], object] | str) -> Callable[[Path, Saved], None]:
    """A registered version whose meta.json went through `edit(meta)` (or is `edit`)."""
    import json

    def build(d: Path, saved: Saved) -> None:
        _copy_registry(d, saved)
        path = d / VERSION / "meta.json"
        if isinstance(edit, str):
            path.write_text(edit)
            return
        meta = json.loads(path.read_text())
        edit(meta)
        path.write_text(json.dumps(meta))

    return build


def _meta_is_a_folder(d: Path, saved: Saved) -> None:
    _copy_registry(d, saved)
    (d / VERSION / "meta.json").unlink()
    (d / VERSION / "meta.json").mkdir()
    (d / VERSION / "meta.json" / "x").write_text("x\n")


def _edit_bundle(edit: Callable[[dict], object] | bytes) -> Callable[[Path, Saved], None]:
    """`b.pth`: the registered .pth bundle after `edit(bundle)` (or these bytes)."""

    def build(d: Path, saved: Saved) -> None:
        import torch

        _vectors(d, saved)
        if isinstance(edit, bytes):
            (d / "b.pth").write_bytes(edit)
            return
        bundle = torch.load(saved.registry / "coef" / "1.0.0" / saved.bundle, weights_only=True)
        edit(bundle)
        torch.save(bundle, d / "b.pth")

    return build


def _bad_onnx(content: bytes, keep_sha: bool = False) -> Callable[[Path, Saved], None]:
    """The registered ONNX file replaced by `content`; its sha256 dropped from the index
    (so the file itself is what is judged) unless `keep_sha`."""
    import json

    def build(d: Path, saved: Saved) -> None:
        _copy_registry(d, saved)
        onnx = next((d / VERSION).glob("*.onnx"))
        onnx.write_bytes(content)
        if not keep_sha:
            path = d / "models" / "registry.json"
            index = json.loads(path.read_text())
            _entry(index)["files"].pop(onnx.name)
            path.write_text(json.dumps(index))
        _vectors(d, saved)

    return build


def _edit_manifest(edit: Callable[[dict], object] | str) -> Callable[[Path, Saved], None]:
    """A copy of the prepared dataset as `data/` whose manifest.json went through `edit`."""
    import json

    def build(d: Path, saved: Saved) -> None:
        shutil.copytree(saved.dataset, d / "data")
        path = d / "data" / "manifest.json"
        if isinstance(edit, str):
            path.unlink()
            if edit == "<folder>":
                path.mkdir()
                (path / "x").write_text("x\n")
            else:
                path.write_text(edit)
            return
        manifest = json.loads(path.read_text())
        edit(manifest)
        path.write_text(json.dumps(manifest))

    return build


def _first_shard(m: dict) -> dict:
    return m["splits"]["train"]["shards"][0]


def _stopped_search(config: str | None = None, state: Callable[[Path], object] | None = None):
    """`results/bad/`: what a killed `raytrain tune` leaves (config.yaml, tune/tuner.pkl)."""

    def build(d: Path, _: Saved) -> None:
        exp = d / "results" / "bad"
        (exp / "tune").mkdir(parents=True)
        (exp / "tune" / "tuner.pkl").write_bytes(b"pickled tuner")
        (exp / "config.yaml").write_text(config if config is not None else TRAIN_CFG)
        if state is not None:
            state(exp)

    return build


def _writable_by_a_group(exp: Path) -> None:
    """tuner.pkl group-writable, its group one the user does not own alone."""
    os.chown(exp / "tune" / "tuner.pkl", -1, 4242)
    (exp / "tune" / "tuner.pkl").chmod(0o664)


def _existing_predictions(name: str) -> Callable[[Path, Saved], None]:
    def build(d: Path, saved: Saved) -> None:
        _copy_registry(d, saved)
        _vectors(d, saved)
        (d / "out").mkdir()
        (d / "out" / name).write_text("an earlier prediction\n")

    return build


REGISTRY = ["--root", "{d}/models"]
LIST = ["registry", "list", *REGISTRY]
PREDICT = ["predict", "coef", "{d}/x.npy", "--out", "{d}/out", *REGISTRY]
EXPORT = ["export", "coef", "--out", "{d}/out", *REGISTRY]
INDEX = r"{d}/models/registry\.json"
META = r"{d}/models/coef/1\.0\.0/meta\.json"
RESUME = ["tune", "{d}/c.yaml", "--resume"]
DRY_ANOMALY = ["tune", "{d}/c.yaml", "--dry-run"]
MANIFEST_FILE = r"{d}/.*data/manifest\.json: not a valid raytrain manifest"

ROUND_TWO: list[Case] = [
    # -- YAML: bounded in size, aliases and nesting; a key given twice is an error -------------
    Case(
        "yaml_alias_bomb",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml:\d+: YAML document expands to more than \d+ values",
        files={"c.yaml": BOMB},
    ),
    Case(
        "yaml_alias_bomb_validate",
        ["validate", "{d}/c.yaml"],
        r"{d}/c\.yaml:\d+: YAML document expands to more than",
        files={"c.yaml": BASE + BOMB.replace("a", "b")},
    ),
    Case(
        "yaml_alias_bomb_in_set",
        ["validate", "{d}/c.yaml", "--set", "model.hidden_dims=" + _braces(BOMB_ONE_LINE)],
        r"--set model\.hidden_dims:1: YAML document expands to more than",
        files={"c.yaml": BASE},
    ),
    Case(
        "yaml_recursive_alias",
        ["validate", "{d}/c.yaml"],
        r"{d}/c\.yaml:\d+: YAML alias refers to itself",
        files={"c.yaml": BASE + "training: &t\n  name: x\n  again: *t\n"},
    ),
    Case(
        "yaml_too_deep",
        ["validate", "{d}/c.yaml"],
        r"{d}/c\.yaml: YAML nested too deeply",
        files={"c.yaml": BASE + "x: " + "[" * 5000 + "]" * 5000 + "\n"},
    ),
    Case(
        "yaml_oversized_file",
        ["validate", "{d}/c.yaml"],
        r"{d}/c\.yaml: over \d+ bytes",
        files={"c.yaml": BASE + ("# padding\n" * 120_000)},
    ),
    Case(
        "yaml_duplicate_section",
        ["validate", "{d}/c.yaml"],
        r"{d}/c\.yaml:4: key 'model' is given twice in one mapping \(lines 1 and 4\)",
        files={"c.yaml": BASE + "model:\n  architecture: mlp\n"},
    ),
    Case(
        "yaml_duplicate_nested_key",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml:4: key 'hidden_dims' is given twice in one mapping \(lines 3 and 4\)",
        files={"c.yaml": BASE + "  hidden_dims: [16]\n"},
    ),
    Case(
        "yaml_duplicate_search_parameter",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"{d}/c\.yaml:6: key 'optimizer\.learning_rate' is given twice .*lines 5 and 6",
        files={
            "c.yaml": BASE + "search_space:\n"
            "  optimizer.learning_rate: {type: loguniform, min: 1.0e-4, max: 1.0e-2}\n"
            "  optimizer.learning_rate: {type: uniform, min: 0.1, max: 0.2}\n"
        },
    ),
    Case(
        "yaml_duplicate_key_in_set",
        ["validate", "{d}/c.yaml", "--set", "optimizer={{type: Adam, type: SGD}}"],
        r"--set optimizer:1: key 'type' is given twice",
        files={"c.yaml": BASE},
    ),
    # -- late failure: every place a run reads or writes, checked before the first trial ------
    Case(
        "validate_registry_dir_unwritable",
        ["validate", "{d}/c.yaml"],
        r"export\.registry_dir: afile/models: cannot write there",
        files={"c.yaml": BASE + "export: {registry_dir: afile/models}\n"},
        build=_file_in_the_way,
    ),
    Case(
        "dry_run_registry_dir_unwritable",
        ["tune", "{d}/c.yaml", "--dry-run"],
        r"export\.registry_dir: afile: cannot write there",
        files={"c.yaml": BASE + "export: {registry_dir: afile}\n"},
        build=_file_in_the_way,
    ),
    Case(
        "dry_run_output_dir_unwritable",
        ["tune", "{d}/c.yaml", "--dry-run", "--set", "training.output_dir=afile/results"],
        r"training\.output_dir: afile/results: cannot write there",
        files={"c.yaml": BASE},
        build=_file_in_the_way,
    ),
    Case(
        "train_registry_dir_unwritable",
        ["train", "{d}/c.yaml", "--register"],
        r"export\.registry_dir: afile/m: cannot write there",
        files={"c.yaml": TRAIN_CFG + "export: {registry_dir: afile/m}\n"},
        build=_file_in_the_way,
    ),
    Case(
        "validate_dataset_path_missing",
        ["validate", "{d}/c.yaml", "--set", "dataset.path=/nonexistent"],
        r"dataset\.path: /nonexistent does not exist",
        files={"c.yaml": BASE},
    ),
    Case(
        "dry_run_dataset_path_is_a_file",
        ["tune", "{d}/c.yaml", "--dry-run", "--set", "dataset.path=afile"],
        r"dataset\.path: afile is not a folder",
        files={"c.yaml": BASE},
        build=_file_in_the_way,
    ),
    Case(
        "dry_run_train_path_missing",
        [
            "tune",
            "{d}/c.yaml",
            "--dry-run",
            "--set",
            "dataset.train_path=nope/train",
            "--set",
            "dataset.val_path=nope/val",
        ],  # fmt: skip
        r"dataset\.train_path: nope/train does not exist",
        files={"c.yaml": BASE},
    ),
    # -- keys the schema keeps but a run does not do: refused when set -------------------------
    *(
        Case(
            f"unsupported_{key.replace('.', '_')}",
            ["validate", "{d}/c.yaml", "--set", f"{key}={value}"],
            rf"{re.escape(key)}: .*not supported",
            files={"c.yaml": BASE},
        )
        for key, value in (
            ("evaluation.metrics", "[f1_score]"),
            ("evaluation.save_predictions", "true"),
            ("evaluation.compare_with_baseline", "true"),
            ("logging.save_samples", "true"),
        )
    ),
    # -- a stopped search resumed: its saved files are untrusted --------------------------------
    Case(
        "resume_saved_config_alias_bomb",
        RESUME,
        r"results/bad/config\.yaml:\d+: YAML document expands to more than",
        files={"c.yaml": TRAIN_CFG},
        build=_stopped_search(BOMB),
    ),
    Case(
        "resume_saved_config_not_a_mapping",
        RESUME,
        r"results/bad/config\.yaml: not a saved raytrain config",
        files={"c.yaml": TRAIN_CFG},
        build=_stopped_search("- a\n- b\n"),
    ),
    Case(
        "resume_saved_config_syntax",
        RESUME,
        r"results/bad/config\.yaml:2: YAML syntax error",
        files={"c.yaml": TRAIN_CFG},
        build=_stopped_search("model: [1\nx: y\n"),
    ),
    Case(
        "resume_saved_config_duplicate_key",
        RESUME,
        r"results/bad/config\.yaml:2: key 'model' is given twice",
        files={"c.yaml": TRAIN_CFG},
        build=_stopped_search("model: {}\nmodel: {}\n"),
    ),
    Case(
        "resume_state_world_writable",
        RESUME,
        r"--resume: .*results/bad/tune is writable by group or others",
        files={"c.yaml": TRAIN_CFG},
        build=_stopped_search(state=lambda exp: (exp / "tune").chmod(0o777)),
    ),
    Case(
        "resume_state_group_writable_pickle",
        RESUME,
        r"--resume: .*tune/tuner\.pkl is writable by group or others",
        files={"c.yaml": TRAIN_CFG},
        build=_stopped_search(state=_writable_by_a_group),
    ),
    Case(
        "resume_state_owned_by_another_user",
        RESUME,
        r"--resume: .*tune/tuner\.pkl is owned by uid 4242",
        files={"c.yaml": TRAIN_CFG},
        build=_stopped_search(
            state=lambda exp: os.chown(exp / "tune" / "tuner.pkl", 4242, os.getgid())
        ),
    ),
    Case(
        "resume_state_is_a_link",
        RESUME,
        r"--resume: .*tune/tuner\.pkl is a symbolic link",
        files={"c.yaml": TRAIN_CFG, "planted.pkl": b"pickled code"},
        build=_stopped_search(
            state=lambda exp: (
                (exp / "tune" / "tuner.pkl").unlink(),
                (exp / "tune" / "tuner.pkl").symlink_to(exp.parent.parent / "planted.pkl"),
            )
        ),
    ),
    # -- export and predict never write over what is registered or predicted -------------------
    Case(
        "export_into_a_registered_version",
        [*EXPORT[:3], "{d}/models/coef/1.0.0", "--overwrite", *REGISTRY],
        r"{d}/models/coef/1\.0\.0: inside the model registry",
        build=_copy_registry,
    ),
    Case(
        "export_into_the_registry_root",
        [*EXPORT[:3], "{d}/models", *REGISTRY],
        r"{d}/models: inside the model registry",
        build=_copy_registry,
    ),
    Case(
        "predict_over_earlier_csv",
        PREDICT,
        r"{d}/out/predictions\.csv: exists .*--overwrite",
        build=_existing_predictions("predictions.csv"),
    ),
    Case(
        "predict_over_earlier_json",
        PREDICT,
        r"{d}/out/predictions\.json: exists .*--overwrite",
        build=_existing_predictions("predictions.json"),
    ),
    # -- registry.json: checked before any of it is used, a path outside refused ---------------
    Case(
        "registry_index_is_a_folder",
        LIST,
        rf"{INDEX}: is a directory",
        build=_index_is_a_folder,
    ),
    Case("registry_index_empty", LIST, rf"{INDEX}: corrupt", build=_replace_index("")),
    Case(
        "registry_index_not_utf8",
        LIST,
        rf"{INDEX}: cannot read the registry index",
        build=_replace_index(b"\xff\xfe\x00{"),
    ),
    Case(
        "registry_index_a_list",
        LIST,
        rf"{INDEX}: not a raytrain registry index",
        build=_replace_index("[]"),
    ),
    Case(
        "registry_index_models_a_list",
        PREDICT,
        rf"{INDEX}: not a raytrain registry index",
        build=_edit_index(lambda i: i.update(models=[])),
    ),
    Case(
        "registry_versions_not_a_list",
        LIST,
        rf"{INDEX}: models\.coef must be a list",
        build=_edit_index(lambda i: i["models"].update(coef={"version": "1.0.0"})),
    ),
    Case(
        "registry_bad_name_in_index",
        LIST,
        rf"{INDEX}: model name '\.\./up' is not a valid registry name",
        build=_edit_index(lambda i: i["models"].update({"../up": []})),
    ),
    Case(
        "registry_entry_not_a_mapping",
        LIST,
        rf"{INDEX}: models\.coef\[0\]: entry is not a mapping",
        build=_edit_index(lambda i: i["models"].update(coef=[7])),
    ),
    *(
        Case(
            f"registry_entry_without_{key}",
            command,
            rf"{INDEX}: models\.coef\[0\]: entry has no '{key}'",
            build=_drop_entry_key(key),
        )
        for key, command in (
            ("files", PREDICT),
            ("version", LIST),
            ("path", EXPORT),
            ("architecture", LIST),
            ("metrics", LIST),
        )
    ),
    Case(
        "registry_version_a_number",
        LIST,
        rf"{INDEX}: models\.coef\[0\]: 'version' must be a string",
        build=_set_entry(version=1),
    ),
    Case(
        "registry_version_not_semver",
        EXPORT,
        rf"{INDEX}: models\.coef\[0\]: version '1\.0' is not MAJOR\.MINOR\.PATCH",
        build=_set_entry(version="1.0"),
    ),
    Case(
        "registry_path_outside_the_registry",
        EXPORT,
        rf"{INDEX}: models\.coef\[0\]: path '\.\./victim' is not 'coef/1\.0\.0'.*refused",
        build=_set_entry(path="../victim"),
    ),
    Case(
        "registry_path_absolute",
        PREDICT,
        rf"{INDEX}: models\.coef\[0\]: path '/tmp' is not 'coef/1\.0\.0'",
        build=_set_entry(path="/tmp"),
    ),
    Case(
        "registry_path_of_another_version",
        PREDICT,
        rf"{INDEX}: models\.coef\[0\]: path 'coef/2\.0\.0' is not 'coef/1\.0\.0'",
        build=_set_entry(path="coef/2.0.0"),
    ),
    Case(
        "registry_version_folder_is_a_link",
        PREDICT,
        r"entry path 'coef/1\.0\.0' leads outside the registry",
        build=_version_folder_is_a_link,
    ),
    Case(
        "registry_entry_of_another_name",
        LIST,
        rf"{INDEX}: models\.coef\[0\]: entry names model 'other', filed under 'coef'",
        build=_set_entry(name="other"),
    ),
    Case(
        "registry_metrics_not_numbers",
        LIST,
        rf"{INDEX}: models\.coef\[0\]: 'metrics' must map names to finite numbers",
        build=_set_entry(metrics={"val_loss": "low"}),
    ),
    Case(
        "registry_input_shape_not_integers",
        LIST,
        rf"{INDEX}: models\.coef\[0\]: 'input_shape' must be a list of integers",
        build=_set_entry(input_shape=["wide"]),
    ),
    Case(
        "registry_unknown_stage",
        LIST,
        rf"{INDEX}: models\.coef\[0\]: stage 'prod' is not one of",
        build=_set_entry(stage="prod"),
    ),
    Case(
        "registry_aliases_not_strings",
        LIST,
        rf"{INDEX}: models\.coef\[0\]: 'aliases' must be a list of strings",
        build=_set_entry(aliases=[1]),
    ),
    Case(
        "registry_file_names_with_paths",
        LIST,
        rf"{INDEX}: models\.coef\[0\]: 'files' must map plain file names",
        build=_set_entry(files={"../../model.pt": "0" * 64}),
    ),
    Case(
        "registry_version_listed_twice",
        LIST,
        rf"{INDEX}: models\.coef\[1\]: version 1\.0\.0 is listed twice",
        build=_edit_index(lambda i: i["models"]["coef"].append(dict(_entry(i)))),
    ),
    Case(
        "registry_removed_malformed",
        LIST,
        rf"{INDEX}: 'removed' must map names to lists",
        build=_edit_index(lambda i: i.update(removed={"coef": "1.0.0"})),
    ),
    # -- meta.json of a registered version ------------------------------------------------------
    Case(
        "meta_not_json",
        EXPORT,
        rf"{META}: unreadable checkpoint metadata",
        build=_edit_meta("{"),
    ),
    Case(
        "meta_a_folder", EXPORT, rf"{META}: unreadable checkpoint metadata", build=_meta_is_a_folder
    ),
    Case(
        "meta_a_list",
        PREDICT,
        rf"{META}: checkpoint metadata is not a mapping",
        build=lambda d, s: (_edit_meta("[1, 2]")(d, s), _vectors(d, s)),
    ),
    Case(
        "meta_without_architecture",
        EXPORT,
        rf"{META}: checkpoint metadata 'architecture' is missing",
        build=_edit_meta(lambda m: m.pop("architecture")),
    ),
    Case(
        "meta_data_info_a_string",
        EXPORT,
        rf"{META}: checkpoint metadata 'data_info' is missing or not a dict",
        build=_edit_meta(lambda m: m.update(data_info="x")),
    ),
    Case(
        "meta_data_info_bad_value",
        EXPORT,
        rf"{META}: data_info\.feature_dim must be a whole number",
        build=_edit_meta(lambda m: m["data_info"].update(feature_dim="five")),
    ),
    Case(
        "meta_data_info_unknown_key",
        EXPORT,
        rf"{META}: data_info has unknown keys \['colour'\]",
        build=_edit_meta(lambda m: m["data_info"].update(colour=1)),
    ),
    Case(
        "meta_unknown_architecture",
        EXPORT,
        rf"{META}: .*nope",
        build=_edit_meta(lambda m: m.update(architecture="nope")),
    ),
    Case(
        "meta_model_params_wrong",
        EXPORT,
        rf"{META}: ",
        build=_edit_meta(lambda m: m["model_params"].update(hidden_dims="wide")),
    ),
    # -- a .pth bundle's metadata -----------------------------------------------------------------
    Case(
        "bundle_metadata_not_a_mapping",
        ["predict", "{d}/b.pth", "{d}/x.npy", "--out", "{d}/out"],
        r"{d}/b\.pth: the bundle's metadata is malformed",
        build=_edit_bundle(lambda b: b.update(metadata="x")),
    ),
    Case(
        "bundle_metadata_without_version",
        ["predict", "{d}/b.pth", "{d}/x.npy", "--out", "{d}/out"],
        r"{d}/b\.pth: the bundle's metadata is malformed",
        build=_edit_bundle(lambda b: b["metadata"].pop("version")),
    ),
    Case(
        "bundle_specifications_wrong",
        ["predict", "{d}/b.pth", "{d}/x.npy", "--out", "{d}/out"],
        r"{d}/b\.pth: the bundle's metadata is malformed",
        build=_edit_bundle(lambda b: b.update(specifications=[1])),
    ),
    Case(
        "bundle_data_info_wrong",
        ["predict", "{d}/b.pth", "{d}/x.npy", "--out", "{d}/out"],
        r"{d}/b\.pth: data_info\.feature_dim must be a whole number",
        build=_edit_bundle(lambda b: b["data_info"].update(feature_dim=-3)),
    ),
    Case(
        "bundle_unknown_architecture",
        ["predict", "{d}/b.pth", "{d}/x.npy", "--out", "{d}/out"],
        r"{d}/b\.pth: .*nope",
        build=_edit_bundle(lambda b: b["metadata"].update(architecture="nope")),
    ),
    Case(
        "bundle_not_a_torch_file",
        ["predict", "{d}/b.pth", "{d}/x.npy", "--out", "{d}/out"],
        r"{d}/b\.pth: refused to load",
        build=_edit_bundle(b"PK\x03\x04 not really a zip"),
    ),
    Case(
        "bundle_empty",
        ["predict", "{d}/b.pth", "{d}/x.npy", "--out", "{d}/out"],
        r"{d}/b\.pth: refused to load",
        build=_edit_bundle(b""),
    ),
    # -- an .onnx that is not ONNX ---------------------------------------------------------------
    Case(
        "onnx_not_onnx",
        [*PREDICT, "--backend", "onnx"],
        r"coef_v1\.0\.0\.onnx: not a loadable ONNX model",
        build=_bad_onnx(b"this is not a protobuf"),
    ),
    Case(
        "onnx_empty",
        [*PREDICT, "--backend", "onnx"],
        r"coef_v1\.0\.0\.onnx: not a loadable ONNX model",
        build=_bad_onnx(b""),
    ),
    Case(
        "onnx_changed_after_registration",
        [*PREDICT, "--backend", "onnx"],
        r"coef_v1\.0\.0\.onnx: checksum differs from the registry's",
        build=_bad_onnx(b"\x08\x07", keep_sha=True),
    ),
    # -- a prepared dataset's manifest.json -------------------------------------------------------
    Case(
        "manifest_not_json",
        DRY_ANOMALY,
        MANIFEST_FILE,
        files={"c.yaml": ANOMALY_CFG},
        build=_edit_manifest("{"),
    ),
    Case(
        "manifest_a_folder",
        DRY_ANOMALY,
        MANIFEST_FILE,
        files={"c.yaml": ANOMALY_CFG},
        build=_edit_manifest("<folder>"),
    ),
    Case(
        "manifest_splits_a_list",
        DRY_ANOMALY,
        MANIFEST_FILE,
        files={"c.yaml": ANOMALY_CFG},
        build=_edit_manifest(lambda m: m.update(splits=[])),
    ),
    Case(
        "manifest_without_task",
        DRY_ANOMALY,
        MANIFEST_FILE,
        files={"c.yaml": ANOMALY_CFG},
        build=_edit_manifest(lambda m: m.pop("task")),
    ),
    Case(
        "manifest_count_a_string",
        DRY_ANOMALY,
        MANIFEST_FILE + r" \(splits\.train: count must be a whole number",
        files={"c.yaml": ANOMALY_CFG},
        build=_edit_manifest(lambda m: m["splits"]["train"].update(count="many")),
    ),
    Case(
        "manifest_shard_path_escapes",
        DRY_ANOMALY,
        MANIFEST_FILE + r" \(splits\.train: shard '\.\./\.\./etc/passwd' is malformed",
        files={"c.yaml": ANOMALY_CFG},
        build=_edit_manifest(lambda m: _first_shard(m).update(path="../../etc/passwd")),
    ),
    Case(
        "manifest_info_not_a_mapping",
        DRY_ANOMALY,
        MANIFEST_FILE + r" \(info must be a mapping",
        files={"c.yaml": ANOMALY_CFG},
        build=_edit_manifest(lambda m: m.update(info=3)),
    ),
]
CASES += ROUND_TWO

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

    if address is None:  # before Ray: one start-up, a forked process per case
        return _run_forked(jobs, data_dir)
    with ThreadPoolExecutor(PARALLEL) as pool:
        return {r.case.id: r for r in pool.map(run, jobs)}


def _run_forked(
    jobs: list[tuple[Case, Path, list[str], dict[str, str]]], data_dir: Path
) -> dict[str, Run]:
    """The cases through `cli_forkserver.py`: each still its own process (own folder,
    environment, output files, exit code), forked from one that imported raytrain once."""
    import json

    logs = data_dir.parent / "logs"
    logs.mkdir(exist_ok=True)
    env = _env(data_dir)
    spec = [
        {
            "id": case.id,
            "argv": argv,
            "cwd": str(d),
            "env": env,
            "stdout": str(logs / f"{case.id}.out"),
            "stderr": str(logs / f"{case.id}.err"),
        }
        for case, d, argv, _ in jobs
    ]
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("cli_forkserver.py")), str(PARALLEL)],
        input=json.dumps(spec),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = json.loads(proc.stdout)
    return {
        case.id: Run(
            case,
            d,
            done[case.id]["code"],
            (logs / f"{case.id}.out").read_text(),
            (logs / f"{case.id}.err").read_text(),
            before,
            _hashes(d),
            done[case.id]["seconds"],
        )
        for case, d, _, before in jobs
    }


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
    # issue 22: files read back, YAML bombs and duplicate keys, late failure, config honesty
    required |= {
        "yaml_alias_bomb", "yaml_alias_bomb_in_set", "yaml_duplicate_nested_key",
        "registry_index_is_a_folder", "registry_entry_without_files",
        "registry_version_a_number", "registry_path_outside_the_registry", "meta_not_json",
        "bundle_metadata_not_a_mapping", "onnx_not_onnx", "resume_saved_config_not_a_mapping",
        "manifest_not_json", "export_into_a_registered_version", "predict_over_earlier_csv",
        "validate_registry_dir_unwritable", "validate_dataset_path_missing",
        "resume_state_world_writable", "resume_state_owned_by_another_user",
        "unsupported_evaluation_metrics",
    }  # fmt: skip
    ids = {c.id for c in CASES}
    assert required <= ids, required - ids
    assert len(ids) >= 100
