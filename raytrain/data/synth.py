"""Built-in deterministic synthetic datasets for the three model families (no downloads).

Every per-sample generator draws from ``np.random.default_rng([seed, i])``, so sample i
depends only on ``(seed, i)``: datasets of different sizes share prefixes, any index can
be regenerated on any worker, and no global RNG state is touched.

* :func:`edge_sample` - shapes image + exact ground-truth edge map (edge detection).
* :func:`coefficient_sample` - star-shaped blob image, its hand-crafted features and the true
  minimal Fourier coefficient count (coefficient optimizer).
* :func:`anomaly_samples` - normal vs tampered Fourier coefficient vectors (anomaly
  detector), with four tamperings.
* :func:`classification_sample` - labelled shape images (generic image classification).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from raytrain.data.features import feature_vector
from raytrain.data.fourier import (
    fourier_coefficients,
    harmonics,
    harmonics_to_vector,
    main_contour,
    min_coefficients,
)

__all__ = [
    "CLASS_NAMES",
    "TAMPERINGS",
    "anomaly_samples",
    "classification_sample",
    "classification_samples",
    "coefficient_sample",
    "coefficient_samples",
    "edge_label_map",
    "edge_sample",
    "edge_samples",
    "label_boundaries",
    "star_contour",
    "tamper_amplitude",
    "tamper_distribution",
    "tamper_frequency_gap",
    "tamper_phase",
]

_SHIFT = 4  # sub-pixel bits for cv2 polygon drawing
_SCALE = 1 << _SHIFT


def _rng(seed: int, i: int) -> np.random.Generator:
    """Per-sample generator: depends only on (seed, i)."""
    return np.random.default_rng([int(seed), int(i)])


def _fill(canvas: np.ndarray, poly: np.ndarray, value: int, aa: bool = False) -> None:
    """Fill a float polygon (M, 2) in place with sub-pixel vertex precision."""
    pts = np.rint(np.asarray(poly) * _SCALE).astype(np.int32).reshape(1, -1, 2)
    line = cv2.LINE_AA if aa else cv2.LINE_8
    cv2.fillPoly(canvas, pts, int(value), lineType=line, shift=_SHIFT)


def _regular_polygon(cx: float, cy: float, r: float, sides: int, rot: float) -> np.ndarray:
    """Vertices of a regular polygon with circumradius r."""
    t = rot + np.arange(sides) * (2 * np.pi / sides)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


# --------------------------------------------------------------------------------------
# 1. Edge detection: shapes with exact boundaries
# --------------------------------------------------------------------------------------


def _spaced_levels(rng: np.random.Generator, m: int, gap: int = 40) -> np.ndarray:
    """m grey levels in [15, 240] with pairwise distance >= gap, in random order.

    Requiring *all* pairs (not just adjacent regions) to differ keeps every region
    boundary visible no matter how shapes overlap.
    """
    lo, hi = 15, 240 - gap * (m - 1)
    base = np.sort(rng.uniform(lo, hi, size=m)) + gap * np.arange(m)
    return rng.permutation(np.rint(base)).astype(np.int32)


def _random_shape(rng: np.random.Generator, size: int) -> tuple[str, np.ndarray | tuple]:
    """A random shape spec (kind, geometry) whose extent is a sizeable part of the image."""
    kind = ("circle", "rectangle", "triangle", "polygon")[int(rng.integers(4))]
    r = rng.uniform(0.12, 0.3) * size
    cx, cy = rng.uniform(r * 0.5, size - r * 0.5, size=2)
    rot = rng.uniform(0, 2 * np.pi)
    if kind == "circle":
        return kind, (cx, cy, r)
    if kind == "rectangle":
        w, h = r * rng.uniform(0.6, 1.4, size=2)
        corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]])
        c, s = np.cos(rot), np.sin(rot)
        return kind, corners @ np.array([[c, s], [-s, c]]) + (cx, cy)
    if kind == "triangle":
        t = rot + np.array([0.0, 2.1, 4.2]) + rng.uniform(-0.4, 0.4, size=3)
        return kind, np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)
    pts = np.stack([cx, cy]) + rng.normal(0, r * 0.6, size=(int(rng.integers(5, 9)), 2))
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    if len(hull) < 3:  # degenerate draw: fall back to a regular pentagon
        hull = _regular_polygon(cx, cy, r, 5, rot)
    return kind, hull


def _draw_label_map(rng: np.random.Generator, size: int) -> np.ndarray:
    """Label map: 0 = background, 1..m = shapes drawn in order (later ones on top)."""
    labels = np.zeros((size, size), dtype=np.uint8)
    for label in range(1, int(rng.integers(3, 6)) + 1):
        kind, geom = _random_shape(rng, size)
        if kind == "circle":
            cx, cy, r = geom
            center = (int(round(cx * _SCALE)), int(round(cy * _SCALE)))
            cv2.circle(labels, center, int(round(r * _SCALE)), label, -1, cv2.LINE_8, _SHIFT)
        else:
            _fill(labels, np.asarray(geom), label)
    return labels


def label_boundaries(labels: np.ndarray) -> np.ndarray:
    """Exact edge map (uint8 0/255) of a label map: 1-pixel-thick region boundaries.

    A pixel is an edge if one of its 4-neighbours has a *smaller* label. Every pair of
    4-adjacent pixels with different labels therefore marks exactly one pixel, the one on
    the higher-label side (the shape drawn on top), so each edge is one pixel thick, lies
    inside the occluding object and is not biased towards any direction. The image
    border is not an edge.
    """
    lab = np.asarray(labels).astype(np.int32)
    edge = np.zeros(lab.shape, dtype=bool)
    edge[1:, :] |= lab[:-1, :] < lab[1:, :]
    edge[:-1, :] |= lab[1:, :] < lab[:-1, :]
    edge[:, 1:] |= lab[:, :-1] < lab[:, 1:]
    edge[:, :-1] |= lab[:, 1:] < lab[:, :-1]
    return edge.astype(np.uint8) * 255


def edge_label_map(i: int, seed: int, image_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free (label map uint8, grey level per label int32) behind :func:`edge_sample`."""
    rng = _rng(seed, i)
    labels = _draw_label_map(rng, image_size)
    levels = _spaced_levels(rng, int(labels.max()) + 1)
    return labels, levels


