"""Small file-level helpers the data modules share: where prepared data is cached, PNG bytes."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np


def default_data_root() -> Path:
    """Where built-in sample data and prepared copies of raw folders are cached."""
    return Path(os.environ.get("RAYTRAIN_DATA_DIR", Path.home() / ".cache/raytrain/datasets"))


def png(img: np.ndarray) -> bytes:
    """`img` encoded as PNG (lossless, so edge maps keep their exact values)."""
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()
