"""HTTP request bodies -> what a model replica predicts on, with every mistake a 4xx.

`POST /v1/models/NAME:predict` takes

* `application/json`: `{"instances": [...], "threshold": 0.4, "probabilities": false}`, each
  instance a vector (`[0.1, 0.2, ...]`), an image as nested lists ((H, W) or (H, W, C), uint8
  0-255 or floats in [0, 1]), or `{"b64": "<base64 of a PNG or JPEG file>"}`;
* `image/png`, `image/jpeg` (or `application/octet-stream`): the body is one image file;
* `multipart/form-data`: every file part is an image (in order); the text fields `threshold`
  and `probabilities` may come along.

For the raw and multipart forms, `threshold` and `probabilities` may also be query parameters.

Only the shape of the request is checked here (in the ingress, which never imports torch);
whether an instance fits the model (vector length, image channels, pixel range) is the
replica's `Predictor`'s business, with the same checks and messages as `raytrain predict`.
Images stay encoded until the replica decodes them exactly as `raytrain predict` reads files;
their magic bytes and header size are checked here, so a 100-byte PNG that claims to be
100,000 x 100,000 pixels is refused before anything decodes it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from raytrain.errors import did_you_mean
from raytrain.serve.errors import ServeError, bad_request

JSON_KEYS = ("instances", "threshold", "probabilities")
FORM_FIELDS = ("threshold", "probabilities")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/jpg", "application/octet-stream")
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"


@dataclass
class ImageBytes:
    """An encoded PNG or JPEG, decoded by the replica as `raytrain predict` reads a file."""

    data: bytes


Instance = np.ndarray | ImageBytes


@dataclass
class PredictRequest:
    instances: list[Instance]
    threshold: float | None = None
    probabilities: bool = False


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    max_instances: int
    max_image_pixels: int


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


# -- images ---------------------------------------------------------------------------------------


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header; None when it is neither or cannot say."""
    if data.startswith(_PNG):
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        return struct.unpack(">II", data[16:24])
    if data.startswith(_JPEG):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
                i += 2
                continue
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return w, h
            if length < 2:
                return None
            i += 2 + length
        return None
    return None


def check_image(data: bytes, what: str, limits: Limits) -> ImageBytes:
    if not data:
        raise bad_request(f"{what}: empty image")
    if not (data.startswith(_PNG) or data.startswith(_JPEG)):
        raise ServeError(415, f"{what}: not a PNG or JPEG image")
    size = image_size(data)
    if size is None:
        raise bad_request(f"{what}: corrupt image (no readable PNG/JPEG header)")
    w, h = size
    if w < 1 or h < 1:
        raise bad_request(f"{what}: corrupt image (header says {w}x{h})")
    if w * h > limits.max_image_pixels:
        raise ServeError(
            413, f"{what}: {w}x{h} pixels is over the limit of {limits.max_image_pixels:,}"
        )
    return ImageBytes(data)


