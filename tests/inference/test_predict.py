"""Prediction from registered models: the Python API, the plugin surface,
plugins.yaml, and `raytrain predict` (fast: tiny models, no Ray)."""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import click
import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from unit_helpers import checkpoint_meta, random_gray, tiny_model

from raytrain.artifacts.checkpoint import save_checkpoint
from raytrain.artifacts.registry import ModelRegistry
from raytrain.cli.app import _Group
from raytrain.cli.predict import predict_command
from raytrain.errors import RaytrainError
from raytrain.inference.outputs import (
    AnomalyPrediction,
    ClassPrediction,
    CountPrediction,
    EdgePrediction,
)
from raytrain.inference.plugins import PluginRegistry, load_plugins
from raytrain.inference.predictor import Predictor, RegisteredModelPlugin
from raytrain.models import DataInfo

#: registry name -> architecture; one model per task.
MODELS = {
    "edge": "unet",
    "cls": "cnn_classifier",
    "coef": "coefficient_optimizer",
    "anom": "anomaly_detector",
}
CLASS_NAMES = ["circle", "square", "triangle"]
EDGE_THRESHOLD = 0.3  # evaluation.threshold in the edge model's config
TARGET_RMSE = 0.01


def _data(arch: str, default: DataInfo) -> DataInfo:
    """The tiny data, plus what real manifests record (class names, the target's RMSE)."""
    if arch == "cnn_classifier":
        return DataInfo(
            in_channels=1,
            image_size=default.image_size,
            num_classes=3,
            extra={"class_names": CLASS_NAMES},
        )
    if arch == "coefficient_optimizer":
        return DataInfo(feature_dim=5, extra={**default.extra, "target_rmse": TARGET_RMSE})
    return default


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding one tiny model of each task, each with metrics and an ONNX export."""
    base = tmp_path_factory.mktemp("predict")
    reg = ModelRegistry(base / "models")
    for i, (name, arch) in enumerate(MODELS.items()):
        model, default = tiny_model(arch, seed=i)
        metrics = {"epoch": 3, "val_loss": 0.25 + i / 10, "val_f1_score": 0.7 + i / 100}
        meta = checkpoint_meta(arch, _data(arch, default), metrics)
        if name == "edge":
            meta["config"]["evaluation"]["threshold"] = EDGE_THRESHOLD
        save_checkpoint(base / f"ckpt-{name}", model.eval(), meta)
        reg.register(name, base / f"ckpt-{name}")
    return base / "models"


def _inputs(name: str) -> Any:
    """Inputs of the right kind for each model, images of mixed sizes for image models."""
    if name in ("edge", "cls"):
        return [random_gray(32, 32, 1), random_gray(48, 40, 2), random_gray(20, 24, 3) / 255.0]
    if name == "coef":
        return [random_gray(64, 64, 4), np.random.default_rng(5).random(5).astype(np.float32)]
    return np.random.default_rng(6).normal(size=(7, 8)).astype(np.float32)


# -- the Python API -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_torch_and_onnx_agree(root: Path, name: str) -> None:
    torch_p = Predictor.load(name, root=root, backend="torch", device="cpu", batch_size=2)
    onnx_p = Predictor.load(name, "1.0.0", root=root, backend="onnx")
    a, b = torch_p.predict(_inputs(name)), onnx_p.predict(_inputs(name))
    assert type(a) is type(b) and len(a) == len(b) > 0
    if isinstance(a, EdgePrediction) and isinstance(b, EdgePrediction):
        assert a.threshold == b.threshold == EDGE_THRESHOLD  # from the model's config
        for pa, pb, ea, eb in zip(a.probabilities, b.probabilities, a.edges, b.edges, strict=True):
            assert np.abs(pa - pb).max() <= 1e-4
            clear = np.abs(pa - EDGE_THRESHOLD) > 1e-4  # away from the threshold: same label
            assert np.array_equal(ea[clear], eb[clear])
    elif isinstance(a, ClassPrediction) and isinstance(b, ClassPrediction):
        assert np.abs(a.probabilities - b.probabilities).max() <= 1e-4
        assert np.array_equal(a.labels, b.labels) and a.class_names == CLASS_NAMES
        assert np.allclose(a.probabilities.sum(axis=1), 1.0, atol=1e-5)
    elif isinstance(a, AnomalyPrediction) and isinstance(b, AnomalyPrediction):
        assert np.abs(a.scores - b.scores).max() <= 1e-4
        assert np.array_equal(a.labels, b.labels)
        assert np.array_equal(a.labels, (a.scores > 0.5).astype(np.int64))
    else:
        assert isinstance(a, CountPrediction) and isinstance(b, CountPrediction)
        assert np.allclose(a.counts, b.counts, atol=1e-4, rtol=1e-5)
        assert np.array_equal(a.rounded, b.rounded) and (a.rounded >= 1).all()


def test_batching_does_not_change_results(root: Path) -> None:
    images = [random_gray(32, 32, s) for s in range(5)]
    one = Predictor.load("cls", root=root, device="cpu", batch_size=1).predict(images)
    many = Predictor.load("cls", root=root, device="cpu", batch_size=4).predict(images)
    assert isinstance(one, ClassPrediction) and isinstance(many, ClassPrediction)
    assert np.allclose(one.probabilities, many.probabilities, atol=1e-6)


@pytest.mark.parametrize("name", list(MODELS))
def test_performance_metrics_are_the_registrys(root: Path, name: str) -> None:
    plugin = RegisteredModelPlugin.load(name, root=root, device="cpu")
    measured = plugin.get_performance_metrics()
    assert measured.pop("inference_time_ms") > 0  # measured here; the rest as registered
    assert measured == ModelRegistry(root).get(name)["metrics"]
    md = plugin.metadata
    assert (md.name, md.version, md.plugin_type, md.model) == (
        name,
        "1.0.0",
        "ai_model",
        f"{name}:1.0.0",
    )
    want = {
        "edge": "edge_detector",
        "cls": "classifier",
        "coef": "coefficient_optimizer",
        "anom": "anomaly_detector",
    }[name]
    assert md.model_type == want and "torch" in md.dependencies


def test_wrong_size_image_is_resized_and_answered_at_its_size(root: Path) -> None:
    p = Predictor.load("edge", root=root, device="cpu")
    result = p.predict(random_gray(48, 40, 7))
    assert isinstance(result, EdgePrediction)
    assert result.probabilities[0].shape == result.edges[0].shape == (48, 40)
    assert set(np.unique(result.edges[0])) <= {0, 255}
    assert any("resized to the model's 32x32" in n for n in result.notes)
    assert p.detect_edges(random_gray(17, 90, 8)).shape == (17, 90)


def test_color_image_becomes_gray_with_a_note(root: Path) -> None:
    p = Predictor.load("cls", root=root, device="cpu")
    rgb = np.stack([random_gray(32, 32, s) for s in (1, 2, 3)], axis=2)
    color = p.predict(rgb)
    gray = p.predict(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    assert isinstance(color, ClassPrediction) and isinstance(gray, ClassPrediction)
    assert np.abs(color.probabilities - gray.probabilities).max() < 1e-2
    assert any("converted to gray" in n for n in color.notes)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((32, 32, 4), np.uint8), r"shape \(32, 32, 4\) has 4 channels"),
        (np.zeros((1, 5), np.float32), r"shape \(1, 5\) is not an image"),
        (np.zeros(5, np.float32), r"shape \(5\) is not an image"),
        (np.full((32, 32), 3.0, np.float32), r"float pixel values must be in \[0, 1\]"),
        (np.full((32, 32), 1000, np.int32), r"integer pixel values must be 0-255"),
    ],
)
def test_bad_image_is_refused_with_its_shape(root: Path, bad: np.ndarray, message: str) -> None:
    p = Predictor.load("edge", root=root, device="cpu")
    with pytest.raises(RaytrainError, match=message):
        p.predict([bad])


def test_wrong_vector_length_is_refused(root: Path) -> None:
    with pytest.raises(RaytrainError, match=r"input 0: expected a vector of 8 values .*got 7"):
        Predictor.load("anom", root=root, device="cpu").predict(np.zeros((3, 7), np.float32))
    with pytest.raises(RaytrainError, match=r"input 1: expected a vector of 5 values .*got 4"):
        Predictor.load("coef", root=root, device="cpu").predict(
            [np.zeros(5, np.float32), np.zeros(4, np.float32)]
        )


def test_regressor_reads_images_through_feature_vector(root: Path) -> None:
    from raytrain.data.features import feature_vector

    p = Predictor.load("coef", root=root, device="cpu")
    img = random_gray(64, 64, 9)
    from_image, from_vector = p.predict([img]), p.predict(feature_vector(img))
    assert isinstance(from_image, CountPrediction) and isinstance(from_vector, CountPrediction)
    assert np.allclose(from_image.counts, from_vector.counts)


def test_unknown_model_lists_the_registered_ones(root: Path) -> None:
    with pytest.raises(
        RaytrainError,
        match=r"no registered model 'edgee' \(did you mean 'edge'"
        r"\?\).*registered: anom, cls, coef, edge",
    ):
        Predictor.load("edgee", root=root)
    with pytest.raises(RaytrainError, match=r"no version 9\.9\.9; versions: 1\.0\.0"):
        Predictor.load("edge", "9.9.9", root=root)


def test_model_path_forms_load_the_same_model(root: Path, tmp_path: Path) -> None:
    """A registry ref, a version folder, the bundle inside it, the plugins.yaml spelling and a
    bundle copied out of the registry all give the same predictions."""
    folder = root / "anom" / "1.0.0"
    copied = tmp_path / "anom_v1.0.0.pth"
    shutil.copy(folder / "anom_v1.0.0.pth", copied)
    shutil.copy(folder / "anom_v1.0.0.onnx", tmp_path / "anom_v1.0.0.onnx")
    x = _inputs("anom")
    want = Predictor.load("anom", root=root, device="cpu").predict(x)
    assert isinstance(want, AnomalyPrediction)
    for ref in (
        str(folder),
        str(folder / "anom_v1.0.0.pth"),
        str(root / "anom_v1.0.0.pth"),
        str(copied),
    ):
        for backend in ("torch", "onnx"):
            p = Predictor()
            p.initialize({"model_path": ref, "backend": backend, "use_gpu": False})
            got = p.predict(x)
            assert isinstance(got, AnomalyPrediction), ref
            assert np.abs(got.scores - want.scores).max() <= 1e-4, (ref, backend)
            registered = p.get_performance_metrics()
            assert registered.pop("inference_time_ms") > 0
            assert registered == want_metrics(root, "anom")
    with pytest.raises(RaytrainError, match="no such model file"):
        Predictor().initialize({"model_path": str(tmp_path / "missing_v1.0.0.pth")})


def want_metrics(root: Path, name: str) -> dict[str, Any]:
    return ModelRegistry(root).get(name)["metrics"]


def test_plugin_settings_are_checked(root: Path) -> None:
    edge = Predictor.load("edge", root=root, device="cpu")
    with pytest.raises(RaytrainError, match=r"input_size \[256, 256\].*trained on 32x32"):
        edge.initialize({"input_size": [256, 256]})
    edge.initialize({"input_size": [32, 32], "threshold": 0.9})
    assert edge.predict([random_gray(32, 32, 1)]).threshold == 0.9  # type: ignore[union-attr]
    with pytest.raises(RaytrainError, match="unknown plugin config key 'treshold'.*'threshold'"):
        edge.initialize({"treshold": 0.5})
    coef = Predictor.load("coef", root=root, device="cpu")
    coef.initialize({"target_rmse": TARGET_RMSE})
    with pytest.raises(RaytrainError, match="predicts counts for target_rmse 0.01"):
        coef.initialize({"target_rmse": 0.03})
    with pytest.raises(RaytrainError, match="not an edge_detector"):
        coef.detect_edges(random_gray(32, 32, 1))
    anom = Predictor.load("anom", root=root, device="cpu")
    anom.initialize({"confidence_threshold": 0.999})
    result = anom.predict(_inputs("anom"))
    assert isinstance(result, AnomalyPrediction) and result.threshold == 0.999
    anom.cleanup()
    with pytest.raises(RaytrainError, match="not initialized"):
        anom.predict(_inputs("anom"))
    anom.initialize({})  # brings the model back
    assert len(anom.predict(_inputs("anom"))) == 7


# -- plugins.yaml ----------------------------------------------------------------------------------


def _plugins_yaml(tmp_path: Path, root: Path, extra: str = "") -> Path:
    path = tmp_path / "config" / "plugins.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"""plugins:
  edge_detectors:
    - name: my-custom-edge-detector
      enabled: true
      config:
        model_path: {root}/edge_v1.0.0.pth
        threshold: 0.5
        input_size: [32, 32]
        use_gpu: false
    - name: old-edge-detector
      enabled: false
      config:
        model_path: models/not_there_v9.9.9.pth
  anomaly_detectors:
{extra}""")
    return path


def test_plugins_yaml_loads_enabled_plugins(root: Path, tmp_path: Path) -> None:
    plugins = load_plugins(_plugins_yaml(tmp_path, root), registry_root=root)
    assert set(plugins) >= {"edge_detectors", "coefficient_optimizers", "anomaly_detectors"}
    (edge,) = plugins["edge_detectors"]
    assert plugins["anomaly_detectors"] == [] and plugins["coefficient_optimizers"] == []
    assert edge.metadata.name == "my-custom-edge-detector"
    assert edge.metadata.model == "edge:1.0.0" and edge.threshold == 0.5
    img = random_gray(45, 33, 11)
    edges = edge.detect_edges(img)
    assert edges.shape == (45, 33) and edges.dtype == np.uint8
    assert set(np.unique(edges)) <= {0, 255}
    registered = edge.get_performance_metrics()
    assert registered.pop("inference_time_ms") > 0
    assert registered == want_metrics(root, "edge")
    reg = PluginRegistry()
    reg.register_plugin(edge)
    assert reg.get_plugin("my-custom-edge-detector") is edge
    with pytest.raises(RaytrainError, match="no plugin 'x'; registered: my-custom-edge"):
        reg.get_plugin("x")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "    - name: tamper\n      config:\n        model_path: nope:1.0.0\n",
            r"plugins.yaml:15: plugins.anomaly_detectors\[0\] 'tamper': no registered model "
            r"'nope'",
        ),
        (
            "    - name: tamper\n      config:\n        model_path: edge:1.0.0\n",
            r"'tamper': model 'edge:1.0.0' is a edge_detector, which does not belong in "
            r"anomaly_detectors",
        ),
        (
            "    - name: tamper\n      enabld: true\n",
            r"plugins.yaml:15: plugins.anomaly_detectors\[0\]: unknown key 'enabld' "
            r"\(did you mean 'enabled'\?\)",
        ),
        (
            "  edge_detector:\n    - name: x\n",
            r"plugins.yaml:15: unknown plugin category "
            r"'edge_detector' \(did you mean 'edge_detectors'\?\)",
        ),
        ("    - name: [unclosed\n", r"plugins.yaml:\d+: YAML syntax error"),
    ],
)
def test_plugins_yaml_errors_name_file_and_entry(
    root: Path, tmp_path: Path, extra: str, message: str
) -> None:
    with pytest.raises(RaytrainError, match=message):
        load_plugins(_plugins_yaml(tmp_path, root, extra), registry_root=root)


def test_plugins_yaml_with_registry_refs(root: Path, tmp_path: Path) -> None:
    extra = (
        "    - name: tamper\n      enabled: true\n      config:\n        model_path: anom\n"
        "        confidence_threshold: 0.95\n"
    )
    reg = PluginRegistry.from_file(_plugins_yaml(tmp_path, root, extra), registry_root=root)
    assert reg.list_plugins() == ["my-custom-edge-detector", "tamper"]
    tamper = reg.get_plugin("tamper")
    assert tamper.metadata.model_type == "anomaly_detector"
    result = tamper.predict(_inputs("anom"))
    assert isinstance(result, AnomalyPrediction) and result.threshold == 0.95


def test_plugins_yaml_paths_as_in_the_seed(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seed layout: config/plugins.yaml naming models/<name>_v<version>.pth from the project
    folder; a path that only exists relative to the YAML file is read from there."""
    project = tmp_path / "project"
    shutil.copytree(root, project / "models")
    (project / "config").mkdir()
    (project / "config" / "plugins.yaml").write_text(
        "plugins:\n"
        "  edge_detectors:\n"
        "    - name: edges\n"
        "      config: {model_path: models/edge_v1.0.0.pth, use_gpu: true}\n"
        "  anomaly_detectors:\n"
        "    - name: tamper\n"
        "      config: {model_path: ../models/anom/1.0.0, confidence_threshold: 0.95}\n"
    )
    monkeypatch.chdir(project)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plugins = load_plugins("config/plugins.yaml")
    if not torch.cuda.is_available():  # use_gpu: true falls back to the CPU, and says so
        assert any("no CUDA device available" in str(w.message) for w in caught)
        assert plugins["edge_detectors"][0].device == "cpu"
    assert [p.metadata.model for p in plugins["edge_detectors"]] == ["edge:1.0.0"]
    assert [p.metadata.model for p in plugins["anomaly_detectors"]] == ["anom:1.0.0"]
    assert plugins["anomaly_detectors"][0].confidence_threshold == 0.95


