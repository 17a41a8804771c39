"""Image resizing shared by the data sources."""

from __future__ import annotations

import numpy as np


def cover_and_crop(
    image_HWC: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, float, int, int]:
    """Scale to cover ``height x width``, centre-crop; returns the image, scale and offsets."""
    from PIL import Image

    h0, w0 = image_HWC.shape[:2]
    scale = max(height / h0, width / w0)
    new_w, new_h = max(width, round(w0 * scale)), max(height, round(h0 * scale))
    resized = np.asarray(Image.fromarray(image_HWC).resize((new_w, new_h), Image.BILINEAR))
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return resized[top : top + height, left : left + width], scale, left, top
