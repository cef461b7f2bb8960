"""`raytrain serve`: a real Ray Serve application on loopback, called over HTTP.

One application for the module (Serve on the shared 2-CPU Ray session, a free port): a tiny
U-Net served as `edge@production` (torch) and a tiny MLP tamper detector as `anom` (onnx), two
replicas each. Predictions are compared with `raytrain predict`'s on the same inputs; bad
requests must all be 4xx JSON errors; a replica killed under load is replaced without a
failed request; promoting another version moves `edge@production` without a failed request.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import requests
from click.testing import CliRunner
from unit_helpers import checkpoint_meta, png_bytes, random_gray, tiny_model

from raytrain.artifacts.checkpoint import save_checkpoint
from raytrain.artifacts.registry import ModelRegistry
from raytrain.cli import main
from raytrain.inference import Predictor

pytestmark = pytest.mark.slow

TOL = 1e-5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """edge 1.0.0 (in production) and 1.1.0 (another seed); anom 1.0.0."""
    base = tmp_path_factory.mktemp("serve")
    reg = ModelRegistry(base / "models")
    for name, arch, seed in (
        ("edge", "unet", 0),
        ("edge", "unet", 1),
        ("anom", "anomaly_detector", 2),
    ):
        model, data = tiny_model(arch, seed=seed)
        meta = checkpoint_meta(arch, data, {"epoch": 3, "val_loss": 0.2 + seed / 10})
        save_checkpoint(base / f"ckpt-{name}-{seed}", model.eval(), meta)
        reg.register(name, base / f"ckpt-{name}-{seed}")
    reg.promote("edge", "1.0.0", stage="production")
    return base / "models"


@pytest.fixture(scope="module")
def url(ray_start_2_cpus: None, root: Path) -> Iterator[str]:
    from ray import serve

    from raytrain.serve.app import start
    from raytrain.serve.config import ModelSpec, ServeOptions

    options = ServeOptions(
        models=(
            ModelSpec("edge", {"model_path": "edge@production", "backend": "torch"}),
            ModelSpec("anom", {"model_path": "anom", "backend": "onnx"}),
        ),
        registry_root=str(root),
        replicas=2,
        num_cpus=0.25,
        port=_free_port(),
        max_body_bytes=1024 * 1024,
        max_instances=64,
        max_image_pixels=512 * 512,
        label_poll_s=0.2,
    )
    base = start(options)
    yield base
    serve.shutdown()


def _post(url: str, name: str, **kw: Any) -> requests.Response:
    return requests.post(f"{url}/v1/models/{name}:predict", timeout=60, **kw)


def _predict_cli(root: Path, ref: str, inputs: list[Path], out: Path, backend: str) -> dict:
    args = ["predict", ref, *map(str, inputs), "--out", str(out), "--root", str(root)]
    result = CliRunner().invoke(main, [*args, "--backend", backend])
    assert result.exit_code == 0, result.output
    return json.loads((out / "predictions.json").read_text())


# -- what is served ------------------------------------------------------------------------------


def test_health_and_model_list(url: str) -> None:
    r = requests.get(f"{url}/healthz", timeout=30)
    assert r.status_code == 200 and r.json() == {"status": "ok", "models": ["anom", "edge"]}
    models = {m["name"]: m for m in requests.get(f"{url}/v1/models", timeout=30).json()["models"]}
    assert models["edge"]["version"] == "1.0.0" and models["edge"]["follows"] == "production"
    assert models["edge"]["stage"] == "production" and models["edge"]["task"] == "edges"
    assert models["anom"]["metrics"]["val_loss"] == pytest.approx(0.4)
    assert models["anom"]["backend"] == "onnx" and models["anom"]["input_shape"] == [8]


def test_binds_loopback_only(url: str) -> None:
    host = url.split("//")[1].split(":")[0]
    assert host == "127.0.0.1"


# -- the same predictions as `raytrain predict` ----------------------------------------------------


def test_edges_equal_raytrain_predict(url: str, root: Path, tmp_path: Path) -> None:
    images = [random_gray(32, 32, 1), random_gray(48, 40, 2), random_gray(20, 24, 3)]
    files = []
    for i, img in enumerate(images):
        files.append(tmp_path / f"img{i}.png")
        cv2.imwrite(str(files[-1]), img)
    cv2.imwrite(str(tmp_path / "img3.jpg"), random_gray(36, 36, 4))
    files.append(tmp_path / "img3.jpg")
    want = _predict_cli(root, "edge@production", files, tmp_path / "out", "torch")
    want_rows = want["predictions"]
    want_maps = [cv2.imread(r["output"], cv2.IMREAD_UNCHANGED) for r in want_rows]
    raw = [f.read_bytes() for f in files]
    ways = {
        "json b64": _post(
            url, "edge", json={"instances": [{"b64": base64.b64encode(b).decode()} for b in raw]}
        ),
        "multipart": _post(
            url,
            "edge",
            files=[("file", (f.name, b, "image/png")) for f, b in zip(files, raw, strict=True)],
        ),
    }
    for i, b in enumerate(raw):  # one raw body per image, as a camera would post them
        kind = "image/jpeg" if files[i].suffix == ".jpg" else "image/png"
        ways[f"raw {i}"] = _post(url, "edge", data=b, headers={"content-type": kind})
    for way, r in ways.items():
        assert r.status_code == 200, (way, r.text)
        body = r.json()
        assert body["version"] == "1.0.0" and body["threshold"] == want["threshold"]
        rows = body["predictions"]
        expect = want_rows[int(way[4:]) : int(way[4:]) + 1] if way.startswith("raw") else want_rows
        maps = want_maps[int(way[4:]) : int(way[4:]) + 1] if way.startswith("raw") else want_maps
        assert len(rows) == len(expect)
        for got, exp, emap in zip(rows, expect, maps, strict=True):
            for key in ("height", "width", "edge_fraction", "mean_probability"):
                assert abs(got[key] - exp[key]) <= TOL, (way, key)
            png = base64.b64decode(got["edges_png"])
            assert np.array_equal(cv2.imdecode(np.frombuffer(png, np.uint8), 0), emap), way
    # Per-pixel probabilities, as JSON nested lists (uint8 pixels), against the Python API.
    r = _post(url, "edge", json={"instances": [images[1].tolist()], "probabilities": True})
    assert r.status_code == 200, r.text
    got = np.asarray(r.json()["predictions"][0]["probabilities"], np.float32)
    api = Predictor.load("edge@production", root=root, device="cpu").predict([images[1]])
    assert got.shape == (48, 40) and np.abs(got - api.probabilities[0]).max() <= TOL


def test_vectors_equal_raytrain_predict(url: str, root: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(7).normal(size=(9, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    want = _predict_cli(root, "anom", [tmp_path / "x.npy"], tmp_path / "out", "onnx")["predictions"]
    r = _post(url, "anom", json={"instances": x.tolist()})
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    assert [g["label"] for g in got] == [w["label"] for w in want]
    assert max(abs(g["score"] - w["score"]) for g, w in zip(got, want, strict=True)) <= TOL
    # A threshold per request, as `raytrain predict --threshold`.
    r = _post(url, "anom", json={"instances": x.tolist(), "threshold": 0.9})
    assert r.json()["threshold"] == 0.9
    assert all(p["label"] == int(p["score"] > 0.9) for p in r.json()["predictions"])


def test_concurrent_requests_are_batched_and_stay_apart(url: str, root: Path) -> None:
    """32 concurrent requests of 1-3 vectors: each gets exactly its own predictions."""
    rng = np.random.default_rng(11)
    xs = [rng.normal(size=(1 + i % 3, 8)).astype(np.float32) for i in range(32)]
    api = Predictor.load("anom", root=root, backend="onnx")
    out: dict[int, Any] = {}

    def call(i: int) -> None:
        out[i] = _post(url, "anom", json={"instances": xs[i].tolist()})

    threads = [threading.Thread(target=call, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, x in enumerate(xs):
        assert out[i].status_code == 200, out[i].text
        got = np.array([p["score"] for p in out[i].json()["predictions"]])
        assert np.abs(got - api.predict(x).scores).max() <= TOL


# -- bad requests: 4xx JSON, never a 500 -----------------------------------------------------------


def _bad_requests() -> dict[str, tuple[str, str, int, dict[str, Any]]]:
    """kind -> (method, path, expected status, requests kwargs)."""
    png = png_bytes(random_gray(32, 32, 0))
    bomb = bytearray(png)
    bomb[16:24] = (100_000).to_bytes(4, "big") * 2  # a header that claims 100k x 100k pixels
    p, e = "/v1/models/anom:predict", "/v1/models/edge:predict"
    vec = [0.0] * 8

    def js(body: Any) -> dict[str, Any]:
        return {"json": body}

    def raw(data: bytes, kind: str = "image/png") -> dict[str, Any]:
        return {"data": data, "headers": {"content-type": kind}}

    def inst(*xs: Any) -> dict[str, Any]:
        return js({"instances": list(xs)})

    multipart = "multipart/form-data; boundary=x"
    return {
        "unknown route": ("GET", "/nope", 404, {}),
        "unknown model": ("POST", "/v1/models/nope:predict", 404, inst(vec)),
        "unknown action": ("POST", "/v1/models/anom:train", 404, js({})),
        "GET on predict": ("GET", p, 404, {}),
        "DELETE a model": ("DELETE", "/v1/models/anom", 405, {}),
        "bad JSON": ("POST", p, 400, raw(b'{"instances": [', "application/json")),
        "JSON not an object": ("POST", p, 400, js([vec])),
        "no instances key": ("POST", p, 400, js({"inputs": [vec]})),
        "instances not a list": ("POST", p, 400, js({"instances": "abc"})),
        "empty instances": ("POST", p, 400, inst()),
        "too many instances": ("POST", p, 413, inst(*[vec] * 65)),
        "unknown JSON key": ("POST", p, 400, js({"instances": [vec], "treshold": 0.5})),
        "ragged rows": ("POST", e, 400, inst([[1, 2], [3]])),
        "strings": ("POST", p, 400, inst(["a"] * 8)),
        "nulls": ("POST", p, 400, inst([None] * 8)),
        "booleans": ("POST", p, 400, inst([True] * 8)),
        "NaN literal": ("POST", p, 400, raw(b'{"instances": [[NaN]]}', "application/json")),
        "4-D instance": ("POST", e, 400, inst([[[[1]]]])),
        "deep nesting": ("POST", p, 400, raw(b"[" * 100_000, "application/json")),
        "wrong vector length": ("POST", p, 422, inst([0.1] * 7)),
        "vector to an image model": ("POST", e, 422, inst(vec)),
        "image to a vector model": ("POST", p, 422, inst([[1] * 8] * 8)),
        "image too small": ("POST", e, 422, inst([[1] * 4] * 4)),
        "pixels out of range": ("POST", e, 422, inst([[300] * 16] * 16)),
        "too many values": ("POST", e, 413, inst([[1] * 600] * 600)),
        "threshold out of range": ("POST", p, 400, js({"instances": [vec], "threshold": 1.5})),
        "threshold not a number": ("POST", p, 400, js({"instances": [vec], "threshold": "x"})),
        "probabilities not a bool": ("POST", p, 400, js({"instances": [vec], "probabilities": 2})),
        "bad base64": ("POST", e, 400, inst({"b64": "@@@"})),
        "b64 not an image": ("POST", e, 415, inst({"b64": "aGVsbG8="})),
        "object instance": ("POST", e, 400, inst({"url": "http://example.invalid/x.png"})),
        "not an image body": ("POST", e, 415, raw(b"hello")),
        "truncated PNG": ("POST", e, 400, raw(png[:40])),
        "empty image body": ("POST", e, 400, raw(b"")),
        "decompression bomb": ("POST", e, 413, raw(bytes(bomb))),
        "body too large": ("POST", e, 413, raw(b"\x89PNG" + b"0" * 1_100_000)),
        "wrong content type": ("POST", p, 415, raw(b"0.1,0.2", "text/csv")),
        "no content type": ("POST", p, 415, {"data": b"x"}),
        "multipart without files": ("POST", e, 400, {"files": {"threshold": (None, "0.5")}}),
        "multipart not an image": (
            "POST", e, 415, {"files": {"file": ("a.txt", b"text", "text/plain")}}
        ),
        "malformed multipart": ("POST", e, 400, raw(b"--x\r\nbroken", multipart)),
        "unknown form field": (
            "POST", e, 400, {"files": {"file": ("a.png", png, "image/png"), "colour": (None, "r")}}
        ),
        "unknown query parameter": ("POST", e + "?treshold=0.2", 400, raw(png)),
    }  # fmt: skip


def test_bad_requests_are_4xx_json(url: str) -> None:
    cases = _bad_requests()
    assert len(cases) >= 20
    wrong = {}
    for kind, (method, path, status, kw) in cases.items():
        try:
            r = requests.request(method, url + path, timeout=60, **kw)
        except requests.ConnectionError as e:  # a server that hangs up is no better than a 500
            wrong[kind] = f"connection error {e}"
            continue
        body = r.json() if r.headers.get("content-type") == "application/json" else None
        if r.status_code != status or not isinstance(body, dict) or set(body) != {"error"}:
            wrong[kind] = f"{r.status_code} {r.text[:200]}"
        elif "Traceback" in body["error"]:
            wrong[kind] = body["error"]
    assert not wrong, wrong
    # The server is still fine after all that.
    assert _post(url, "anom", json={"instances": [[0.0] * 8]}).status_code == 200


# -- failures and label moves under load -----------------------------------------------------------


class Load:
    """Threads posting requests in a loop until stopped; every response is kept."""

    def __init__(self, url: str, name: str, body: dict[str, Any], threads: int = 4) -> None:
        self.url, self.name, self.body = url, name, body
        self.results: list[tuple[int, dict[str, Any] | str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                r = _post(self.url, self.name, json=self.body)
                self.results.append((r.status_code, r.json()))
            except Exception as e:  # noqa: BLE001 - every failure is a result
                self.results.append((0, repr(e)))

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def failures(self) -> list[tuple[int, Any]]:
        return [r for r in self.results if r[0] != 200]


def _replicas(deployment: str) -> list[Any]:
    import ray
    from ray.util.state import list_actors

    address = ray.get_runtime_context().gcs_address
    cls = f"ServeReplica:raytrain:{deployment}"
    return list_actors(address=address, filters=[("class_name", "=", cls), ("state", "=", "ALIVE")])


def test_killed_replica_is_replaced_without_failed_requests(url: str) -> None:
    import ray

    before = _replicas("model-anom")
    assert len(before) == 2
    victim = before[0]
    with Load(url, "anom", {"instances": [[0.5] * 8] * 4}) as load:
        time.sleep(1.0)
        ray.kill(ray.get_actor(victim.name, namespace="serve"), no_restart=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = _replicas("model-anom")
            ids = {a.actor_id for a in now}
            if len(now) == 2 and victim.actor_id not in ids:
                break
            time.sleep(0.5)
        time.sleep(1.0)  # requests on the new replica too
    now = _replicas("model-anom")
    assert len(now) == 2 and victim.actor_id not in {a.actor_id for a in now}
    assert len(load.results) > 20
    assert not load.failures(), load.failures()[:3]


def test_label_follows_promotion_without_failed_requests(url: str, root: Path) -> None:
    img = random_gray(32, 32, 9).tolist()
    with Load(url, "edge", {"instances": [img]}, threads=3) as load:
        time.sleep(1.0)
        ModelRegistry(root).promote("edge", "1.1.0", stage="production")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen = [r[1]["version"] for r in load.results[-6:] if r[0] == 200]
            if seen and all(v == "1.1.0" for v in seen):
                break
            time.sleep(0.3)
    assert not load.failures(), load.failures()[:3]
    versions = [r[1]["version"] for r in load.results]
    assert versions[0] == "1.0.0" and versions[-1] == "1.1.0"
    # Once switched, never back: each replica swaps once.
    want = Predictor.load("edge:1.1.0", root=root, device="cpu").predict(
        [np.asarray(img, np.uint8)]
    )
    last = load.results[-1][1]["predictions"][0]
    assert abs(last["mean_probability"] - float(want.probabilities[0].mean())) <= TOL
    listed = {m["name"]: m for m in requests.get(f"{url}/v1/models", timeout=30).json()["models"]}
    assert listed["edge"]["version"] == "1.1.0"
