"""Fourier descriptors of closed contours.

The Fourier-based image encryption system encodes an image's main contour by the
Fourier coefficients of the complex signal ``z = x + i*y`` sampled along the contour.
The two learned helpers need:

* the *coefficient optimizer*: how many coefficients are needed to reconstruct a contour
  to a target error (:func:`min_coefficients`), and
* the *anomaly detector*: a fixed-length, scale/rotation normalised vector describing a
  coefficient set (:func:`coefficient_vector`).

Conventions used throughout:

* ``coeffs`` is always the full spectrum in ``np.fft`` order, normalised by the number of
  points (``np.fft.fft(z) / N``), so ``coeffs[0]`` is the centroid and ``|coeffs[1]|`` is the
  radius of the best fitting circle, independent of N.
* Coefficients are *kept* in order of increasing |frequency|, positive before negative:
  ``0, +1, -1, +2, -2, ...`` (:func:`frequency_order`). Because the inverse DFT basis is
  orthonormal (Parseval), dropping a coefficient adds exactly ``|c|**2`` to the mean squared
  error, so the reconstruction error is monotone non-increasing in the number kept.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "main_contour",
    "resample_contour",
    "fourier_coefficients",
    "frequency_order",
    "reconstruct",
    "reconstruction_rmse",
    "rmse_curve",
    "min_coefficients",
    "harmonic_frequencies",
    "harmonics",
    "harmonics_to_vector",
    "coefficient_vector",
]

# Amplitudes (relative to |c(+1)|) below this are numerically zero; their phase is noise.
_PHASE_EPS = 1e-9


def _signed_area(points: np.ndarray) -> float:
    """Shoelace area; positive when the contour turns counter-clockwise in (x, y)."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def main_contour(image: np.ndarray) -> np.ndarray:
    """Return the largest external contour of a grayscale image as an (N, 2) float array.

    The image is binarised with Otsu's threshold. Otsu does not know which side is the
    object, so if more than half of the border pixels are foreground the mask is inverted:
    objects are assumed not to fill the frame. The contour is oriented to have positive
    signed area in (x, y) so that the ``+1`` harmonic dominates its spectrum; this makes
    :func:`coefficient_vector`'s normalisation by ``c(+1)`` meaningful and the coefficient
    counts independent of OpenCV's traversal direction.

    Raises:
        ValueError: if the image is not 2-D or contains no foreground contour.
    """
    img = np.asarray(image)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {img.shape}")
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    _, mask = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    border = np.concatenate([mask[0], mask[-1], mask[1:-1, 0], mask[1:-1, -1]])
    if np.count_nonzero(border) * 2 > border.size:
        mask = cv2.bitwise_not(mask)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        raise ValueError("no contour found in image")
    largest = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    points = largest.reshape(-1, 2).astype(np.float64)
    if _signed_area(points) < 0:
        points = points[::-1].copy()
    return points


