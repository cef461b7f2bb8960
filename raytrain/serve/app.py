"""The Ray Serve application: a FastAPI ingress and one batching deployment per model.

    client ──HTTP──► Serve proxy ──► Ingress (FastAPI: routes, limits, parsing)
                                        │  handle.predict.remote(PredictRequest)
                                        ▼
                                 ModelServer "model-<name>" × N replicas
                                    @serve.batch → one Predictor.predict per batch

The ingress never imports torch: it reads the body (up to the size limit), parses it into
instances (`raytrain.serve.inputs`) and hands them to the model's deployment. A replica
gathers concurrent requests into one batch (`--max-batch-size`, `--batch-wait-ms`) and runs
them through the same `Predictor` as `raytrain predict` (`raytrain.serve.predict`).

Replica failures. Serve's router sends a request only to a replica that takes it (it asks
first), so requests that were not yet sent never reach a dead replica: the router retries
another. A request already running on a replica that dies fails with `ActorDiedError`;
predictions have no side effects, so the ingress sends it again (up to `RETRIES` times, with a
short back-off) to a live replica, and the client sees a 503 only when no replica answers.

Following a label. A model served as `NAME@LABEL` (or a bare NAME: its latest version)
re-reads the registry index at most every `label_poll_s` seconds when requests come (and on
`GET /v1/models`); when the label points at another version, the replica loads that version
in a thread while it goes on serving the old one, then swaps. No request waits on the load
and none is dropped.
"""

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from ray import serve
from starlette.exceptions import HTTPException as StarletteHTTPException

from raytrain.errors import RaytrainError, did_you_mean
from raytrain.serve.config import APP_NAME, ServeOptions
from raytrain.serve.errors import ServeError
from raytrain.serve.inputs import Limits, PredictRequest, parse_request

log = logging.getLogger("ray.serve")
#: Times the ingress sends a prediction again when the replica running it died.
RETRIES = 3
RETRY_BACKOFF_S = 0.2

api = FastAPI(title="raytrain serve", docs_url=None, redoc_url=None, openapi_url=None)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


@api.exception_handler(ServeError)
async def _serve_error(_: Request, e: ServeError) -> Response:
    return _json(e.body(), e.status)


@api.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, e: StarletteHTTPException) -> Response:
    if e.status_code == 404:
        message = f"no route {request.method} {request.url.path}; see GET /v1/models"
    elif e.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(e.detail)
    return _json({"error": message}, e.status_code)


@api.exception_handler(RequestValidationError)
async def _validation_error(_: Request, e: RequestValidationError) -> Response:
    return _json({"error": f"bad request: {e.errors()[0].get('msg', 'invalid')}"}, 400)