def edge_sample(i: int, seed: int, image_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 HxW, exact edge map uint8 HxW in {0, 255}) for sample i.

    3-5 filled shapes (circles, rotated rectangles, triangles, convex polygons) get grey
    levels at least 40 apart; a smooth linear gradient (<= +-10) and Gaussian noise
    (sigma 1-4) make the image less trivial without moving any boundary. The edge map is
    :func:`label_boundaries` of the noise-free label map, so it is exact rather than the
    output of another detector.
    """
    rng = _rng(seed, i)
    labels = _draw_label_map(rng, image_size)
    levels = _spaced_levels(rng, int(labels.max()) + 1)
    img = levels[labels].astype(np.float64)
    yy, xx = np.mgrid[0:image_size, 0:image_size] / max(image_size - 1, 1) - 0.5
    gx, gy = rng.uniform(-20, 20, size=2)
    img += gx * xx + gy * yy
    img += rng.normal(0.0, rng.uniform(1.0, 4.0), size=img.shape)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return image, label_boundaries(labels)


def edge_samples(n: int, seed: int, image_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Stacked :func:`edge_sample` for i in 0..n-1: (images (n,H,W), edges (n,H,W))."""
    pairs = [edge_sample(i, seed, image_size) for i in range(n)]
    shape = (0, image_size, image_size)
    if not pairs:
        return np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


# --------------------------------------------------------------------------------------
# 2. Coefficient optimizer: star-shaped blobs with a known minimal coefficient count
# --------------------------------------------------------------------------------------


def _star_harmonics(
    rng: np.random.Generator, max_harmonics: int = 12
) -> tuple[np.ndarray, np.ndarray]:
    """Random radial harmonics (amplitudes a_k, phases phi_k) for k = 1..K, K in 1..max.

    Each a_k ~ U(0.02, 0.12), rescaled so that sum(a_k) <= 0.6: r(theta) stays positive
    (the blob is star shaped, hence one clean external contour), and complexity, hence
    the coefficient count, grows with K (corr(K, target) ~ 0.98 at 64x64, rmse 0.01).
    """
    k = int(rng.integers(1, max_harmonics + 1))
    amps = rng.uniform(0.02, 0.12, size=k)
    if amps.sum() > 0.6:
        amps *= 0.6 / amps.sum()
    return amps, rng.uniform(0, 2 * np.pi, size=k)