# -- raytrain predict --------------------------------------------------------------------------


def _cli(*args: str | Path) -> Result:
    """Invoke `predict` the way `raytrain` does: under cli._Group (RaytrainError -> exit 2)."""
    group = _Group("raytrain")
    group.add_command(predict_command)
    assert isinstance(predict_command, click.Command)
    return CliRunner().invoke(group, ["predict", *map(str, args)])


def _image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), random_gray(32, 32, 1))
    cv2.imwrite(str(folder / "b.png"), random_gray(50, 41, 2))
    (folder / "notes.txt").write_text("not an image; skipped in a folder")
    return folder


def test_cli_edges_write_pngs_at_input_size(root: Path, tmp_path: Path) -> None:
    folder = _image_folder(tmp_path)
    cv2.imwrite(str(folder / "c.jpg"), random_gray(20, 20, 3))
    out = tmp_path / "out"
    result = _cli(
        "edge", folder, "--out", out, "--root", root, "--backend", "onnx", "--batch-size", "1"
    )
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(out / "a.png"), cv2.IMREAD_UNCHANGED).shape == (32, 32)
    b = cv2.imread(str(out / "b.png"), cv2.IMREAD_UNCHANGED)
    assert b.shape == (50, 41) and set(np.unique(b)) <= {0, 255}
    api = Predictor.load("edge", root=root, backend="onnx").detect_edges(
        cv2.imread(str(folder / "b.png"), cv2.IMREAD_GRAYSCALE)
    )
    assert np.array_equal(b, api)
    with (out / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [Path(r["input"]).name for r in rows] == ["a.png", "b.png", "c.jpg"]
    assert rows[1]["output"] == str(out / "b.png") and rows[1]["height"] == "50"
    summary = json.loads((out / "predictions.json").read_text())
    assert summary["threshold"] == EDGE_THRESHOLD and summary["backend"] == "onnx"
    # Notes are summed over batches (one image per batch here), not repeated per batch.
    assert summary["notes"] == [
        "2 image(s) resized to the model's 32x32 input (outputs are at each input's size)"
    ]
    assert cv2.imread(str(out / "c.png"), cv2.IMREAD_UNCHANGED).shape == (20, 20)


def test_cli_threshold_flag_changes_the_map(root: Path, tmp_path: Path) -> None:
    folder = _image_folder(tmp_path)
    probs = Predictor.load("edge", root=root, device="cpu").predict(
        [cv2.imread(str(folder / "b.png"), cv2.IMREAD_GRAYSCALE)]
    )
    assert isinstance(probs, EdgePrediction)
    low, high = np.quantile(probs.probabilities[0], [0.25, 0.75])
    maps = []
    for t in (low, high):
        out = tmp_path / f"out-{t:.6f}"
        result = _cli(
            "edge",
            folder / "b.png",
            "--out",
            out,
            "--root",
            root,
            "--threshold",
            f"{t:.6f}",
            "--device",
            "cpu",
        )
        assert result.exit_code == 0, result.output
        maps.append(cv2.imread(str(out / "b.png"), cv2.IMREAD_UNCHANGED))
    assert (maps[0] > 0).sum() > (maps[1] > 0).sum()


def test_cli_vectors_write_predictions_csv(root: Path, tmp_path: Path) -> None:
    x = _inputs("anom")
    np.save(tmp_path / "rows.npy", x[:4])
    np.savetxt(tmp_path / "rows.csv", x[4:], delimiter=",", header="c" + ",c" * 7, comments="")
    out = tmp_path / "out"
    result = _cli(
        "anom:1.0.0", tmp_path / "rows.npy", tmp_path / "rows.csv", "--out", out, "--root", root
    )
    assert result.exit_code == 0, result.output
    with (out / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(Path(r["input"]).name, r["index"]) for r in rows] == [
        ("rows.npy", "0"),
        ("rows.npy", "1"),
        ("rows.npy", "2"),
        ("rows.npy", "3"),
        ("rows.csv", "0"),
        ("rows.csv", "1"),
        ("rows.csv", "2"),
    ]
    want = Predictor.load("anom", root=root, device="cpu").predict(x)
    assert isinstance(want, AnomalyPrediction)
    assert np.allclose([float(r["score"]) for r in rows], want.scores, atol=1e-5)
    assert [int(r["label"]) for r in rows] == want.labels.tolist()
    assert {r["label_name"] for r in rows} <= {"normal", "tampered"}


def test_cli_classifier_and_regressor(root: Path, tmp_path: Path) -> None:
    folder = _image_folder(tmp_path)
    result = _cli("cls", folder, "--out", tmp_path / "c", "--root", root)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "c" / "predictions.json").read_text())
    assert [p["class_name"] in CLASS_NAMES for p in data["predictions"]] == [True, True]
    assert {f"p_{n}" for n in CLASS_NAMES} <= set(data["predictions"][0])
    np.save(tmp_path / "feats.npy", np.random.default_rng(0).random((3, 5)).astype(np.float32))
    result = _cli(
        "coef", folder / "a.png", tmp_path / "feats.npy", "--out", tmp_path / "r", "--root", root
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "r" / "predictions.json").read_text())["predictions"]
    assert len(rows) == 4 and all(r["count_rounded"] >= 1 for r in rows)


