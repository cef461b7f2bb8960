#!/usr/bin/env python3
"""Serving throughput and latency: `raytrain serve` (Ray Serve, dynamic batching) vs a plain
single-process onnxruntime server (FastAPI + uvicorn, one request at a time).

    python bench/serve.py                 # 5 s per cell, about 2 minutes on 2 cores
    python bench/serve.py --seconds 10    # steadier numbers
    python bench/serve.py --quick         # 1 s per cell: checks the script, not the numbers

Models (random weights; latency does not depend on their values), registered in a temporary
registry with their ONNX files: the U-Net (base_filters 16, depth 3, 1x64x64 input) fed one
64x64 PNG per request (`image/png` body), and the anomaly detector MLP (64 features) fed one
JSON vector per request.

Both servers run the same code per request: `raytrain.serve.inputs.parse_request` and
`raytrain.serve.predict.run_batch` with the onnx backend (decode, preprocess, forward pass,
outputs incl. the edge map as PNG). The plain server calls them for each request on its event
loop in one uvicorn process (no Ray); `raytrain serve` goes proxy -> ingress -> model replica and
batches concurrent requests (`--max-batch-size`, `--batch-wait-ms`).

Variants of `raytrain serve` (`--variants`, comma-separated; for each model and concurrency the
plain server's cell, then each variant's, in one run):

    serve           the product: proxy -> ingress -> model replica (two process hops)
    serve-direct    the same application, the client posting straight to the ingress replica's
                    own HTTP server (Serve's direct ingress, `RAY_SERVE_ENABLE_DIRECT_INGRESS=1`:
                    the replica listens on a port from 30000-31000 that the controller hands
                    out; the bench asks the controller for it). One hop: ingress -> replica.
    fused           the models served inside the ingress replica (the product's `Ingress` given
                    `LocalModel`s in place of deployment handles; each batches with
                    `@serve.batch` as `ModelServer` does), through the proxy. One hop: proxy ->
                    ingress.
    fused-direct    both: the client posts to the ingress replica that batches and predicts
                    itself. No hop; the nearest Serve gets to the plain server.

Any `-direct` variant starts Ray with direct ingress on for all variants (the proxy still runs
on the head node and routes as before).

The load generator (aiohttp, one process, C workers each posting back to back for the cell's
duration) runs on the same machine as the servers and takes its share of the CPUs: on a small
machine it is part of the picture. Each cell: 1 s of warm-up, then requests/s and p50/p99 of
per-request latency over the cell, and the CPU time (user + system, from /proc) that the
server's processes (the plain process; the proxy, ingress and replica a variant's request goes
through) and the load generator spent per request. At the end, the CPU of each piece of one
request in one process (`parse_request`, `run_batch` of 1 and of 32): what batching can save.
"""

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CONCURRENCY = (1, 8, 32)


@dataclass(frozen=True)
class Model:
    name: str
    label: str
    architecture: str
    params: dict[str, Any]


MODELS = (
    Model("unet", "U-Net 16x3, 64x64 PNG", "unet", {"base_filters": 16, "depth": 3}),
    Model("mlp", "anomaly MLP, 64 features", "anomaly_detector", {}),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_registry(root: Path) -> None:
    import torch

    from raytrain.artifacts.checkpoint import save_checkpoint
    from raytrain.artifacts.registry import ModelRegistry
    from raytrain.models import DataInfo, create_model

    sys.path.insert(0, str(REPO / "tests"))
    from unit_helpers import experiment_config_json

    reg = ModelRegistry(root)
    for m in MODELS:
        data = (
            DataInfo(in_channels=1, image_size=64)
            if m.architecture == "unet"
            else DataInfo(feature_dim=64)
        )
        torch.manual_seed(0)
        model = create_model(m.architecture, m.params, data).eval()
        meta = {
            "architecture": m.architecture,
            "model_params": m.params,
            "task": "edges" if m.architecture == "unet" else "anomaly",
            "data_info": data.__dict__,
            "epoch": 1,
            "metrics": {"val_loss": 1.0},
            "monitor": "val_loss",
            "mode": "min",
            "config": experiment_config_json(m.architecture),
        }
        meta["config"]["model"].update(m.params)
        save_checkpoint(root.parent / f"ckpt-{m.name}", model, meta)
        reg.register(m.name, root.parent / f"ckpt-{m.name}")


def payloads() -> dict[str, tuple[bytes, str]]:
    import cv2

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(64, 64), dtype=np.uint8)
    ok, png = cv2.imencode(".png", img)
    assert ok
    vec = rng.normal(size=64).round(5).tolist()
    import json

    return {
        "unet": (png.tobytes(), "image/png"),
        "mlp": (json.dumps({"instances": [vec]}).encode(), "application/json"),
    }


