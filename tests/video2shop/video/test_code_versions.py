"""The crop and sampling code carry versions, checked against fingerprints of their output; the frame cache's key
holds them, so crops made by other code are decoded again instead of reused."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from tests.helpers import moving_video
from video2shop.datasets.trajectories import TrajectoryLoader
from video2shop.video import crops, reader, sampling
from video2shop.video.cache import FrameCache
from video2shop.video.versions import input_code

BUMP = "changed: bump {version} in video2shop/video/{module}.py and set {fingerprint} = {value!r}"


def test_model_crop_makes_what_its_version_records():
    yy, xx = np.mgrid[0:90, 0:120]
    image = np.stack([(xx * 2) % 256, (yy * 3) % 256, (xx * yy) % 256], axis=-1).astype(np.uint8)
    digest = hashlib.sha256()
    cases = [(None, 0.1, 32), ((10, 5, 70, 80), 0.1, 24), ((100, 60, 130, 100), 0.2, 17), ((5, 5, 6, 6), 0, 8)]
    for box, margin, size in cases:
        digest.update(crops.model_crop(image, box, margin, size).tobytes())
    value = digest.hexdigest()
    message = BUMP.format(version="CROP_VERSION", module="crops", fingerprint="CROP_FINGERPRINT", value=value)
    assert value == crops.CROP_FINGERPRINT, "model_crop's output " + message


def test_frame_sampling_picks_what_its_version_records():
    tracklet = {0: [0, 0, 10, 10], 6: [6, 2, 16, 22], 20: [40, 40, 60, 50]}
    answers = {
        "spaced": [sampling.evenly_spaced(a, b, n) for a, b, n in [(0, 23, 8), (3, 9, 8), (0, 100, 32), (5, 5, 3)]],
        "boxes": [sampling.interpolate_box(tracklet, f) for f in (0, 3, 6, 13, 25)],
        "windows": [sampling.window_starts(n, 8) for n in (4, 8, 20, 32)],
    }
    value = hashlib.sha256(json.dumps(answers).encode()).hexdigest()
    names = {"version": "SAMPLING_VERSION", "module": "sampling", "fingerprint": "SAMPLING_FINGERPRINT"}
    message = BUMP.format(**names, value=value)
    assert value == sampling.SAMPLING_FINGERPRINT, "frame sampling " + message


def test_the_frame_cache_decodes_again_when_the_code_that_made_its_crops_changes(tmp_path, monkeypatch):
    moving_video(tmp_path / "v.mp4", frames=12)
    loader = TrajectoryLoader(4, 16, 0.1, FrameCache(tmp_path / "cache"), strict=True)
    loader.load(tmp_path / "v.mp4", None)
    loader.load(tmp_path / "v.mp4", None)
    assert (loader.cache.hits, loader.cache.misses) == (1, 1)
    for module, name in ((crops, "CROP_VERSION"), (sampling, "SAMPLING_VERSION"), (reader, "READER_VERSION")):
        monkeypatch.setattr(module, name, getattr(module, name) + 1)
        loader.load(tmp_path / "v.mp4", None)
    assert (loader.cache.hits, loader.cache.misses) == (1, 4)
    assert {"crop", "sampling", "reader", "image", "opencv", "decord", "pillow"} <= set(input_code())


def test_an_image_is_read_upright_as_its_exif_orientation_says(tmp_path):
    """A phone photo stored sideways with an orientation tag is read as it is shown (IMAGE_VERSION 1)."""
    from PIL import Image

    from video2shop.video.image_io import read_rgb

    stored = np.zeros((20, 40, 3), np.uint8)  # wide as stored, a red left end
    stored[:, :10] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to show
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = read_rgb(tmp_path / "phone.jpg")
    assert upright.shape == (40, 20, 3)  # tall, as shown
    assert upright[:10, :, 0].mean() > 200 and upright[-10:, :, 0].mean() < 60  # the red end on top
