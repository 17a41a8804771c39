"""Minimal PNG writer (8-bit RGB) with zlib, so previews need no imaging library."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from worldsim.utils.io import atomic_open


def encode_png(image_HW3: np.ndarray, level: int = 6) -> bytes:
    """A uint8 RGB image as PNG file bytes."""
    image = np.ascontiguousarray(image_HW3)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"a PNG needs uint8 (H, W, 3), got {image.dtype} {image.shape}")
    h, w, _ = image.shape
    rows = np.concatenate([np.zeros((h, 1), np.uint8), image.reshape(h, w * 3)], axis=1)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n"
    data += _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), level))
    return data + _chunk(b"IEND", b"")


def write_png(path: str | os.PathLike[str], image_HW3: np.ndarray) -> Path:
    """Write a uint8 RGB image; the file appears atomically."""
    data = encode_png(image_HW3)
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)