def resample_contour(points: np.ndarray, n: int) -> np.ndarray:
    """Resample a closed contour to ``n`` points equally spaced by arc length.

    Pixel contours have uneven spacing (diagonal steps are longer); uniform arc-length
    sampling makes the DFT a proper Fourier series of the curve and makes coefficient
    counts comparable between contours with different point counts.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if n < 1:
        raise ValueError("n must be >= 1")
    if len(pts) == 0:
        raise ValueError("empty contour")
    closed = np.vstack([pts, pts[:1]])
    seg = np.hypot(*np.diff(closed, axis=0).T)
    keep = np.concatenate([[True], seg > 0])  # drop repeated points: np.interp needs order
    closed, cum = closed[keep], np.concatenate([[0.0], np.cumsum(seg)])[keep]
    total = cum[-1]
    if total <= 0:
        return np.repeat(pts[:1], n, axis=0)
    s = np.arange(n) * (total / n)
    return np.stack([np.interp(s, cum, closed[:, 0]), np.interp(s, cum, closed[:, 1])], axis=1)


def fourier_coefficients(points: np.ndarray) -> np.ndarray:
    """Complex DFT of ``z = x + i*y`` normalised by N (so values don't scale with N)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return np.fft.fft(pts[:, 0] + 1j * pts[:, 1]) / len(pts)


def _signed_frequencies(n: int) -> np.ndarray:
    """Integer frequency of each np.fft bin; the Nyquist bin (even n) counts as positive."""
    j = np.arange(n)
    return np.where(j <= n // 2, j, j - n)


def frequency_order(n: int) -> np.ndarray:
    """Bin indices of an n-point spectrum in keep order ``0, +1, -1, +2, -2, ...``."""
    f = _signed_frequencies(n)
    rank = 2 * np.abs(f) - (f > 0)
    return np.argsort(rank, kind="stable")


def reconstruct(coeffs: np.ndarray, k: int, n: int) -> np.ndarray:
    """Reconstruct an (n, 2) contour from the ``k`` lowest-|frequency| coefficients.

    ``n`` may differ from ``len(coeffs)``: each kept coefficient is placed at its signed
    frequency in an n-point spectrum, i.e. the truncated Fourier series is evaluated at n
    equally spaced parameters.
    """
    c = np.asarray(coeffs, dtype=np.complex128)
    k = int(np.clip(k, 0, len(c)))
    kept = frequency_order(len(c))[:k]
    spectrum = np.zeros(n, dtype=np.complex128)
    np.add.at(spectrum, _signed_frequencies(len(c))[kept] % n, c[kept])
    z = np.fft.ifft(spectrum) * n
    return np.stack([z.real, z.imag], axis=1)


def _contour_scale(points: np.ndarray) -> float:
    """Largest bounding-box extent; used to make errors scale free."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    extent = float(np.max(pts.max(axis=0) - pts.min(axis=0))) if len(pts) else 0.0
    return max(extent, 1e-12)


def reconstruction_rmse(points: np.ndarray, recon: np.ndarray) -> float:
    """Point-to-point RMSE divided by the max bounding-box extent of ``points``.

    Dividing by the size makes a target like 0.01 mean "1% of the object size" for any
    image resolution. Both arrays must be in correspondence (same length and ordering).
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    r = np.asarray(recon, dtype=np.float64).reshape(-1, 2)
    if p.shape != r.shape:
        raise ValueError(f"shape mismatch: {p.shape} vs {r.shape}")
    err = np.sqrt(np.mean(np.sum((p - r) ** 2, axis=1)))
    return float(err / _contour_scale(p))


def rmse_curve(points: np.ndarray, n: int = 256) -> np.ndarray:
    """Relative reconstruction RMSE for every k in ``0..n`` (entry k keeps k coefficients).

    Uses Parseval on the n-point arc-length resampling: with the orthonormal DFT the
    mean squared error of keeping the first k coefficients (in :func:`frequency_order`)
    is the sum of ``|c|**2`` over the dropped ones. This equals
    ``reconstruction_rmse(p, reconstruct(c, k, n))`` for the resampled points ``p`` but
    costs O(n log n) for all k at once, and is monotone non-increasing by construction.
    """
    p = resample_contour(points, n)
    c = fourier_coefficients(p)
    power = np.abs(c[frequency_order(n)]) ** 2
    dropped = np.concatenate([np.cumsum(power[::-1])[::-1], [0.0]])  # dropped[k]
    return np.sqrt(np.maximum(dropped, 0.0)) / _contour_scale(p)


def min_coefficients(points: np.ndarray, target_rmse: float, n: int = 256) -> int:
    """Smallest k (>= 1) whose reconstruction reaches relative RMSE <= ``target_rmse``.

    The error is measured against the n-point arc-length resampling of ``points``
    (see :func:`rmse_curve`); k = n always reaches zero error, so the result is in 1..n.
    """
    curve = rmse_curve(points, n)
    ok = np.nonzero(curve[1:] <= target_rmse)[0]
    return int(ok[0] + 1) if len(ok) else n


def harmonic_frequencies(num: int) -> np.ndarray:
    """Signed frequencies ``+1, -1, +2, -2, ...`` of the first ``num`` non-DC harmonics."""
    m = np.arange(num) // 2 + 1
    return np.where(np.arange(num) % 2 == 0, m, -m)


def harmonics(coeffs: np.ndarray, num: int) -> np.ndarray:
    """The ``num`` lowest non-DC coefficients in order ``+1, -1, +2, -2, ...`` (complex).

    The DC term is the centroid (pure translation), so it carries no shape information.
    Frequencies beyond the spectrum's range are zero padded.
    """
    c = np.asarray(coeffs, dtype=np.complex128)
    n = len(c)
    freqs = harmonic_frequencies(num)
    out = np.zeros(num, dtype=np.complex128)
    valid = np.abs(freqs) <= (n - 1) // 2  # unambiguous bins only (skip Nyquist/aliases)
    out[valid] = c[freqs[valid] % n]
    return out


def harmonics_to_vector(h: np.ndarray) -> np.ndarray:
    """Normalised [amplitudes..., phases...] float32 vector of a harmonic list.

    * amplitude_j = |h_j| / |h_0| where h_0 = c(+1): invariant to the contour's scale;
      entry 0 is therefore always 1 (or all amplitudes are 0 for a degenerate contour).
    * phase_j = angle(h_j) - angle(h_0), wrapped to [-pi, pi]: invariant to rotating the
      contour (a rotation by a multiplies every coefficient by e^{ia}). It is not
      invariant to the contour's starting point. Phases of numerically-zero
      coefficients (e.g. zero padding) are set to 0 because they are meaningless.
    """
    h = np.asarray(h, dtype=np.complex128)
    ref = h[0] if len(h) else 0.0
    ref_amp = abs(ref)
    if ref_amp <= 0:
        return np.zeros(2 * len(h), dtype=np.float32)
    amp = np.abs(h) / ref_amp
    phase = np.angle(h * np.conj(ref))  # angle difference, already wrapped to [-pi, pi]
    phase = np.where(amp < _PHASE_EPS, 0.0, phase)
    return np.concatenate([amp, phase]).astype(np.float32)


def coefficient_vector(coeffs: np.ndarray, num: int) -> np.ndarray:
    """Fixed-length float32 descriptor (2*num,) of a coefficient set.

    Takes the ``num`` lowest non-DC frequencies in the order ``+1, -1, +2, -2, ...``
    (:func:`harmonics`) and returns ``[amplitudes..., phases...]`` with amplitudes divided
    by ``|c(+1)|`` and phases relative to ``angle(c(+1))`` wrapped to [-pi, pi]
    (:func:`harmonics_to_vector`). This is the anomaly detector's input.
    """
    return harmonics_to_vector(harmonics(coeffs, num))
