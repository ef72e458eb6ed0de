"""The versions of the code that turns a file into the crops a model reads, for cache keys.

A cache of crops (the frame cache) or of features computed from crops (a gallery) is valid only
for the code that made it: the crop and resize (crops.py), which frames and boxes are sampled
(sampling.py), how frames and images are decoded (reader.py, image_io.py), and the libraries underneath (OpenCV resizes,
decord decodes videos, Pillow decodes images). A cache whose key holds other versions is rebuilt
(the frame cache) or refused (a gallery), never reused.
"""

from __future__ import annotations

import cv2
import decord
import PIL

from video2shop.video import crops, image_io, reader, sampling


def input_code() -> dict[str, int | str]:
    """Every version the crops depend on, read at call time (so a bumped constant takes effect at once)."""
    return {
        "crop": crops.CROP_VERSION,
        "sampling": sampling.SAMPLING_VERSION,
        "reader": reader.READER_VERSION,
        "image": image_io.IMAGE_VERSION,
        "opencv": cv2.__version__,
        "decord": decord.__version__,
        "pillow": PIL.__version__,
    }