def star_contour(
    amps: np.ndarray,
    phases: np.ndarray,
    r0: float = 1.0,
    center: tuple[float, float] = (0.0, 0.0),
    n: int = 1024,
) -> np.ndarray:
    """(n, 2) points of r(theta) = r0 * (1 + sum_k a_k cos(k*theta + phi_k)), CCW in (x, y)."""
    theta = np.arange(n) * (2 * np.pi / n)
    k = np.arange(1, len(amps) + 1)[:, None]
    a, phi = np.asarray(amps, dtype=np.float64), np.asarray(phases, dtype=np.float64)
    r = r0 * (1.0 + np.sum(a[:, None] * np.cos(k * theta + phi[:, None]), axis=0))
    return np.stack([center[0] + r * np.cos(theta), center[1] + r * np.sin(theta)], axis=1)


def coefficient_sample(
    i: int, seed: int, image_size: int = 64, target_rmse: float = 0.01, max_harmonics: int = 12
) -> tuple[np.ndarray, np.ndarray, int]:
    """(image uint8, feature_vector float32 (5,), minimal coefficient count) for sample i.

    The image is one filled star-shaped blob (1-12 radial harmonics) on a background,
    with low-amplitude stripe texture and Gaussian noise whose total swing stays well
    below half the blob/background contrast, so Otsu recovers the exact drawn shape.
    The target is the true ``min_coefficients(main_contour(img), target_rmse)``.
    """
    rng = _rng(seed, i)
    amps, phases = _star_harmonics(rng, max_harmonics)
    half = image_size / 2
    r0 = rng.uniform(0.45, 0.6) * (half - 2)
    center = tuple(half + rng.uniform(-1, 1, size=2) * (half - 2 - r0 * (1 + amps.sum())))
    mask = np.zeros((image_size, image_size), dtype=np.uint8)
    _fill(mask, star_contour(amps, phases, r0, center, n=512), 1)

    bg = rng.uniform(10, 90)
    fg = min(bg + rng.uniform(100, 160), 245)
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float64)
    angle, period = rng.uniform(0, np.pi), rng.uniform(8, 20)
    stripes = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
    img = np.where(mask > 0, fg, bg) + rng.uniform(0, 5) * stripes
    img += rng.normal(0, rng.uniform(0, 3), size=img.shape)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    target = min_coefficients(main_contour(image), target_rmse)
    return image, feature_vector(image), target


