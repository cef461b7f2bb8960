"""Turning what users pass (arrays of any reasonable shape and dtype) into the model's input batch:
images scaled to [0, 1] and resized, vectors checked; notes on what was converted."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from raytrain.errors import RaytrainError

#: Smaller arrays are not taken for images: a (1, 5) feature vector passed to an edge model
#: would otherwise be "resized" into a meaningless picture.
MIN_IMAGE_SIDE = 8


def shape_of(a: np.ndarray) -> str:
    return "(" + ", ".join(str(s) for s in a.shape) + ")"


def split_images(inputs: Any) -> list[np.ndarray]:
    """One array per image. A bare array is one image when it is (H, W) or (H, W, C<=4),
    a batch when (N, H, W) or (N, H, W, C); pass a list to leave no doubt."""
    if isinstance(inputs, np.ndarray):
        a = inputs
        if a.ndim == 2 or (a.ndim == 3 and a.shape[-1] <= 4):
            return [a]
        if a.ndim in (3, 4):
            return list(a)
        return [a]  # refused with its shape by unit_image
    if isinstance(inputs, (list, tuple)):
        return [np.asarray(x) for x in inputs]
    raise RaytrainError(
        f"predict: expected a numpy array or a list of arrays, got {type(inputs).__name__}"
    )


def unit_image(img: np.ndarray, i: int, channels: int, counts: dict[str, int]) -> np.ndarray:
    """(H, W) or (H, W, channels) float32 in [0, 1], as the training pipeline made images."""
    what = (
        f"input {i}: shape {shape_of(img)} is not an image; image models take (H, W), "
        f"(H, W, 1) or (H, W, 3) arrays of at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}"
    )
    if img.ndim not in (2, 3) or min(img.shape[:2]) < MIN_IMAGE_SIDE:
        raise RaytrainError(what)
    if img.ndim == 3 and img.shape[2] not in (1, 3):
        raise RaytrainError(
            f"input {i}: shape {shape_of(img)} has {img.shape[2]} channels; "
            f"expected 1 (gray) or 3 (RGB)"
        )
    x = _to_unit_float(img, i)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[:, :, 0]
    if channels == 1 and x.ndim == 3:
        counts["gray"] += 1
        x = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)
    elif channels == 3 and x.ndim == 2:
        counts["rgb"] += 1
        x = np.repeat(x[:, :, None], 3, axis=2)
    return x


def _to_unit_float(img: np.ndarray, i: int) -> np.ndarray:
    """uint8 (and small integers) are divided by 255; floats must already be in [0, 1]."""
    if img.dtype == np.bool_:
        return img.astype(np.float32)
    if np.issubdtype(img.dtype, np.integer):
        lo, hi = int(img.min()), int(img.max())
        if lo < 0 or hi > 255:
            raise RaytrainError(
                f"input {i}: integer pixel values must be 0-255 "
                f"(got {lo}..{hi}); convert 16-bit images to 8-bit first"
            )
        return img.astype(np.float32) / 255.0
    if not np.issubdtype(img.dtype, np.floating):
        raise RaytrainError(f"input {i}: unsupported pixel type {img.dtype}")
    x = img.astype(np.float32)
    if not np.isfinite(x).all():
        raise RaytrainError(f"input {i}: the image holds NaN or infinite values")
    if x.size and (x.min() < -1e-6 or x.max() > 1 + 1e-6):
        raise RaytrainError(
            f"input {i}: float pixel values must be in [0, 1] (got "
            f"{x.min():.4g}..{x.max():.4g}); pass uint8 or divide by 255"
        )
    return np.clip(x, 0.0, 1.0)


def to_model_size(x: np.ndarray, size: int) -> np.ndarray:
    """Resized like the training pipeline's `_decode` (INTER_AREA), channels first."""
    if x.shape[:2] != (size, size):
        x = cv2.resize(np.ascontiguousarray(x), (size, size), interpolation=cv2.INTER_AREA)
    return x[None] if x.ndim == 2 else np.transpose(x, (2, 0, 1))


def split_vectors(inputs: Any, dim: int) -> np.ndarray:
    """(N, dim) float32 from one vector, an (N, dim) array or a list of vectors."""
    if isinstance(inputs, np.ndarray) and inputs.ndim == 2:
        rows = list(inputs)
    elif isinstance(inputs, np.ndarray):
        rows = [inputs]
    elif isinstance(inputs, (list, tuple)):
        rows = [np.asarray(r) for r in inputs]
    else:
        raise RaytrainError(
            f"predict: expected a numpy array or a list of arrays, got {type(inputs).__name__}"
        )
    return (
        np.stack([check_vector(r, i, dim) for i, r in enumerate(rows)])
        if rows
        else np.zeros((0, dim), np.float32)
    )


def check_vector(v: np.ndarray, i: int, dim: int) -> np.ndarray:
    v = np.asarray(v)
    if v.ndim != 1 or v.shape[0] != dim:
        got = f"{v.shape[0]} values" if v.ndim == 1 else f"shape {shape_of(v)}"
        raise RaytrainError(
            f"input {i}: expected a vector of {dim} values (the model's feature_dim), got {got}"
        )
    if np.iscomplexobj(v) or not (np.issubdtype(v.dtype, np.number) or v.dtype == np.bool_):
        raise RaytrainError(f"input {i}: expected real numbers, got dtype {v.dtype}")
    out = v.astype(np.float32)
    if not np.isfinite(out).all():
        raise RaytrainError(f"input {i}: the vector holds NaN or infinite values")
    return out


def count_notes(counts: dict[str, int], size: int | None) -> list[str]:
    notes = []
    if counts.get("gray"):
        notes.append(f"{counts['gray']} color image(s) converted to gray (RGB order)")
    if counts.get("rgb"):
        notes.append(f"{counts['rgb']} gray image(s) repeated to 3 channels")
    if counts.get("resized"):
        notes.append(
            f"{counts['resized']} image(s) resized to the model's {size}x{size} input"
            f" (outputs are at each input's size)"
        )
    return notes


def is_vector_batch(a: np.ndarray, dim: int) -> bool:
    """One vector, or (N, dim) non-integer rows: feature vectors are floats, images uint8."""
    if a.ndim == 1:
        return True
    return a.ndim == 2 and a.shape[1] == dim and not np.issubdtype(a.dtype, np.integer)