@api.exception_handler(Exception)
async def _bug(_: Request, e: Exception) -> Response:
    log.exception("raytrain serve: unexpected error")
    return JSONResponse(
        {"error": f"internal error ({type(e).__name__}); the server log has the details"}, 500
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is over `limit` bytes (before reading it all
    when Content-Length says so)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ServeError(400, f"bad Content-Length '{declared}'")
        if int(declared) > limit:
            raise ServeError(413, f"body of {int(declared):,} bytes; the limit is {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServeError(413, f"body over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@serve.deployment
@serve.ingress(api)
class Ingress:
    """HTTP routes; one handle per served model."""

    def __init__(self, models: dict[str, Any], limits: dict[str, int]) -> None:
        self.models = models
        self.limits = Limits(**limits)

    def _handle(self, name: str) -> Any:
        if name not in self.models:
            served = ", ".join(sorted(self.models))
            raise ServeError(
                404,
                f"model '{name}' is not served{did_you_mean(name, self.models)}; served: {served}",
            )
        return self.models[name]

    async def _call(self, name: str, method: str, *args: Any) -> Any:
        from ray.exceptions import RayActorError
        from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

        handle = self._handle(name)
        for attempt in range(RETRIES + 1):
            try:
                return await getattr(handle, method).remote(*args)
            except RayActorError as e:  # the replica died while it held the request
                if attempt == RETRIES:
                    break
                log.warning("%s.%s: replica lost (%s); sent again", name, method, type(e).__name__)
                await asyncio.sleep(RETRY_BACKOFF_S * 2**attempt)
            except (BackPressureError, DeploymentUnavailableError):
                break
        raise ServeError(503, f"model '{name}' is unavailable right now (replicas restarting)")

    async def _info(self, name: str) -> dict[str, Any]:
        return await self._call(name, "info")

    @api.get("/healthz")
    async def healthz(self) -> Response:
        return _json({"status": "ok", "models": sorted(self.models)})

    @api.get("/v1/models")
    async def list_models(self) -> Response:
        infos = await asyncio.gather(*(self._info(n) for n in sorted(self.models)))
        return _json({"models": infos})

    @api.get("/v1/models/{target}")
    async def show_model(self, target: str) -> Response:
        return _json(await self._info(target))

    @api.post("/v1/models/{target}")
    async def predict(self, target: str, request: Request) -> Response:
        name, sep, action = target.rpartition(":")
        if not sep or action != "predict":
            raise ServeError(404, f"no route POST /v1/models/{target}; use /v1/models/NAME:predict")
        self._handle(name)  # 404 before reading the body
        body = await read_body(request, self.limits.max_body_bytes)
        req = await parse_request(
            request.headers.get("content-type"), body, request.query_params, self.limits
        )
        answer = await self._call(name, "predict", req)
        if "error" in answer:
            raise ServeError(int(answer["status"]), str(answer["error"]))
        return _json(answer)


@serve.deployment
class ModelServer:
    """One registered model; concurrent requests are predicted in dynamic batches."""

    def __init__(self, name: str, config: dict[str, Any], settings: dict[str, Any]) -> None:
        import torch

        from raytrain.artifacts.registry import parse_ref
        from raytrain.serve.config import ModelSpec

        torch.set_num_threads(max(1, int(settings["threads"])))
        spec = ModelSpec(name, config)
        self.name, self.config, self.follows = name, dict(config), spec.follows
        self.root = Path(settings["registry_root"])
        self.poll_s = float(settings["label_poll_s"])
        self.registry_name = parse_ref(spec.ref)[0] if self.follows else name
        self._stamp_seen = self._stamp()
        self._checked = time.monotonic()
        self._reloading: asyncio.Task | None = None
        self.predictor = self._load(spec.ref)
        self.predict_batch.set_max_batch_size(int(settings["max_batch_size"]))
        self.predict_batch.set_batch_wait_timeout_s(float(settings["batch_wait_s"]))

    def _load(self, ref: str) -> Any:
        import warnings

        from raytrain.inference import Predictor

        p = Predictor(name=self.name)
        p.registry_root = self.root
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p.initialize({**self.config, "model_path": ref})
        return p

    def _stamp(self) -> tuple[int, int, int] | None:
        from raytrain.artifacts.registry import INDEX

        try:
            st = os.stat(Path(self.config.get("registry_root", self.root)) / INDEX)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _maybe_follow(self) -> None:
        """Start a reload when the registry index changed (looked at every `poll_s`)."""
        if self.follows is None or self._reloading is not None:
            return
        now = time.monotonic()
        if now - self._checked < self.poll_s:
            return
        self._checked = now
        stamp = self._stamp()
        if stamp != self._stamp_seen:
            self._reloading = asyncio.get_running_loop().create_task(self._reload(stamp))

    async def _reload(self, stamp: tuple[int, int, int] | None) -> None:
        from raytrain.artifacts.registry import ModelRegistry

        try:
            root = Path(self.config.get("registry_root", self.root))
            entry = await asyncio.to_thread(
                ModelRegistry(root).get, self.registry_name, self.follows
            )
            current = self.predictor.source.version
            if entry["version"] != current:
                ref = f"{self.registry_name}:{entry['version']}"
                self.predictor = await asyncio.to_thread(self._load, ref)
                log.info("%s: %s now serves %s (was %s)", self.name, self.follows, ref, current)
            self._stamp_seen = stamp
        except Exception as e:  # a label removed, a half-registered model: keep serving
            log.warning("%s: keeps version %s: %s", self.name, self.predictor.source.version, e)
            self._stamp_seen = stamp
        finally:
            self._reloading = None

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def predict_batch(self, requests: list[PredictRequest]) -> list[dict[str, Any]]:
        from raytrain.serve.predict import run_batch

        self._maybe_follow()
        # Inline, on the replica's user-code event loop: requests that arrive meanwhile wait
        # in the batch queue for the next batch anyway (one batch runs at a time), and a hop
        # to a worker thread cost ~1-2 ms per batch on 2 busy cores.
        return run_batch(self.predictor, self.name, requests)

    async def predict(self, request: PredictRequest) -> dict[str, Any]:
        return await self.predict_batch(request)

    async def info(self) -> dict[str, Any]:
        from raytrain.serve.predict import model_info

        self._maybe_follow()
        return model_info(self.predictor, self.name, str(self.config["model_path"]), self.follows)


def model_settings(options: ServeOptions, threads: int) -> dict[str, Any]:
    """What every model server is built with (registry, label polling, batching, threads)."""
    return {
        "registry_root": str(Path(options.registry_root).resolve()),
        "label_poll_s": options.label_poll_s,
        "max_batch_size": options.max_batch_size,
        "batch_wait_s": options.batch_wait_ms / 1000.0,
        "threads": threads,
    }


def build_app(options: ServeOptions) -> Any:
    """The bound application: `serve.run(build_app(options), route_prefix="/")`."""
    settings = model_settings(options, options.num_cpus)
    models = {}
    for spec in options.models:
        scale: dict[str, Any] = (
            {
                "autoscaling_config": {
                    "min_replicas": options.autoscale[0],
                    "max_replicas": options.autoscale[1],
                    "target_ongoing_requests": options.max_batch_size,
                }
            }
            if options.autoscale
            else {"num_replicas": options.replicas}
        )
        deployment = ModelServer.options(
            name=f"model-{spec.name}",
            # Room for one batch running and the next one filling up.
            max_ongoing_requests=2 * options.max_batch_size,
            ray_actor_options={"num_cpus": options.num_cpus, "num_gpus": options.num_gpus},
            max_constructor_retry_count=3,
            **scale,
        )
        models[spec.name] = deployment.bind(spec.name, spec.config, settings)
    return Ingress.options(
        num_replicas=1, max_ongoing_requests=1024, ray_actor_options={"num_cpus": 0}
    ).bind(models, options.limits)


def start(options: ServeOptions, address: str | None = None, blocking: bool = False) -> str:
    """Start Serve (binding `options.host:port`) and deploy the application; the base URL."""
    from raytrain.runtime.session import ensure_ray

    ensure_ray(address)
    serve.start(http_options={"host": options.host, "port": options.port})
    from ray.serve.context import _get_global_client

    running = _get_global_client().http_config
    if (running.host, running.port) != (options.host, options.port):
        raise RaytrainError(
            f"Serve already runs on this Ray cluster with its HTTP proxy on "
            f"{running.host}:{running.port}, not {options.host}:{options.port} (the proxy's "
            f"address is fixed when Serve starts); use --host {running.host} --port "
            f"{running.port}, or stop it first (`serve shutdown`)"
        )
    serve.run(build_app(options), name=APP_NAME, route_prefix="/", blocking=blocking)
    return f"http://{options.host}:{options.port}"
