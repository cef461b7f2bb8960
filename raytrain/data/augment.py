"""Augmentation from the YAML: named presets or a list of albumentations
transforms with their arguments.

Geometric transforms move edge maps with their image (passed as albumentations' `mask`, which
uses nearest-neighbour interpolation so the map stays binary). Validation data is never
augmented. Normalization is not an augmentation here: the train loop scales uint8 to [0, 1]
on the worker, so the bytes that cross the object store stay 4x smaller.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

from raytrain.errors import RaytrainError, did_you_mean


def _import_albumentations() -> ModuleType:
    """albumentations, minus what it costs a fresh Ray Data task worker to import it.

    Its `__init__` imports `albumentations.pytorch` (for `ToTensorV2`, which raytrain never uses:
    the train loop makes tensors itself), and so torch: 1.1 of its 1.5 s on 2 cores, paid by
    every new task worker before the first batch can be decoded. That import sits in a
    `suppress(ImportError)`, so it is skipped here when torch is not loaded yet; a later
    `import albumentations.pytorch` still works. It also asks PyPI for a newer version on every
    import (up to a 2 s timeout on a cluster without internet): off unless the user set
    `NO_ALBUMENTATIONS_UPDATE`.
    """
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    if "albumentations" in sys.modules or "torch" in sys.modules:
        import albumentations

        return albumentations
    sys.modules["albumentations.pytorch"] = None  # type: ignore[assignment]  # -> ImportError
    try:
        import albumentations
    finally:
        del sys.modules["albumentations.pytorch"]
    return albumentations


A = _import_albumentations()


# Presets per task. A preset must keep every label true: flipping or turning an image can change
# what it shows (an arrow, a digit, a letter), so the classification presets keep orientation
# (shifts, small scaling and rotations of a few degrees, appearance); edge maps are moved with
# their image, so the edge presets flip and rotate freely. `flips` asks for flips explicitly.
# Vector tasks (regression, anomaly) are never augmented.


def _appearance(limit: float = 0.2, p: float = 0.5) -> A.BasicTransform:
    return A.RandomBrightnessContrast(brightness_limit=limit, contrast_limit=limit, p=p)


def _basic(labels: bool) -> list[A.BasicTransform]:
    if labels:
        return [
            A.Affine(translate_percent=(-0.05, 0.05), scale=(0.9, 1.1), p=0.5),
            _appearance(),
        ]
    return [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.3), _appearance()]


def _advanced(labels: bool) -> list[A.BasicTransform]:
    # The classic preset, in albumentations 2 spelling (ShiftScaleRotate -> Affine,
    # GaussNoise(var_limit=(10, 50)) -> std_range on the 0..1 scale: sqrt(10..50)/255).
    tail = [
        _appearance(),
        A.GaussNoise(std_range=(0.012, 0.028), p=0.3),
        A.GaussianBlur(blur_limit=(3, 7), p=0.3),
    ]
    if labels:
        return [
            A.Affine(translate_percent=(-0.1, 0.1), scale=(0.85, 1.15), rotate=(-10, 10), p=0.5),
            *tail,
        ]
    return [
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.3),
        A.Rotate(limit=30, p=0.5),
        A.Affine(translate_percent=(-0.1, 0.1), scale=(0.8, 1.2), rotate=(-30, 30), p=0.5),
        *tail,
    ]


def _domain_specific(labels: bool) -> list[A.BasicTransform]:
    # This preset is for fine-tuning on a new domain: keep the geometry
    # (the pretrained model knows it) and vary appearance more.
    return [
        *([] if labels else [A.HorizontalFlip(p=0.5)]),
        _appearance(0.3, p=0.7),
        A.RandomGamma(p=0.3),
        A.GaussNoise(std_range=(0.012, 0.028), p=0.3),
        A.GaussianBlur(blur_limit=(3, 5), p=0.3),
    ]


def _flips(labels: bool) -> list[A.BasicTransform]:
    # Asked for by name: only for data whose labels do not depend on orientation.
    return [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5), _appearance()]


PRESETS = {
    "none": lambda labels: [],
    "basic": _basic,
    "advanced": _advanced,
    "domain_specific": _domain_specific,
    "flips": _flips,
}

#: What each preset does, per task (README's table and `raytrain validate` say the same).
PRESET_DOCS = {
    "none": ("nothing", "nothing"),
    "basic": (
        "shift ±5 %, scale 0.9-1.1, brightness/contrast ±20 %",
        "horizontal flip (p 0.5), vertical flip (p 0.3), brightness/contrast ±20 %",
    ),
    "advanced": (
        "shift ±10 %, scale 0.85-1.15, rotate ±10°, brightness/contrast, noise, blur",
        "flips, rotate ±30°, shift/scale/rotate, brightness/contrast, noise, blur",
    ),
    "domain_specific": (
        "brightness/contrast ±30 %, gamma, noise, blur (no geometry)",
        "horizontal flip, brightness/contrast ±30 %, gamma, noise, blur",
    ),
    "flips": (
        "horizontal and vertical flips (p 0.5 each), brightness/contrast: only for labels "
        "that do not depend on orientation",
        "horizontal and vertical flips (p 0.5 each), brightness/contrast",
    ),
}


def _custom(specs: list[Any]) -> list[A.BasicTransform]:
    out = []
    for i, spec in enumerate(specs):
        d = spec.model_dump() if hasattr(spec, "model_dump") else dict(spec)
        d.update(getattr(spec, "model_extra", None) or {})
        name = d.pop("name")
        cls = getattr(A, name, None)
        if not (isinstance(cls, type) and issubclass(cls, A.BasicTransform)):
            names = [n for n in dir(A) if isinstance(getattr(A, n), type)]
            raise RaytrainError(
                f"dataset.augmentation.{i}.name: unknown albumentations "
                f"transform '{name}'{did_you_mean(name, names)}"
            )
        try:
            out.append(cls(**d))
        except (TypeError, ValueError) as e:
            raise RaytrainError(f"dataset.augmentation.{i} ({name}): {e}") from None
    return out


def build_augmentation(
    spec: str | list[Any], seed: int | None = None, target: str = "image"
) -> A.Compose | None:
    """An albumentations pipeline for a preset name or a list of transform specs; None = none.

    `target` is the task's target ("image": edge maps, moved with the image; "label": a class,
    so a preset keeps orientation). A list of transforms is applied as written, flips included.
    """
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise RaytrainError(
                f"dataset.augmentation: unknown preset '{spec}'"
                f"{did_you_mean(spec, PRESETS)}; known: {', '.join(PRESETS)}"
            )
        transforms = PRESETS[spec](target == "label")
    else:
        transforms = _custom(spec)
    if not transforms:
        return None
    return A.Compose(transforms, seed=seed)
