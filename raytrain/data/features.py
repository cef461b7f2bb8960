"""Hand-crafted image features and ensemble ground-truth edges.

The coefficient optimizer predicts a coefficient count from five global image features;
this module computes them exactly as the reference recipe does (with ``np.fft`` instead of
``scipy.fftpack`` so scipy is not a runtime dependency) and provides a scaled vector for
the MLP.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "FEATURE_NAMES",
    "extract_image_features",
    "feature_vector",
    "generate_ground_truth_edges",
]

FEATURE_NAMES: tuple[str, ...] = (
    "edge_density",
    "frequency_content",
    "texture_complexity",
    "contrast",
    "entropy",
)


def _as_gray_u8(img: np.ndarray) -> np.ndarray:
    """Validate a 2-D image and coerce it to uint8, as ``cv2.imread(GRAYSCALE)`` would give."""
    arr = np.asarray(img)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return arr


def extract_image_features(img: np.ndarray) -> dict[str, float]:
    """The five hand-crafted features of a grayscale uint8 image (keys = :data:`FEATURE_NAMES`).

    * edge_density: fraction of Canny(50, 150) edge pixels.
    * frequency_content: mean magnitude of the 2-D FFT (fftshift does not change a mean,
      so it is skipped).
    * texture_complexity: variance of the Laplacian.
    * contrast: standard deviation of the intensities.
    * entropy: Shannon entropy (bits) of the 256-bin histogram.
    """
    gray = _as_gray_u8(img)
    edges = cv2.Canny(gray, 50, 150)
    magnitude = np.abs(np.fft.fft2(gray.astype(np.float64)))
    laplacian = cv2.Laplacian(gray, cv2.CV_64F)
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    hist /= hist.sum()
    return {
        "edge_density": float(np.count_nonzero(edges) / edges.size),
        "frequency_content": float(magnitude.mean()),
        "texture_complexity": float(laplacian.var()),
        "contrast": float(gray.std()),
        "entropy": float(-np.sum(hist * np.log2(hist + 1e-10))),
    }


def feature_vector(img: np.ndarray) -> np.ndarray:
    """Features scaled to comparable O(1) magnitudes, float32 (5,), order :data:`FEATURE_NAMES`.

    Raw values span wildly different ranges (edge density ~0.05, FFT magnitude ~1e2-1e3,
    Laplacian variance ~1e2-1e5), which makes an MLP's first layer dominated by the large
    ones. Scaling:

    * edge_density: as is (already a fraction in [0, 1]);
    * frequency_content: ``log1p(x) / 10`` (heavy tailed, grows with brightness and size);
    * texture_complexity: ``log1p(x) / 10`` (heavy tailed, spans orders of magnitude);
    * contrast: ``x / 255`` (std of uint8 is at most 127.5, so in [0, 0.5]);
    * entropy: ``x / 8`` (at most 8 bits for 256 bins, so in [0, 1]).
    """
    f = extract_image_features(img)
    return np.array(
        [
            f["edge_density"],
            np.log1p(f["frequency_content"]) / 10.0,
            np.log1p(f["texture_complexity"]) / 10.0,
            f["contrast"] / 255.0,
            f["entropy"] / 8.0,
        ],
        dtype=np.float32,
    )


def generate_ground_truth_edges(img: np.ndarray) -> np.ndarray:
    """Ensemble edge map: 0.7*Canny + 0.3*Sobel, then a 3x3 close.

    Used to label real images that have no exact ground truth. The Sobel magnitude is
    normalised by its maximum; a flat image (max == 0) yields an all-zero Sobel term
    instead of a division by zero.
    """
    gray = _as_gray_u8(img)
    canny = cv2.Canny(gray, 50, 150)
    sobelx = cv2.Sobel(gray, cv2.CV_64F, 1, 0, ksize=3)
    sobely = cv2.Sobel(gray, cv2.CV_64F, 0, 1, ksize=3)
    sobel = np.sqrt(sobelx**2 + sobely**2)
    peak = sobel.max()
    sobel_u8 = (sobel / peak * 255).astype(np.uint8) if peak > 0 else np.zeros_like(gray)
    edges = cv2.addWeighted(canny, 0.7, sobel_u8, 0.3, 0)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    return cv2.morphologyEx(edges, cv2.MORPH_CLOSE, kernel)
