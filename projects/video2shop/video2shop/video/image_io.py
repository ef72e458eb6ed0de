"""Image reading and writing through Pillow.

OpenCV's PNG decoder fails ("bad parameters to zlib") when decord was imported first, because
decord bundles its own zlib; Pillow carries its own codecs and is immune, so every image goes
through here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mmf_ext.utils.errors import UserError

IMAGE_VERSION = 1  # bump whenever read_rgb returns other pixels for the same file (1: turned upright by EXIF)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as an RGB uint8 array [H, W, 3], turned upright as its EXIF orientation says (phone
    photos are stored sideways with a tag; browsers and viewers show them turned)."""
    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except FileNotFoundError:
        raise UserError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UserError(f"{path}: not a readable image ({error})") from None


def write_rgb(path: str | os.PathLike, image: np.ndarray) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image)).save(path)