@pytest.mark.parametrize(
    ("model", "make", "message"),
    [
        (
            "edgee",
            "image",
            r"no registered model 'edgee' \(did you mean 'edge'\?\).*registered:"
            r" anom, cls, coef, edge",
        ),
        ("anom", "short", r"rows.npy: rows have 7 values; the model expects 8"),
        ("anom", "image", r"a.png: a anomaly model reads .npy, .npz, .csv files, not '.png'"),
        ("edge", "tiny", r"tiny.png: shape \(4, 4\) is not an image"),
        ("cls", "threshold", r"--threshold: applies to edge and anomaly models; 'cls:1.0.0'"),
    ],
)
def test_cli_errors_are_one_line_exit_2(
    root: Path, tmp_path: Path, model: str, make: str, message: str
) -> None:
    if make == "short":
        path = tmp_path / "rows.npy"
        np.save(path, np.zeros((2, 7), np.float32))
    elif make == "tiny":
        path = tmp_path / "tiny.png"
        cv2.imwrite(str(path), random_gray(4, 4, 0))
    else:
        path = _image_folder(tmp_path) / "a.png"
    flags = ["--threshold", "0.4"] if make == "threshold" else []
    result = _cli(model, path, "--out", tmp_path / "out", "--root", root, *flags)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.output
    import re

    assert re.search(message, lines[0]), lines[0]


def test_cli_refuses_to_overwrite_inputs(root: Path, tmp_path: Path) -> None:
    folder = _image_folder(tmp_path)
    before = (folder / "a.png").read_bytes()
    result = _cli("edge", folder, "--out", folder, "--root", root)
    assert result.exit_code == 2 and "would overwrite an input" in result.output
    assert (folder / "a.png").read_bytes() == before


def test_stage_and_alias_refs_load_the_promoted_version(root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "models"
    shutil.copytree(root, copy)
    ModelRegistry(copy).promote("anom", "1.0.0", stage="production", alias="champion")
    x = _inputs("anom")
    want = Predictor.load("anom:1.0.0", root=copy, device="cpu").predict(x)
    for ref in ("anom@production", "anom@champion", "anom@latest"):
        got = Predictor.load(ref, root=copy, device="cpu").predict(x)
        assert np.array_equal(got.scores, want.scores), ref
    with pytest.raises(RaytrainError, match="no version in stage or alias 'staging'"):
        Predictor.load("anom@staging", root=copy, device="cpu")
