"""One dynamic batch: several HTTP requests, one `Predictor.predict` call, one answer each.

The instances of every request in the batch go through `Predictor.predict` together (the
same preprocessing, forward pass and outputs as `raytrain predict`; images are decoded as
`raytrain predict` reads files), and the rows are handed back to the requests they came
from. Requests that ask for different thresholds are predicted in one call per threshold.

One bad request must not fail the others: when the joint call refuses an instance
(wrong vector length, an image with 4 channels, ...), each request of that call is predicted
on its own, so the bad one gets its 422 and the rest their predictions.
"""

from __future__ import annotations

import base64
import warnings
from typing import Any

import cv2
import numpy as np

from raytrain.errors import RaytrainError
from raytrain.inference import Predictor
from raytrain.inference.outputs import EdgePrediction, Prediction
from raytrain.serve.errors import ServeError, bad_request, unprocessable
from raytrain.serve.inputs import ImageBytes, PredictRequest

#: Tasks whose predictions use a threshold (as for `raytrain predict --threshold`).
THRESHOLD_TASKS = ("edges", "anomaly")


def decode_image(data: bytes, what: str) -> np.ndarray:
    """8-bit grayscale, exactly as `raytrain predict` reads an image file."""
    from raytrain.data.preprocess import decode_image

    try:
        return decode_image(data, what, "image", None)
    except ValueError:
        raise bad_request(f"{what}: not a readable PNG or JPEG image") from None


def _arrays(req: PredictRequest, task: str) -> list[np.ndarray]:
    if req.threshold is not None and task not in THRESHOLD_TASKS:
        raise unprocessable(f"threshold: applies to edge and anomaly models; this one is {task}")
    return [
        decode_image(x.data, f"instance {i}") if isinstance(x, ImageBytes) else x
        for i, x in enumerate(req.instances)
    ]


def _png_b64(edges: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", edges)
    if not ok:  # pragma: no cover - cv2 encodes any uint8 2-D array
        raise RuntimeError("could not encode an edge map")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def _rows(pred: Prediction, probabilities: bool) -> list[dict[str, Any]]:
    rows = pred.rows()
    if isinstance(pred, EdgePrediction):
        for row, edges, probs in zip(rows, pred.edges, pred.probabilities, strict=True):
            row["edges_png"] = _png_b64(edges)
            if probabilities:
                row["probabilities"] = probs.tolist()
    return rows


def _answer(
    predictor: Predictor, name: str, pred: Prediction, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    src = predictor.source
    return {
        "model": name,
        "version": src.version,
        "task": predictor.task,
        "backend": predictor.backend,
        "threshold": getattr(pred, "threshold", None),
        "predictions": rows,
    }


def _predict(predictor: Predictor, arrays: list[np.ndarray], threshold: float | None) -> Prediction:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return predictor.predict(arrays, threshold=threshold)


def run_batch(predictor: Predictor, name: str, requests: list[PredictRequest]) -> list[dict]:
    """One answer per request: the prediction dict, or `{"error": ..., "status": 4xx}`."""
    answers: list[dict[str, Any] | None] = [None] * len(requests)
    inputs: dict[int, list[np.ndarray]] = {}
    task = predictor.task
    for i, req in enumerate(requests):
        try:
            inputs[i] = _arrays(req, task)
        except ServeError as e:
            answers[i] = {**e.body(), "status": e.status}
    groups: dict[float | None, list[int]] = {}
    for i in inputs:
        groups.setdefault(requests[i].threshold, []).append(i)
    for threshold, members in groups.items():
        flat = [a for i in members for a in inputs[i]]
        try:
            pred = _predict(predictor, flat, threshold)
        except RaytrainError:
            for i in members:  # find the bad request(s): each on its own
                try:
                    pred_i = _predict(predictor, inputs[i], threshold)
                except RaytrainError as e:
                    answers[i] = {"error": str(e), "status": 422}
                    continue
                rows = _rows(pred_i, requests[i].probabilities)
                answers[i] = _answer(predictor, name, pred_i, rows)
            continue
        start = 0
        for i in members:
            n = len(inputs[i])
            part = _rows(_slice(pred, start, n), requests[i].probabilities)
            answers[i] = _answer(predictor, name, pred, part)
            start += n
        assert start == len(pred)
    assert all(a is not None for a in answers)
    return answers  # type: ignore[return-value]


def _slice(pred: Prediction, start: int, n: int) -> Prediction:
    """The predictions of instances start .. start+n (a view of the same kind)."""
    end = start + n
    if isinstance(pred, EdgePrediction):
        return EdgePrediction(pred.probabilities[start:end], pred.edges[start:end], pred.threshold)
    from dataclasses import fields, replace

    changes = {
        f.name: getattr(pred, f.name)[start:end]
        for f in fields(pred)
        if isinstance(getattr(pred, f.name), np.ndarray)
    }
    return replace(pred, **changes)


def model_info(predictor: Predictor, name: str, ref: str, follows: str | None) -> dict[str, Any]:
    """What `GET /v1/models` says about one served model (metrics as the registry has them)."""
    src = predictor.source
    entry = src.entry
    return {
        "name": name,
        "ref": ref,
        "follows": follows,
        "version": src.version,
        "task": predictor.task,
        "model_type": predictor.metadata.model_type,
        "architecture": src.meta.get("architecture"),
        "input_shape": list(predictor.input_shape),
        "backend": predictor.backend,
        "stage": entry.get("stage"),
        "aliases": list(entry.get("aliases", [])),
        "metrics": predictor.get_performance_metrics(),
    }
