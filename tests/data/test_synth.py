"""Tests for the synthetic datasets, Fourier descriptors and image features."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from raytrain.data import features, fourier, synth

SEED_FEATURE_KEYS = {
    "edge_density",
    "frequency_content",
    "texture_complexity",
    "contrast",
    "entropy",
}


def _circle_points(n: int = 400, r: float = 10.0, clockwise: bool = False) -> np.ndarray:
    t = np.arange(n) * 2 * np.pi / n
    pts = np.stack([3.0 + r * np.cos(t), -2.0 + r * np.sin(t)], axis=1)
    return pts[::-1].copy() if clockwise else pts


def _star_points(num_harmonics: int, amp: float = 0.05) -> np.ndarray:
    amps = np.full(num_harmonics, amp)
    phases = np.linspace(0.3, 2.0, num_harmonics)
    return synth.star_contour(amps, phases, r0=20.0, center=(32.0, 32.0), n=1024)


# ------------------------------------------------------------------------------ fourier


def test_frequency_order_is_zero_plus_minus() -> None:
    order = fourier.frequency_order(8)
    signed = np.where(order <= 4, order, order - 8)
    assert signed.tolist() == [0, 1, -1, 2, -2, 3, -3, 4]
    assert fourier.harmonic_frequencies(5).tolist() == [1, -1, 2, -2, 3]


def test_resample_contour_is_equally_spaced() -> None:
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=float)
    pts = fourier.resample_contour(square, 40)
    steps = np.hypot(*np.diff(np.vstack([pts, pts[:1]]), axis=0).T)
    assert pts.shape == (40, 2)
    np.testing.assert_allclose(steps, 1.0, atol=1e-9)


def test_full_reconstruction_is_exact_and_error_decreases() -> None:
    star = _star_points(6, 0.08)
    pts = fourier.resample_contour(star, 128)
    coeffs = fourier.fourier_coefficients(pts)
    assert fourier.reconstruction_rmse(pts, fourier.reconstruct(coeffs, 128, 128)) < 1e-12
    errors = [
        fourier.reconstruction_rmse(pts, fourier.reconstruct(coeffs, k, 128)) for k in range(1, 129)
    ]
    assert np.all(np.diff(errors) <= 1e-12)
    assert errors[0] > 0.1  # the centroid alone is far from the contour
    # the Parseval shortcut agrees with explicit reconstructions
    np.testing.assert_allclose(fourier.rmse_curve(star, 128)[1:], errors, atol=1e-12)


def test_reconstruction_rmse_is_scale_free() -> None:
    pts = _star_points(3, 0.1)
    recon = fourier.reconstruct(fourier.fourier_coefficients(pts), 5, len(pts))
    small = fourier.reconstruction_rmse(pts, recon)
    assert small > 0
    assert fourier.reconstruction_rmse(pts * 7, recon * 7) == pytest.approx(small)


@pytest.mark.parametrize("clockwise", [False, True])
def test_min_coefficients_circle_is_small(clockwise: bool) -> None:
    assert fourier.min_coefficients(_circle_points(clockwise=clockwise), 1e-3) <= 3


def test_min_coefficients_circle_from_image() -> None:
    img = np.zeros((64, 64), np.uint8)
    cv2.circle(img, (30, 33), 20, 200, -1)
    pts = fourier.main_contour(img)
    assert fourier.min_coefficients(pts, 0.01) <= 3


def test_min_coefficients_grows_with_complexity() -> None:
    star = fourier.min_coefficients(_star_points(10), 0.005)
    assert star >= 15  # needs frequencies up to 1 +- 10
    assert star > fourier.min_coefficients(_star_points(2), 0.005)


def test_main_contour_orientation_polarity_and_errors() -> None:
    img = np.full((48, 48), 30, np.uint8)
    cv2.rectangle(img, (10, 12), (30, 40), 220, -1)
    cv2.circle(img, (40, 5), 2, 220, -1)  # smaller blob must be ignored
    pts = fourier.main_contour(img)
    assert pts.shape[1] == 2
    assert pts[:, 0].min() == 10 and pts[:, 0].max() == 30
    coeffs = fourier.fourier_coefficients(fourier.resample_contour(pts, 64))
    assert abs(coeffs[1]) > abs(coeffs[-1])  # +1 harmonic dominates
    inverted = fourier.main_contour(255 - img)  # dark object on light background
    assert inverted[:, 1].min() == 12 and inverted[:, 1].max() == 40
    with pytest.raises(ValueError):
        fourier.main_contour(np.full((16, 16), 9, np.uint8))


def test_coefficient_vector_layout_and_invariance() -> None:
    pts = fourier.resample_contour(_star_points(4, 0.1), 256)
    vec = fourier.coefficient_vector(fourier.fourier_coefficients(pts), 16)
    assert vec.shape == (32,) and vec.dtype == np.float32
    assert vec[0] == pytest.approx(1.0) and vec[16] == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.abs(vec[16:]) <= np.pi + 1e-6)
    rot = np.array([[np.cos(0.7), np.sin(0.7)], [-np.sin(0.7), np.cos(0.7)]])
    moved = 3.5 * pts @ rot + np.array([5.0, -9.0])
    vec2 = fourier.coefficient_vector(fourier.fourier_coefficients(moved), 16)
    np.testing.assert_allclose(vec, vec2, atol=1e-5)


# ------------------------------------------------------------------------------ features


def test_feature_keys_and_vector() -> None:
    img, _ = synth.edge_sample(0, 0)
    feats = features.extract_image_features(img)
    assert set(feats) == SEED_FEATURE_KEYS
    assert features.FEATURE_NAMES == (
        "edge_density",
        "frequency_content",
        "texture_complexity",
        "contrast",
        "entropy",
    )
    vec = features.feature_vector(img)
    assert vec.shape == (5,) and vec.dtype == np.float32
    assert vec[0] == pytest.approx(feats["edge_density"])
    assert vec[3] == pytest.approx(feats["contrast"] / 255)
    assert np.all((vec >= 0) & (vec <= 2))
    flat = features.extract_image_features(np.full((32, 32), 100, np.uint8))
    assert flat["edge_density"] == 0 and flat["contrast"] == 0
    assert flat["entropy"] == pytest.approx(0.0, abs=1e-6)


def test_ground_truth_edges() -> None:
    img, _ = synth.edge_sample(1, 0)
    gt = features.generate_ground_truth_edges(img)
    assert gt.shape == img.shape and gt.dtype == np.uint8
    assert gt.max() > 0
    flat = features.generate_ground_truth_edges(np.full((20, 20), 50, np.uint8))
    assert flat.shape == (20, 20) and not flat.any()


# ------------------------------------------------------------------------------ edges


def test_edge_samples_deterministic_and_prefix_stable() -> None:
    a_img, a_edge = synth.edge_samples(6, seed=3)
    b_img, b_edge = synth.edge_samples(10, seed=3)
    assert a_img.tobytes() == b_img[:6].tobytes() and a_edge.tobytes() == b_edge[:6].tobytes()
    c_img, _ = synth.edge_samples(6, seed=4)
    assert a_img.tobytes() != c_img.tobytes()


def _brute_force_boundaries(labels: np.ndarray) -> np.ndarray:
    h, w = labels.shape
    out = np.zeros((h, w), np.uint8)
    for y in range(h):
        for x in range(w):
            for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w and labels[yy, xx] < labels[y, x]:
                    out[y, x] = 255
    return out


def test_edge_map_is_exact_label_boundary() -> None:
    densities = []
    for i in range(40):
        img, edges = synth.edge_sample(i, seed=0, image_size=48)
        labels, levels = synth.edge_label_map(i, seed=0, image_size=48)
        assert img.shape == edges.shape == (48, 48) and img.dtype == edges.dtype == np.uint8
        assert set(np.unique(edges)) <= {0, 255}
        if i < 3:
            np.testing.assert_array_equal(edges, _brute_force_boundaries(labels))
        # every 4-adjacent label change marks exactly one of its two pixels
        for a, b, ea, eb in (
            (labels[:, :-1], labels[:, 1:], edges[:, :-1], edges[:, 1:]),
            (labels[:-1], labels[1:], edges[:-1], edges[1:]),
        ):
            change = a != b
            assert np.all((ea > 0) | (eb > 0) | ~change)
        # edges lie where the image changes by a lot, far more than inside regions
        pairs = np.abs(np.diff(levels[labels].astype(int), axis=1))
        assert pairs[pairs > 0].min() >= 40
        densities.append(np.mean(edges > 0))
    assert min(densities) > 0
    assert 0.03 <= float(np.median(densities)) <= 0.15


def test_label_boundaries_simple_square() -> None:
    labels = np.zeros((6, 6), np.uint8)
    labels[1:4, 1:4] = 1
    edges = synth.label_boundaries(labels) > 0
    expected = np.zeros((6, 6), bool)
    expected[1:4, 1:4] = True
    expected[2, 2] = False
    np.testing.assert_array_equal(edges, expected)


# ------------------------------------------------------------------------------ coefficients


def test_coefficient_samples_targets_vary_and_correlate() -> None:
    images, feats, targets = synth.coefficient_samples(150, seed=0)
    assert images.shape == (150, 64, 64) and feats.shape == (150, 5)
    assert feats.dtype == np.float32 and targets.dtype == np.int64
    assert targets.min() >= 1 and targets.max() - targets.min() >= 15
    assert len(np.unique(targets)) >= 10
    corr = [abs(np.corrcoef(feats[:, j], targets)[0, 1]) for j in range(5)]
    assert max(corr) > 0.3
    # the target really is the contour's minimal coefficient count
    img, feat, target = synth.coefficient_sample(7, seed=0)
    assert target == fourier.min_coefficients(fourier.main_contour(img), 0.01)
    np.testing.assert_array_equal(feat, features.feature_vector(img))
    again = synth.coefficient_sample(7, seed=0)
    assert again[0].tobytes() == img.tobytes() and again[2] == target
    assert synth.coefficient_sample(7, seed=1)[0].tobytes() != img.tobytes()


# ------------------------------------------------------------------------------ anomalies


def _normal_harmonics(num: int = 32) -> np.ndarray:
    pts = _star_points(5, 0.06)
    return fourier.harmonics(fourier.fourier_coefficients(pts), num)


@pytest.mark.parametrize("name", sorted(synth.TAMPERINGS))
def test_each_tampering_changes_vector(name: str) -> None:
    h = _normal_harmonics()
    base = fourier.harmonics_to_vector(h)
    for s in range(20):
        tampered = synth.TAMPERINGS[name](h, np.random.default_rng(s))
        assert tampered.shape == h.shape
        vec = fourier.harmonics_to_vector(tampered)
        assert vec.shape == base.shape
        assert np.abs(vec - base).max() > 1e-3
    np.testing.assert_array_equal(fourier.harmonics_to_vector(h), base)  # input untouched


def test_tampering_specifics() -> None:
    h = _normal_harmonics()
    rng = np.random.default_rng(0)
    for _ in range(50):
        ratio = np.abs(synth.tamper_amplitude(h, rng)) / np.maximum(np.abs(h), 1e-300)
        changed = ratio[np.abs(ratio - 1) > 1e-9]
        assert len(changed) == 1 and (0.5 <= changed[0] <= 0.8 or 1.25 <= changed[0] <= 2.0)
        t = synth.tamper_phase(h, rng)
        np.testing.assert_allclose(np.abs(t), np.abs(h))
        shift = np.abs(np.angle(t * np.conj(h)))
        assert np.sum(shift > 1e-9) == 1 and shift.max() >= np.pi / 4 - 1e-9
    gap = synth.tamper_frequency_gap(h, rng)
    assert len(gap) == len(h) and gap[-1] == 0
    dist = synth.tamper_distribution(h, rng)
    assert dist[0] == h[0] and np.all(np.abs(dist[1:]) <= abs(h[0]))


def test_anomaly_samples() -> None:
    x, y, kinds = synth.anomaly_samples(400, seed=0, num_coefficients=16)
    assert x.shape == (400, 32) and x.dtype == np.float32 and y.dtype == np.int64
    assert set(kinds) == {"normal", *synth.TAMPERINGS}
    assert np.array_equal(y, np.array([k != "normal" for k in kinds], dtype=np.int64))
    assert 0.4 <= y.mean() <= 0.6
    assert np.all(np.isfinite(x))
    x2, y2, _ = synth.anomaly_samples(200, seed=0, num_coefficients=16)
    assert x2.tobytes() == x[:200].tobytes() and np.array_equal(y2, y[:200])
    assert synth.anomaly_samples(50, seed=1, num_coefficients=16)[0].tobytes() != x[:50].tobytes()
    # normal vectors keep the radial-harmonic pairing |c(1+k)| == |c(1-k)| (k >= 2)
    normal = x[y == 0, :16]
    plus = normal[:, 2:16:2][:, 1:]  # +3, +4, ... -> k = 2, 3, ...
    minus = normal[:, 1:16:2][:, : plus.shape[1]]  # -1, -2, ...
    np.testing.assert_allclose(plus, minus, atol=1e-5)


# ------------------------------------------------------------------------------ classification


def test_classification_samples() -> None:
    images, labels = synth.classification_samples(60, seed=0, num_classes=6)
    assert images.shape == (60, 32, 32) and images.dtype == np.uint8
    assert labels.tolist() == [i % 6 for i in range(60)]
    assert len(synth.CLASS_NAMES) >= 6
    # per-class shapes differ: binarised masks of different classes are not identical
    masks = [cv2.threshold(im, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1] for im in images[:6]]
    assert len({m.tobytes() for m in masks}) == 6
    img, label = synth.classification_sample(5, seed=0, num_classes=4)
    assert label == 1
    assert img.tobytes() == synth.classification_sample(5, 0, num_classes=4)[0].tobytes()
    assert img.tobytes() != synth.classification_sample(5, 1, num_classes=4)[0].tobytes()
    with pytest.raises(ValueError):
        synth.classification_sample(0, 0, num_classes=len(synth.CLASS_NAMES) + 1)