# -- the plain server (a subprocess) ------------------------------------------------------------


def plain_server(root: str, port: int) -> None:
    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    from raytrain.inference import Predictor
    from raytrain.serve.errors import ServeError
    from raytrain.serve.inputs import Limits, parse_request
    from raytrain.serve.predict import run_batch

    predictors = {m.name: Predictor.load(m.name, root=root, backend="onnx") for m in MODELS}
    limits = Limits(max_body_bytes=16 << 20, max_instances=256, max_image_pixels=4096 * 4096)
    app = FastAPI()

    @app.post("/v1/models/{target}")
    async def predict(target: str, request: Request) -> Response:
        import json

        name = target.rpartition(":")[0]
        try:
            req = await parse_request(
                request.headers.get("content-type"), await request.body(), {}, limits
            )
        except ServeError as e:
            return Response(json.dumps(e.body()), e.status, media_type="application/json")
        answer = run_batch(predictors[name], name, [req])[0]
        return Response(json.dumps(answer), media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- load ----------------------------------------------------------------------------------------


async def load(
    url: str, body: bytes, kind: str, concurrency: int, seconds: float, pids: list[int]
) -> dict:
    """Requests/s, latency and CPU ms per request of the server's processes (`pids`) and of
    this process (the load generator) over the measured part of one cell."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(until: float, keep: bool) -> None:
            nonlocal errors
            while time.perf_counter() < until:
                t = time.perf_counter()
                async with session.post(url, data=body, headers={"content-type": kind}) as r:
                    await r.read()
                    ok = r.status == 200
                if keep:
                    latencies.append(time.perf_counter() - t)
                    errors += not ok

        warm = time.perf_counter() + min(1.0, seconds)
        await asyncio.gather(*(worker(warm, False) for _ in range(concurrency)))
        cpu0, me0 = sum(map(cpu_s, pids)), sum(os.times()[:2])
        start = time.perf_counter()
        await asyncio.gather(*(worker(start + seconds, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        cpu, me = sum(map(cpu_s, pids)) - cpu0, sum(os.times()[:2]) - me0
    lat = np.array(latencies) * 1000
    return {
        "rps": len(lat) / elapsed,
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        "n": len(lat),
        "errors": errors,
        "cpu_server": cpu * 1000 / max(1, len(lat)),
        "cpu_client": me * 1000 / max(1, len(lat)),
    }


def wait_http(url: str, timeout: float = 120) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url}: no answer after {timeout} s")


def breakdown(serve_url: str, plain_url: str, root: Path, payload: tuple[bytes, str]) -> None:
    """Where one MLP request's time goes: sequential calls, p50 over 100 after 20 warm-up."""
    import requests
    from ray import serve

    from raytrain.inference import Predictor
    from raytrain.serve.inputs import PredictRequest
    from raytrain.serve.predict import run_batch

    body, kind = payload
    session = requests.Session()
    handle = serve.get_deployment_handle("model-mlp", "raytrain")
    req = PredictRequest([np.random.default_rng(0).normal(size=64).astype(np.float32)])
    predictor = Predictor.load("mlp", root=root, backend="onnx")
    post = {"data": body, "headers": {"content-type": kind}}
    steps = {
        "plain server, POST predict (HTTP, parse, predict)": lambda: session.post(
            f"{plain_url}/v1/models/mlp:predict", **post
        ),
        "serve: GET /healthz (proxy + ingress)": lambda: session.get(f"{serve_url}/healthz"),
        "serve: handle.info() (ingress -> replica hop)": lambda: handle.info.remote().result(),
        "serve: handle.predict() (hop + @serve.batch + predict)": lambda: handle.predict.remote(
            req
        ).result(),
        "serve: POST predict (all of it)": lambda: session.post(
            f"{serve_url}/v1/models/mlp:predict", **post
        ),
        "run_batch in one process (parse excluded)": lambda: run_batch(predictor, "mlp", [req]),
    }
    print("\n| one MLP request, concurrency 1 | p50 ms | p90 ms |\n| --- | --- | --- |")
    for label, call in steps.items():
        times = []
        for _ in range(120):
            t = time.perf_counter()
            call()
            times.append((time.perf_counter() - t) * 1000)
        ms = np.array(times[20:])
        print(f"| {label} | {np.percentile(ms, 50):.2f} | {np.percentile(ms, 90):.2f} |")


VARIANTS = ("serve", "serve-direct", "fused", "fused-direct")
TICK = os.sysconf("SC_CLK_TCK")


def find_pids() -> dict[str, int]:
    """Serve's processes by role, from their titles (`ray::ServeReplica:APP:DEPLOYMENT`)."""
    pids = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            title = (d / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if title.startswith("ray::ServeReplica:"):
            pids[title.removeprefix("ray::ServeReplica:")] = int(d.name)
        elif title.startswith("ray::ProxyActor"):
            pids["proxy"] = int(d.name)
    return pids


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def server_pids(variant: str, model: str, pids: dict[str, int], plain: int) -> list[int]:
    """The processes one request of `variant` goes through (the load generator excluded)."""
    roles = {
        "plain": [],
        "serve": ["proxy", "raytrain:Ingress", f"raytrain:model-{model}"],
        "serve-direct": ["raytrain:Ingress", f"raytrain:model-{model}"],
        "fused": ["proxy", "fused:Ingress"],
        "fused-direct": ["fused:Ingress"],
    }[variant]
    return [plain] if variant == "plain" else [pids[r] for r in roles if r in pids]


class LocalModel:
    """A `ModelServer` run inside the ingress replica, called like a deployment handle
    (`await model.predict.remote(request)`), for the `fused` variants. Built in the replica on
    first use (the bound arguments are pickled; only the arguments travel)."""

    def __init__(self, name: str, config: dict, settings: dict) -> None:
        self.args = (name, config, settings)
        self.server: Any = None

    def __getstate__(self) -> dict:
        return {"args": self.args}

    def __setstate__(self, state: dict) -> None:
        self.args, self.server = state["args"], None

    def _server(self) -> Any:
        if self.server is None:
            from ray import serve

            from raytrain.serve.app import ModelServer

            cls = ModelServer.func_or_class
            server = cls(*self.args)
            raw = cls.predict_batch.__wrapped__

            async def run(requests: list) -> list:
                return await raw(server, requests)

            # A queue of its own: `@serve.batch` on a method keeps one queue per process,
            # shared by all instances, so two models in one ingress would share batches.
            settings = self.args[2]
            server.predict_batch = serve.batch(
                max_batch_size=int(settings["max_batch_size"]),
                batch_wait_timeout_s=float(settings["batch_wait_s"]),
            )(run)
            self.server = server
        return self.server

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_") or method in ("args", "server"):
            raise AttributeError(method)
        model = self

        class _Method:  # (no annotations: this class is built in the replica, by value)
            @staticmethod
            def remote(*args):  # noqa: ANN002, ANN205
                return getattr(model._server(), method)(*args)

        return _Method


def fused_app(options: Any) -> Any:
    """The product's `Ingress` serving every model in its own process (no model deployment)."""
    from raytrain.serve.app import Ingress, model_settings

    settings = model_settings(options, threads=1)
    models = {s.name: LocalModel(s.name, s.config, settings) for s in options.models}
    return Ingress.options(
        num_replicas=1, max_ongoing_requests=1024, ray_actor_options={"num_cpus": 0}
    ).bind(models, options.limits)


def direct_url(app: str) -> str:
    """The base URL of `app`'s ingress replica's own HTTP server (direct ingress)."""
    import ray
    from ray.serve.context import _get_global_client

    controller = _get_global_client()._controller
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        groups = ray.get(controller.get_target_groups.remote(app))
        ports = [
            t.port
            for g in groups
            if str(getattr(g.protocol, "value", g.protocol)).upper() == "HTTP"
            for t in g.targets
            if t.port >= 30000
        ]
        if ports:
            return f"http://127.0.0.1:{ports[0]}"
        time.sleep(0.5)
    raise RuntimeError(f"{app}: no direct-ingress port after 60 s: {groups}")


def pieces(root: Path, bodies: dict[str, tuple[bytes, str]]) -> None:
    """CPU ms of each piece of the plain server's request, in this process: what batching can
    save (run_batch of 1 request vs of 32, per request) against what it cannot (parsing)."""
    import json

    from raytrain.inference import Predictor
    from raytrain.serve.inputs import Limits, parse_request
    from raytrain.serve.predict import run_batch

    limits = Limits(max_body_bytes=16 << 20, max_instances=256, max_image_pixels=4096 * 4096)
    loop = asyncio.new_event_loop()

    def cpu_ms(call: Any, n: int) -> float:
        for _ in range(max(2, n // 20)):
            call()
        t = time.process_time()
        for _ in range(n):
            call()
        return (time.process_time() - t) * 1000 / n

    print("\n| one process, CPU ms per request | parse_request | run_batch of 1 | "
          "run_batch of 32, per request | json.dumps of the answer |")  # fmt: skip
    print("| --- | --- | --- | --- | --- |")

    def row(m: Model) -> str:
        body, kind = bodies[m.name]
        predictor = Predictor.load(m.name, root=root, backend="onnx")
        req = loop.run_until_complete(parse_request(kind, body, {}, limits))
        n = 2000 if m.name == "mlp" else 100
        parse = cpu_ms(lambda: loop.run_until_complete(parse_request(kind, body, {}, limits)), n)
        one = cpu_ms(lambda: run_batch(predictor, m.name, [req]), n)
        many = cpu_ms(lambda: run_batch(predictor, m.name, [req] * 32), max(5, n // 32)) / 32
        answer = run_batch(predictor, m.name, [req])[0]
        dumps = cpu_ms(lambda: json.dumps(answer), n)
        return f"| {m.label} | {parse:.3f} | {one:.3f} | {many:.3f} | {dumps:.3f} |"

    for m in MODELS:
        print(row(m))
    loop.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="measured seconds per cell")
    ap.add_argument("--quick", action="store_true", help="1 s per cell")
    ap.add_argument("--max-batch-size", type=int, default=32)
    ap.add_argument("--batch-wait-ms", type=float, default=2.0)
    ap.add_argument("--replicas", type=int, default=1, help="replicas per model")
    ap.add_argument(
        "--variants",
        default="serve",
        help=f"comma-separated, of {', '.join(VARIANTS)} (see the module docstring)",
    )
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="also time the pieces of one MLP request at concurrency 1",
    )
    ap.add_argument("--plain-server", nargs=2, metavar=("ROOT", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.plain_server:
        plain_server(args.plain_server[0], int(args.plain_server[1]))
        return
    seconds = 1.0 if args.quick else args.seconds
    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    if not variants or set(variants) - set(VARIANTS):
        ap.error(f"--variants: choose from {', '.join(VARIANTS)}")
    if any(v.endswith("-direct") for v in variants):
        os.environ["RAY_SERVE_ENABLE_DIRECT_INGRESS"] = "1"  # before Ray and Serve start

    import ray
    from ray import serve

    from raytrain.runtime.local import prepare_local_ray
    from raytrain.serve.app import start
    from raytrain.serve.config import ModelSpec, ServeOptions

    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    root = tmp / "models"
    build_registry(root)
    bodies = payloads()

    cpus = os.cpu_count() or 2
    load_at_start = os.getloadavg()[0]
    prepare_local_ray()
    ray.init(num_cpus=cpus, log_to_driver=False, include_dashboard=False)
    plain_port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    plain = subprocess.Popen(
        [sys.executable, __file__, "--plain-server", str(root), str(plain_port)], env=env
    )
    results: dict[tuple[str, str, int], dict] = {}
    try:
        options = ServeOptions(
            models=tuple(
                ModelSpec(m.name, {"model_path": m.name, "backend": "onnx"}) for m in MODELS
            ),
            registry_root=str(root),
            replicas=args.replicas,
            num_cpus=cpus / (len(MODELS) * args.replicas),
            max_batch_size=args.max_batch_size,
            batch_wait_ms=args.batch_wait_ms,
            port=free_port(),
        )
        serve_url = start(options)
        bases = {"plain": f"http://127.0.0.1:{plain_port}"}
        if {"fused", "fused-direct"} & set(variants):
            serve.run(fused_app(options), name="fused", route_prefix="/fused")
        for v in variants:
            app = "fused" if v.startswith("fused") else "raytrain"
            prefix = "/fused" if app == "fused" else ""
            base = direct_url(app) if v.endswith("-direct") else serve_url
            bases[v] = base + prefix
            print(f"{v}: {bases[v]}", flush=True)
        plain_url = bases["plain"]
        wait_http(plain_url + "/")
        pids = find_pids()
        if "fused" in set(bases) | {v.removesuffix("-direct") for v in bases}:
            wait_http(serve_url + "/fused/v1/models")  # the fused models load on first use
        for m in MODELS:
            body, kind = bodies[m.name]
            for c in CONCURRENCY:
                for server, base in bases.items():
                    url = f"{base}/v1/models/{m.name}:predict"
                    procs = server_pids(server, m.name, pids, plain.pid)
                    r = asyncio.run(load(url, body, kind, c, seconds, procs))
                    results[(m.name, server, c)] = r
                    print(
                        f"{m.label:28s} c={c:<3d} {server:12s} {r['rps']:8.1f} req/s  "
                        f"p50 {r['p50']:7.2f} ms  p99 {r['p99']:7.2f} ms  "
                        f"({r['n']} requests, {r['errors']} errors; CPU ms/request: "
                        f"server {r['cpu_server']:.2f}, load generator {r['cpu_client']:.2f})",
                        flush=True,
                    )
        if args.breakdown and "serve" in variants:
            breakdown(serve_url, plain_url, root, bodies["mlp"])
    finally:
        plain.terminate()
        plain.wait(timeout=30)
        serve.shutdown()
        ray.shutdown()

    import onnxruntime
    import torch

    serve_env = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if "RAY_SERVE_" in k)

    print(
        f"\n{platform.processor() or platform.machine()}, {cpus} CPUs; ray {ray.__version__}, "
        f"onnxruntime {onnxruntime.__version__}, torch {torch.__version__}; {seconds:g} s per "
        f"cell; variants {', '.join(variants)}; {args.replicas} replica(s) per model, max batch "
        f"{args.max_batch_size}, batch wait {args.batch_wait_ms:g} ms; load average (1 min) "
        f"{load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; Serve "
        f"environment: {serve_env or 'none'}\n"
    )
    pieces(root, bodies)
    print()
    print("| model | concurrency | plain req/s | variant | req/s | / plain | "
          "plain p50 / p99 ms | variant p50 / p99 ms | p99 / plain | "
          "server CPU ms/req plain / variant |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for m in MODELS:
        for c in CONCURRENCY:
            p = results[(m.name, "plain", c)]
            for v in variants:
                s = results[(m.name, v, c)]
                print(
                    f"| {m.label} | {c} | {p['rps']:.0f} | {v} | {s['rps']:.0f} | "
                    f"{s['rps'] / p['rps']:.2f}x | {p['p50']:.1f} / {p['p99']:.1f} | "
                    f"{s['p50']:.1f} / {s['p99']:.1f} | {s['p99'] / p['p99']:.2f}x | "
                    f"{p['cpu_server']:.2f} / {s['cpu_server']:.2f} |"
                )


if __name__ == "__main__":
    main()