def coefficient_samples(
    n: int, seed: int, image_size: int = 64, target_rmse: float = 0.01, max_harmonics: int = 12
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stacked :func:`coefficient_sample`: (images (n,H,W), features (n,5), targets (n,))."""
    rows = [coefficient_sample(i, seed, image_size, target_rmse, max_harmonics) for i in range(n)]
    images = np.zeros((n, image_size, image_size), np.uint8)
    feats = np.zeros((n, 5), np.float32)
    for j, (img, f, _) in enumerate(rows):
        images[j], feats[j] = img, f
    return images, feats, np.array([r[2] for r in rows], dtype=np.int64)


# --------------------------------------------------------------------------------------
# 3. Anomaly detection: normal vs tampered coefficient vectors
# --------------------------------------------------------------------------------------
# Tamperings act on a *harmonic list*: complex coefficients in order +1, -1, +2, -2, ...
# (``fourier.harmonics``), the list the system transmits. Index 0, c(+1), is the
# normalisation reference of the vector, so amplitude/phase tampering never picks it
# (scaling or rotating the reference is indistinguishable from a different normal shape).

_ANOMALY_POINTS = 256  # contour samples, uniform in theta
_SIGNIFICANT = 1e-3  # relative to |c(+1)|: smaller coefficients are treated as padding


def _significant(h: np.ndarray) -> np.ndarray:
    """Indices (>= 1) of non-negligible harmonics; falls back to the largest one."""
    if len(h) < 2:
        raise ValueError("a harmonic list needs at least 2 coefficients to be tampered")
    amp = np.abs(h)
    ref = amp[0] if amp[0] > 0 else max(float(amp.max()), 1e-300)
    idx = np.nonzero(amp[1:] >= _SIGNIFICANT * ref)[0] + 1
    return idx if len(idx) else np.array([int(np.argmax(amp[1:])) + 1])


def tamper_amplitude(coeffs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Guide type 1: one coefficient's amplitude times U(0.5, 0.8) or U(1.25, 2.0).

    Factors near 1 are excluded so the tampering is a real change, and the coefficient is
    chosen among non-negligible ones (scaling ~0 changes nothing).
    """
    h = np.array(coeffs, dtype=np.complex128)
    idx = int(rng.choice(_significant(h)))
    factor = rng.uniform(0.5, 0.8) if rng.random() < 0.5 else rng.uniform(1.25, 2.0)
    h[idx] *= factor
    return h


def tamper_phase(coeffs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Guide type 2: one coefficient's phase + U(-pi, pi) with |shift| >= pi/4."""
    h = np.array(coeffs, dtype=np.complex128)
    idx = int(rng.choice(_significant(h)))
    shift = rng.uniform(np.pi / 4, np.pi) * rng.choice([-1.0, 1.0])
    h[idx] *= np.exp(1j * shift)
    return h


def tamper_frequency_gap(coeffs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Guide type 3: delete the middle coefficient, shift the rest down, zero pad the end.

    "The list" is the transmitted part: up to the last non-negligible coefficient
    (trailing ~0 entries are padding), so the deleted and shifted entries matter. ``rng``
    is unused (the tampering is deterministic) but kept for a uniform signature.
    """
    del rng
    h = np.array(coeffs, dtype=np.complex128)
    length = int(_significant(h).max()) + 1
    mid = length // 2
    h[mid : len(h) - 1] = h[mid + 1 :].copy()
    h[-1] = 0.0
    return h


def tamper_distribution(coeffs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Guide type 4: every amplitude except the reference replaced by U(0, 1) * |c(+1)|.

    The reference recipe's uniform(0, 100) is on an absolute scale; on the normalised scale of the
    vector that becomes U(0, 1) relative to |c(+1)|. Phases are kept where meaningful
    and drawn uniformly for numerically-zero coefficients.
    """
    h = np.array(coeffs, dtype=np.complex128)
    ref = abs(h[0])
    amp = np.abs(h[1:])
    meaningful = amp >= _SIGNIFICANT * ref
    phase = np.where(meaningful, np.angle(h[1:]), rng.uniform(-np.pi, np.pi, size=len(amp)))
    h[1:] = rng.uniform(0.0, 1.0, size=len(amp)) * ref * np.exp(1j * phase)
    return h


TAMPERINGS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "amplitude_tamper": tamper_amplitude,
    "phase_tamper": tamper_phase,
    "frequency_gap": tamper_frequency_gap,
    "distribution_violation": tamper_distribution,
}


def _anomaly_row(i: int, seed: int, num_coefficients: int) -> tuple[np.ndarray, str]:
    """One (vector, kind) pair: a random star's harmonics, tampered with probability 1/2."""
    rng = _rng(seed, i)
    amps, phases = _star_harmonics(rng)
    rot = rng.uniform(0, 2 * np.pi)
    pts = star_contour(amps, phases, rng.uniform(10, 200), (0.0, 0.0), n=_ANOMALY_POINTS)
    pts = pts @ np.array([[np.cos(rot), np.sin(rot)], [-np.sin(rot), np.cos(rot)]])
    h = harmonics(fourier_coefficients(pts), num_coefficients)
    kind = "normal"
    if rng.random() < 0.5:
        names = tuple(TAMPERINGS)
        kind = names[int(rng.integers(len(names)))]
        h = TAMPERINGS[kind](h, rng)
    return harmonics_to_vector(h), kind


def anomaly_samples(
    n: int, seed: int, num_coefficients: int = 32
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(X float32 (n, 2*num_coefficients), y int64 (n,), kinds) for the anomaly detector.

    Normal rows are :func:`~raytrain.data.fourier.coefficient_vector` s of random
    star-shaped contours (1-12 radial harmonics, random size and rotation) sampled
    directly from r(theta) at 256 angles uniform in theta (no image, no arc-length
    resampling). That gives normal coefficient sets a checkable structure, which is what
    makes tampering detectable at all: a radial harmonic a_k*cos(k*theta + phi_k) only
    produces the pair c(1+k), c(1-k) with equal amplitudes and phases (relative to
    c(+1)) summing to 0, and nothing beyond |f - 1| > 12. Tampering a single coefficient
    breaks a pair, except for c(+2) whose partner is the (dropped) DC term, so a
    fraction of amplitude/phase tamperings (about 1/(2K-1) for K harmonics) is
    undetectable by construction.

    Each row is independently tampered with probability 1/2, with one of the four
    :data:`TAMPERINGS` chosen uniformly, applied to the complex harmonics before the
    vector is built. y is 0 for "normal", 1 for tampered; kinds names the tampering.
    """
    if num_coefficients < 2:
        raise ValueError("num_coefficients must be >= 2")
    x = np.zeros((n, 2 * num_coefficients), dtype=np.float32)
    kinds: list[str] = []
    for i in range(n):
        x[i], kind = _anomaly_row(i, seed, num_coefficients)
        kinds.append(kind)
    y = np.array([k != "normal" for k in kinds], dtype=np.int64)
    return x, y, kinds


# --------------------------------------------------------------------------------------
# 4. Classification: labelled shape images
# --------------------------------------------------------------------------------------

CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring", "star")


def _class_mask(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Anti-aliased uint8 mask (0..255) of one shape with random pose and size."""
    mask = np.zeros((size, size), dtype=np.uint8)
    r = rng.uniform(0.25, 0.42) * size
    cx, cy = rng.uniform(r + 1, size - r - 1, size=2)
    rot = rng.uniform(0, 2 * np.pi)
    if name in ("circle", "ring"):
        center = (int(round(cx * _SCALE)), int(round(cy * _SCALE)))
        cv2.circle(mask, center, int(round(r * _SCALE)), 255, -1, cv2.LINE_AA, _SHIFT)
        if name == "ring":
            inner = int(round(r * rng.uniform(0.45, 0.65) * _SCALE))
            cv2.circle(mask, center, inner, 0, -1, cv2.LINE_AA, _SHIFT)
    elif name == "square":
        _fill(mask, _regular_polygon(cx, cy, r, 4, rot), 255, aa=True)
    elif name == "triangle":
        _fill(mask, _regular_polygon(cx, cy, r, 3, rot), 255, aa=True)
    elif name == "cross":
        w = r * rng.uniform(0.25, 0.4)
        c, s = np.cos(rot), np.sin(rot)
        for arm in (
            np.array([[-r, -w], [r, -w], [r, w], [-r, w]]),
            np.array([[-w, -r], [w, -r], [w, r], [-w, r]]),
        ):
            _fill(mask, arm @ np.array([[c, s], [-s, c]]) + (cx, cy), 255, aa=True)
    elif name == "star":
        outer = _regular_polygon(cx, cy, r, 5, rot)
        inner = _regular_polygon(cx, cy, r * rng.uniform(0.38, 0.5), 5, rot + np.pi / 5)
        _fill(mask, np.stack([outer, inner], axis=1).reshape(-1, 2), 255, aa=True)
    else:
        raise ValueError(f"unknown class {name!r}")
    return mask


def classification_sample(
    i: int, seed: int, image_size: int = 32, num_classes: int = 4
) -> tuple[np.ndarray, int]:
    """(image uint8 HxW, label) with label = i % num_classes (exactly balanced classes).

    Class names are ``CLASS_NAMES[:num_classes]``. Position, size, rotation, polarity,
    grey levels (contrast >= 60) and noise (sigma 0-8) are random, so only the shape
    identifies the class.
    """
    if not 1 <= num_classes <= len(CLASS_NAMES):
        raise ValueError(f"num_classes must be in 1..{len(CLASS_NAMES)}")
    label = int(i) % num_classes
    rng = _rng(seed, i)
    alpha = _class_mask(CLASS_NAMES[label], image_size, rng).astype(np.float64) / 255.0
    bg = rng.uniform(0, 255 - 60)
    fg = rng.uniform(bg + 60, 255)
    if rng.random() < 0.5:
        bg, fg = fg, bg
    img = bg + (fg - bg) * alpha + rng.normal(0, rng.uniform(0, 8), size=alpha.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), label


def classification_samples(
    n: int, seed: int, image_size: int = 32, num_classes: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Stacked :func:`classification_sample`: (images (n,H,W) uint8, labels (n,) int64)."""
    images = np.zeros((n, image_size, image_size), np.uint8)
    labels = np.zeros(n, np.int64)
    for i in range(n):
        images[i], labels[i] = classification_sample(i, seed, image_size, num_classes)
    return images, labels
