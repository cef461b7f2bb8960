"""`raytrain serve NAME[:VERSION|@LABEL] ...`: registered models behind HTTP on Ray Serve.

A thin shell over `raytrain.serve.app.start`: parse, check every model loads here (so a typo
stops the command at once, not after Serve retried a replica), start, print the URL, and keep
the application up until Ctrl-C.
"""

from __future__ import annotations

import signal
import time
import warnings
from pathlib import Path

import click

from raytrain.errors import RaytrainError
from raytrain.serve.config import (
    DEFAULT_BATCH_WAIT_MS,
    DEFAULT_HOST,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_BODY_MB,
    DEFAULT_MAX_INSTANCES,
    DEFAULT_PORT,
    ModelSpec,
    ServeOptions,
    parse_autoscale,
    specs_from_plugins,
    specs_from_refs,
)


def _check_loads(specs: list[ModelSpec], root: Path) -> None:
    from raytrain.inference import Predictor

    for spec in specs:
        p = Predictor(name=spec.name)
        p.registry_root = root
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p.initialize(dict(spec.config))
        except RaytrainError as e:
            raise RaytrainError(f"serve '{spec.name}': {e}") from None
        p.cleanup()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@click.command("serve")
@click.argument("models", nargs=-1)
@click.option(
    "--plugins",
    "plugins_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A plugins.yaml: serve each enabled entry under its name.",
)
@click.option(
    "--root",
    default="models",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Registry folder (on a cluster: a path every node sees).",
)
@click.option(
    "--backend",
    type=click.Choice(["onnx", "torch"]),
    default=None,
    help="onnxruntime on the registered .onnx, or PyTorch (default: torch, as predict).",
)
@click.option("--replicas", type=click.IntRange(min=1), default=None, help="Replicas per model.")
@click.option("--autoscale", default=None, metavar="MIN,MAX", help="Autoscale each model.")
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BATCH_SIZE,
    show_default=True,
    help="Requests per dynamic batch.",
)
@click.option(
    "--batch-wait-ms",
    type=click.FloatRange(0, 10_000),
    default=DEFAULT_BATCH_WAIT_MS,
    show_default=True,
    help="How long a batch waits to fill up.",
)
@click.option(
    "--num-cpus",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="CPUs each model replica reserves.",
)
@click.option(
    "--num-gpus",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="GPUs each model replica reserves (torch backend: runs on CUDA).",
)
@click.option(
    "--max-body-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_MAX_BODY_MB,
    show_default=True,
    help="Largest request body.",
)
@click.option(
    "--max-instances",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_INSTANCES,
    show_default=True,
    help="Most instances in one request.",
)
@click.option(
    "--address",
    default=None,
    envvar="RAY_ADDRESS",
    help="Ray cluster to use (e.g. 'auto'); default: start a local Ray.",
)
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address the HTTP proxy binds (0.0.0.0 exposes it to the network).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option(
    "--detach",
    is_flag=True,
    help="With --address: deploy and return; the application keeps running on the cluster "
    "(stop it with `serve shutdown`).",
)
def serve_command(
    models: tuple[str, ...],
    plugins_file: Path | None,
    root: Path,
    backend: str | None,
    replicas: int | None,
    autoscale: str | None,
    max_batch_size: int,
    batch_wait_ms: float,
    num_cpus: float,
    num_gpus: float,
    max_body_mb: float,
    max_instances: int,
    address: str | None,
    host: str,
    port: int,
    detach: bool,
) -> None:
    """Serve registered MODELS (NAME[:VERSION|@LABEL] ...) over HTTP on Ray Serve.

    Routes: GET /healthz, GET /v1/models, POST /v1/models/NAME:predict (JSON instances, or a
    PNG/JPEG body or multipart upload). A model served as NAME@LABEL follows the label when
    `raytrain registry promote` moves it.
    """
    if replicas is not None and autoscale is not None:
        raise RaytrainError("--replicas and --autoscale: give one of them")
    if detach and not address:
        raise RaytrainError(
            "--detach: needs --address (a running cluster); a Ray started by this command "
            "stops with it"
        )
    if not models and plugins_file is None:
        raise RaytrainError("serve: name a model (NAME[:VERSION|@LABEL]) or --plugins FILE")
    specs = specs_from_refs(models, backend)
    _check_loads(specs, root)  # plugins.yaml entries are checked as the file is read
    if plugins_file is not None:
        specs += specs_from_plugins(plugins_file, root, backend)
    options = ServeOptions(
        models=tuple(specs),
        registry_root=str(root.resolve()),
        replicas=replicas or 1,
        autoscale=parse_autoscale(autoscale),
        max_batch_size=max_batch_size,
        batch_wait_ms=batch_wait_ms,
        host=host,
        port=port,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        max_instances=max_instances,
    )
    from raytrain.serve.app import start

    url = start(options, address)
    for spec in specs:
        follows = f" (follows {spec.follows})" if spec.follows else ""
        click.echo(f"{spec.name}: {spec.ref}{follows} -> POST {url}/v1/models/{spec.name}:predict")
    if detach:
        click.echo(f"serving at {url} (GET /healthz, GET /v1/models); `serve shutdown` stops")
        return
    click.echo(f"serving at {url} (GET /healthz, GET /v1/models); Ctrl-C stops")
    signal.signal(signal.SIGTERM, _interrupt)  # `kill`, systemd, Kubernetes: stop the same way
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        from ray import serve

        from raytrain.serve.config import APP_NAME

        click.echo("stopping")
        serve.delete(APP_NAME)  # other applications on a shared cluster keep running