# -- JSON -----------------------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(body: bytes, limits: Limits) -> PredictRequest:
    try:
        data = json.loads(body, parse_constant=_no_constants)
    except RecursionError:
        raise bad_request("JSON body nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise bad_request(f"body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise bad_request('expected a JSON object {"instances": [...]}, got ' + type(data).__name__)
    for key in data:
        if key not in JSON_KEYS:
            raise bad_request(
                f"unknown key '{key}'{did_you_mean(key, JSON_KEYS)}; known: {', '.join(JSON_KEYS)}"
            )
    if "instances" not in data:
        raise bad_request('missing "instances": a list of vectors, images or {"b64": ...}')
    items = data["instances"]
    if not isinstance(items, list):
        raise bad_request(f'"instances" must be a list, got {type(items).__name__}')
    _count(len(items), limits)
    instances = [_instance(x, i, limits) for i, x in enumerate(items)]
    return PredictRequest(
        instances,
        _threshold(data.get("threshold")),
        _flag(data.get("probabilities", False), "probabilities"),
    )


def _count(n: int, limits: Limits) -> None:
    if n == 0:
        raise bad_request('"instances" is empty')
    if n > limits.max_instances:
        raise ServeError(413, f"{n} instances in one request; the limit is {limits.max_instances}")


def _instance(x: Any, i: int, limits: Limits) -> Instance:
    what = f"instance {i}"
    if isinstance(x, dict):
        if set(x) != {"b64"} or not isinstance(x["b64"], str):
            raise bad_request(f'{what}: an object instance must be {{"b64": "<base64 image>"}}')
        try:
            data = base64.b64decode(x["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(f"{what}: b64 is not valid base64") from None
        return check_image(data, what, limits)
    if not isinstance(x, list):
        raise bad_request(
            f'{what}: expected a list of numbers, nested lists (an image) or {{"b64": ...}}, '
            f"got {type(x).__name__}"
        )
    try:
        a = np.asarray(x)
    except (ValueError, OverflowError):
        raise bad_request(f"{what}: not a rectangular array (rows of different lengths)") from None
    if a.dtype.kind not in "iuf":
        raise bad_request(f"{what}: expected numbers only (no strings, booleans or nulls)")
    if a.ndim not in (1, 2, 3):
        raise bad_request(f"{what}: {a.ndim} dimensions; expected a vector or an image")
    if a.size > limits.max_image_pixels:
        raise ServeError(413, f"{what}: {a.size:,} values is over the limit")
    return a


def _threshold(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise bad_request(f"threshold '{value}': not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"threshold {value!r}: expected a number between 0 and 1")
    if not (math.isfinite(value) and 0 < value < 1):
        raise bad_request(f"threshold {value}: expected a number between 0 and 1 (exclusive)")
    return float(value)


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    if not isinstance(value, bool):
        raise bad_request(f"{key} {value!r}: expected true or false")
    return value


def _query(query: Mapping[str, str]) -> tuple[float | None, bool]:
    for key in query:
        if key not in FORM_FIELDS:
            raise bad_request(
                f"unknown query parameter '{key}'{did_you_mean(key, FORM_FIELDS)}; "
                f"known: {', '.join(FORM_FIELDS)}"
            )
    return _threshold(query.get("threshold")), _flag(
        query.get("probabilities", "false"), "probabilities"
    )


# -- raw image bodies and multipart uploads -------------------------------------------------------


def parse_image_body(body: bytes, query: Mapping[str, str], limits: Limits) -> PredictRequest:
    threshold, probabilities = _query(query)
    return PredictRequest([check_image(body, "body", limits)], threshold, probabilities)


async def parse_multipart(
    content_type: str, body: bytes, query: Mapping[str, str], limits: Limits
) -> PredictRequest:
    from starlette.datastructures import Headers, UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def stream() -> AsyncIterator[bytes]:
        yield body

    parser = MultiPartParser(
        Headers({"content-type": content_type}),
        stream(),
        max_files=limits.max_instances,
        max_fields=len(FORM_FIELDS) + 8,
        max_part_size=limits.max_body_bytes,
    )
    try:
        form = await parser.parse()
    except MultiPartException as e:
        raise bad_request(f"malformed multipart body: {e.message}") from None
    except Exception as e:  # python-multipart's own parse errors
        raise bad_request(f"malformed multipart body: {type(e).__name__}") from None
    threshold, probabilities = _query(query)
    instances: list[Instance] = []
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                what = f"file {len(instances)} ('{value.filename or key}')"
                instances.append(check_image(data, what, limits))
            elif key == "threshold":
                threshold = _threshold(value)
            elif key == "probabilities":
                probabilities = _flag(value, key)
            else:
                raise bad_request(
                    f"unknown form field '{key}'{did_you_mean(key, FORM_FIELDS)}; image files "
                    f"and {', '.join(FORM_FIELDS)} are read"
                )
    finally:
        await form.close()
    if not instances:
        raise bad_request("multipart body holds no image file")
    _count(len(instances), limits)
    return PredictRequest(instances, threshold, probabilities)


async def parse_request(
    content_type: str | None, body: bytes, query: Mapping[str, str], limits: Limits
) -> PredictRequest:
    """The request's instances and options, or a ServeError saying what is wrong."""
    kind = media_type(content_type)
    if kind == "application/json" or kind.endswith("+json"):
        if query:
            _query(query)  # a typo in a query parameter is still an error
            raise bad_request("with a JSON body, give threshold/probabilities in the JSON")
        return parse_json(body, limits)
    if kind in IMAGE_TYPES:
        return parse_image_body(body, query, limits)
    if kind == "multipart/form-data":
        return await parse_multipart(content_type or "", body, query, limits)
    shown = kind or "none"
    raise ServeError(
        415,
        f"content type '{shown}': send application/json, image/png, image/jpeg or "
        f"multipart/form-data",
    )
