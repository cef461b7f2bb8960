"""`raytrain serve` without Ray: request parsing, one dynamic batch through the Predictor,
options and the command's checks (fast; the HTTP tests are in tests/serve/test_serve.py)."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from unit_helpers import REPO, checkpoint_meta, png_bytes, random_gray, tiny_model

from raytrain.artifacts.checkpoint import save_checkpoint
from raytrain.artifacts.registry import ModelRegistry
from raytrain.cli import main
from raytrain.cli.predict import read_image
from raytrain.errors import RaytrainError
from raytrain.inference import Predictor
from raytrain.serve.config import ModelSpec, ServeOptions, parse_autoscale, specs_from_plugins
from raytrain.serve.errors import ServeError
from raytrain.serve.inputs import (
    ImageBytes,
    Limits,
    PredictRequest,
    image_size,
    parse_json,
    parse_request,
)
from raytrain.serve.predict import run_batch

LIMITS = Limits(max_body_bytes=1 << 20, max_instances=8, max_image_pixels=256 * 256)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("serve-unit")
    reg = ModelRegistry(base / "models")
    for name, arch in (("edge", "unet"), ("anom", "anomaly_detector")):
        model, data = tiny_model(arch)
        save_checkpoint(base / name, model.eval(), checkpoint_meta(arch, data))
        reg.register(name, base / name, onnx=False)
    return base / "models"


# -- request bodies --------------------------------------------------------------------------------


def test_json_instances_become_arrays_and_image_bytes() -> None:
    png = png_bytes(random_gray(20, 30, 1))
    body = (
        b'{"instances": [[0.5, 1, 2], [[1, 2], [3, 4]], {"b64": "'
        + base64.b64encode(png)
        + b'"}], "threshold": 0.25, "probabilities": true}'
    )
    req = parse_json(body, LIMITS)
    a, b, c = req.instances
    assert isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.shape == (3,)
    assert isinstance(b, np.ndarray) and b.dtype.kind == "i" and b.shape == (2, 2)
    assert isinstance(c, ImageBytes) and c.data == png
    assert req.threshold == 0.25 and req.probabilities is True


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{", 400, "not valid JSON"),
        (b'{"instances": [[Infinity]]}', 400, "not valid JSON"),
        (b'{"instances": [], "x": 1}', 400, "unknown key 'x'"),
        (b'{"instance": [[1]]}', 400, "did you mean 'instances'"),
        (b'{"instances": [[1, "a"]]}', 400, "numbers only"),
        (b'{"instances": [[1], [1]] }', 200, ""),
        (b'{"instances": [[1, 2], [[1]]]}', 200, ""),
        (b'{"instances": [' + b"[1]," * 8 + b"[1]]}", 413, "limit is 8"),
        (b'{"instances": [[1]], "threshold": 0}', 400, "between 0 and 1"),
        (b'{"instances": [[1]], "threshold": true}', 400, "between 0 and 1"),
    ],
)
def test_json_mistakes(body: bytes, status: int, message: str) -> None:
    if status == 200:
        parse_json(body, LIMITS)
        return
    with pytest.raises(ServeError) as e:
        parse_json(body, LIMITS)
    assert e.value.status == status and message in e.value.message


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_image_size_from_the_header(ext: str) -> None:
    ok, buf = cv2.imencode(ext, random_gray(37, 53, 2))
    assert ok and image_size(buf.tobytes()) == (53, 37)
    assert image_size(b"GIF89a....") is None


def test_content_types() -> None:
    png = png_bytes(random_gray(16, 16, 3))

    def parse(kind: str | None, body: bytes, query: dict[str, str] | None = None):
        return asyncio.run(parse_request(kind, body, query or {}, LIMITS))

    assert isinstance(parse("image/png", png).instances[0], ImageBytes)
    assert parse("application/octet-stream", png, {"threshold": "0.3"}).threshold == 0.3
    assert len(parse("application/json; charset=utf-8", b'{"instances": [[1]]}').instances) == 1
    boundary = "b0undary"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + png
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="probabilities"\r\n\r\n'
        f"true\r\n--{boundary}--\r\n".encode()
    )
    req = parse(f"multipart/form-data; boundary={boundary}", multipart)
    assert req.probabilities and req.instances[0] == ImageBytes(png)
    for kind, body, status in (
        ("text/plain", b"1", 415),
        (None, b"1", 415),
        ("image/png", b"GIF89a", 415),
        ("image/png", png[:20], 400),
    ):
        with pytest.raises(ServeError) as e:
            parse(kind, body)
        assert e.value.status == status, kind


# -- one batch -----------------------------------------------------------------------------------


def test_batch_answers_each_request_as_predict_would(root: Path, tmp_path: Path) -> None:
    edge = Predictor.load("edge", root=root, device="cpu")
    imgs = [random_gray(32, 32, 1), random_gray(40, 24, 2), random_gray(16, 16, 3)]
    cv2.imwrite(str(tmp_path / "a.png"), imgs[1])
    requests = [
        PredictRequest([imgs[0]]),
        PredictRequest([np.zeros(8, np.float32)]),  # a vector for an image model: 422
        PredictRequest([ImageBytes((tmp_path / "a.png").read_bytes()), imgs[2]], 0.3, True),
        PredictRequest([ImageBytes(b"\x89PNG\r\n\x1a\nbroken")]),  # corrupt: 400
        PredictRequest([imgs[2]], 0.3),
    ]
    answers = run_batch(edge, "edge", requests)
    assert answers[1]["status"] == 422 and "input 0" in answers[1]["error"]
    assert answers[3]["status"] == 400 and "not a readable" in answers[3]["error"]
    alone = edge.predict([imgs[0]])
    assert answers[0]["predictions"][0]["mean_probability"] == pytest.approx(
        float(alone.probabilities[0].mean()), abs=1e-6
    )
    pair = edge.predict([read_image(tmp_path / "a.png"), imgs[2]], threshold=0.3)
    got = answers[2]["predictions"]
    assert answers[2]["threshold"] == answers[4]["threshold"] == 0.3
    for row, p, e in zip(got, pair.probabilities, pair.edges, strict=True):
        assert np.abs(np.asarray(row["probabilities"], np.float32) - p).max() <= 1e-5
        png = np.frombuffer(base64.b64decode(row["edges_png"]), np.uint8)
        assert np.array_equal(cv2.imdecode(png, cv2.IMREAD_UNCHANGED), e)
    assert "probabilities" not in answers[4]["predictions"][0]


def test_vectors_with_a_threshold_per_request(root: Path) -> None:
    anom = Predictor.load("anom", root=root, device="cpu")
    x = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    answers = run_batch(anom, "anom", [PredictRequest(list(x)), PredictRequest([x[0]], 0.99)])
    scores = [r["score"] for r in answers[0]["predictions"]]
    assert np.allclose(scores, anom.predict(x).scores, atol=1e-6)
    assert answers[1]["predictions"][0]["label"] == 0  # score ~0.5 < 0.99


# -- options and the command -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "follows"),
    [
        ("edge", "latest"),
        ("edge@production", "production"),
        ("edge@champion", "champion"),
        ("edge:1.2.0", None),
        ("models/edge/1.0.0", None),
        ("edge_v1.0.0.pth", None),
    ],
)
def test_which_refs_follow_a_label(ref: str, follows: str | None) -> None:
    assert ModelSpec("edge", {"model_path": ref}).follows == follows


def test_plugins_yaml_gives_one_served_model_per_enabled_entry(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config").mkdir()
    path = tmp_path / "config" / "plugins.yaml"
    path.write_text(
        "plugins:\n"
        "  edge_detectors:\n"
        "    - name: edges-prod\n"
        "      config: {model_path: edge@latest, threshold: 0.4}\n"
        "    - name: edges-folder\n"
        "      config: {model_path: models/edge/1.0.0}\n"
        "    - name: old\n"
        "      enabled: false\n"
        "      config: {model_path: models/gone_v9.9.9.pth}\n"
        "  anomaly_detectors:\n"
        "    - name: tamper\n"
        "      config: {model_path: 'anom:1.0.0', confidence_threshold: 0.7}\n"
    )
    monkeypatch.chdir(root.parent)  # relative model paths are read from here, as predict does
    specs = specs_from_plugins(path, root, backend="torch")
    assert [s.name for s in specs] == ["edges-prod", "edges-folder", "tamper"]
    assert specs[0].config == {"model_path": "edge@latest", "threshold": 0.4, "backend": "torch"}
    assert specs[0].follows == "latest" and specs[2].follows is None
    assert specs[1].config["model_path"] == str(root / "edge" / "1.0.0")  # absolute for replicas
    path.write_text(path.read_text().replace("anom:1.0.0", "edge:1.0.0"))
    with pytest.raises(RaytrainError, match=r"plugins.yaml:11: plugins.anomaly_detectors\[0\]"):
        specs_from_plugins(path, root, backend=None)


def test_options_are_checked() -> None:
    spec = ModelSpec("edge", {"model_path": "edge"})
    with pytest.raises(RaytrainError, match="named twice"):
        ServeOptions(models=(spec, spec))
    with pytest.raises(RaytrainError, match="MAX must be >= MIN"):
        ServeOptions(models=(spec,), autoscale=(3, 1))
    with pytest.raises(RaytrainError, match="URL"):
        ModelSpec("a/b", {"model_path": "edge"})
    assert ServeOptions(models=(spec,)).host == "127.0.0.1"
    assert parse_autoscale("1,4") == (1, 4)
    with pytest.raises(RaytrainError, match="MIN,MAX"):
        parse_autoscale("4")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["edge", "--replicas", "2", "--autoscale", "1,2"], "give one of them"),
        ([], "name a model"),
        (["edge", "--detach"], "needs --address"),
        (["nope"], "no registered model 'nope'"),
        (["edge:9.9.9"], "has no version 9.9.9"),
        (["edge@production"], "no version in stage or alias 'production'"),
        (["edge", "edge"], "named twice"),
        (["edge", "--autoscale", "x"], "MIN,MAX"),
    ],
)
def test_command_errors_before_starting_anything(root: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["serve", *args, "--root", str(root)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_cluster_configs_publish_no_serve_port() -> None:
    """Serving stays private on a cluster: no config opens or forwards the HTTP port."""
    for path in sorted((REPO / "cluster").glob("*.yaml")):
        text = path.read_text()
        code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        assert not re.search(r"\b8000\b", code), path.name
        assert "--host 0.0.0.0" not in text and "--host=0.0.0.0" not in text, path.name
