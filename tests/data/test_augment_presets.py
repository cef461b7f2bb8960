"""Augmentation presets keep labels true: a classification preset never changes which way an
arrow points; `flips` (asked for by name) does; the shipped classifier uses a label-safe preset
and the preset is searchable."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from raytrain.config import load_config, load_config_text
from raytrain.config.search_space import build_search_space
from raytrain.data.augment import PRESETS, build_augmentation

ROOT = Path(__file__).resolve().parents[2]
DIRECTIONS = ("right", "down", "left", "up")  # the label: which way the arrow points
SIZE = 40


def arrow(direction: int, size: int = SIZE) -> np.ndarray:
    """A white arrow on black, pointing right turned by `direction` quarter turns."""
    img = np.zeros((size, size), np.uint8)
    c = size // 2
    cv2.rectangle(img, (c - 12, c - 2), (c + 2, c + 2), 255, -1)  # shaft
    head = np.array([[c + 2, c - 8], [c + 12, c], [c + 2, c + 8]], np.int32)
    cv2.fillPoly(img, [head], 255)
    return np.ascontiguousarray(np.rot90(img, -direction))


def orientation(img: np.ndarray) -> int:
    """Which way an arrow points: the head holds most of its mass, so the centroid sits between
    the bounding box's centre and the tip; independent of shifts, scaling and small turns."""
    mask = img > (int(img.min()) + int(img.max())) / 2
    ys, xs = np.nonzero(mask)
    dx = xs.mean() - (xs.min() + xs.max()) / 2
    dy = ys.mean() - (ys.min() + ys.max()) / 2
    if abs(dx) >= abs(dy):
        return 0 if dx > 0 else 2
    return 1 if dy > 0 else 3


def test_the_arrows_are_labelled_by_orientation() -> None:
    assert [orientation(arrow(d)) for d in range(4)] == [0, 1, 2, 3]


@pytest.mark.parametrize("preset", sorted(set(PRESETS) - {"flips", "none"}))
def test_classification_presets_keep_the_label(preset: str) -> None:
    aug = build_augmentation(preset, seed=0, target="label")
    assert aug is not None
    for seed in range(40):
        aug.set_random_seed(seed)
        for d in range(4):
            out = aug(image=arrow(d))["image"]
            assert out.shape == (SIZE, SIZE)
            assert orientation(out) == d, (preset, seed, DIRECTIONS[d])


def test_flips_preset_does_flip_labels() -> None:
    """The check above can fail: the preset asked for by name changes some labels."""
    aug = build_augmentation("flips", seed=0, target="label")
    changed = 0
    for seed in range(20):
        aug.set_random_seed(seed)
        changed += sum(orientation(aug(image=arrow(d))["image"]) != d for d in range(4))
    assert changed > 10


def test_edge_presets_still_flip_the_map_with_the_image() -> None:
    aug = build_augmentation("basic", seed=0, target="image")
    assert "HorizontalFlip" in [type(t).__name__ for t in aug.transforms]
    img = arrow(0)
    seen = set()
    for seed in range(20):
        aug.set_random_seed(seed)
        out = aug(image=img, mask=img.copy())
        lo, hi = int(out["image"].min()), int(out["image"].max())
        assert np.array_equal(out["mask"] > 127, out["image"] > (lo + hi) / 2)
        seen.add(orientation(out["mask"]))
    assert len(seen) > 1  # the map was flipped too


def test_shipped_classifier_uses_a_label_safe_preset() -> None:
    cfg = load_config(ROOT / "search_spaces" / "classifier.yaml")
    spec = cfg.dataset.augmentation
    assert isinstance(spec, str) and spec != "flips"
    aug = build_augmentation(spec, seed=0, target="label")
    names = [type(t).__name__ for t in (aug.transforms if aug else [])]
    assert not {"HorizontalFlip", "VerticalFlip", "Rotate", "RandomRotate90"} & set(names)


def test_the_preset_is_searchable() -> None:
    cfg = load_config_text(
        "model: {architecture: cnn_classifier}\n"
        "search_space:\n"
        "  dataset.augmentation: {type: categorical, choices: [none, basic, advanced, flips]}\n"
    )
    space = build_search_space(cfg)
    assert "dataset.augmentation" in space.param_space
    bad = load_config_text(
        "model: {architecture: cnn_classifier}\n"
        "search_space:\n"
        "  dataset.augmentation: {type: categorical, choices: [basic, flipz]}\n"
    )
    with pytest.raises(Exception, match="flipz"):
        build_search_space(bad)
