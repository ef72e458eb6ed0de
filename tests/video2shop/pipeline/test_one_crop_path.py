"""Train/serve skew: what `video2shop search` and `index` feed the model is, pixel for pixel, what training read.

A video with known per-frame boxes goes through the search pipeline (streamed decoding in
consecutive batches, the tracker, the per-track crop buffer) with a detector that reports exactly
those boxes, and through the loader training and evaluation use (one decord batch read of the
sampled frames, which seeks from keyframe to keyframe, and the tracklet's boxes). Both crop with
video2shop.video.crops.model_crop, so the trajectories are equal to the last bit; so are a shop
image's crops for indexing and for training.

Decoding: the two paths read the same file through the same decord reader but differently
(sequential batches vs. seeks). For files with a regular index, like these (mp4v, keyframes every
12 frames, no B-frames), decord's seeks are frame-accurate and both give identical frames, which
`test_streamed_frames_are_the_frames_a_batch_read_decodes` checks. For files with B-frames or
irregular timestamps decord's random access is known to return a neighbouring frame now and then
(dmlc/decord issues 54, 195, 365): that would be a decoding difference, not a crop difference,
and the training side cannot change without changing the training tensors.
"""

import decord
import numpy as np
import pytest

from tests.helpers import save_small_run
from video2shop.datasets.dataset import ShopImages
from video2shop.datasets.synthetic import write_mp4
from video2shop.datasets.trajectories import TrajectoryLoader
from video2shop.pipeline import gallery as gallery_module
from video2shop.pipeline.catalog import CatalogItem
from video2shop.pipeline.detection import Detection
from video2shop.pipeline.track_types import TrackerConfig
from video2shop.pipeline.trained_model import load_trained_model
from video2shop.pipeline.video_search import find_trajectories
from video2shop.pipeline.video_stream import open_video, stream_frames
from video2shop.video.cache import FrameCache
from video2shop.video.image_io import write_rgb
from video2shop.video.reader import read_frames
from video2shop.video.sampling import evenly_spaced

FRAMES = 40


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    return load_trained_model(save_small_run(root / "save", root / "data"))


def item_video(path, frames=FRAMES, width=112, height=80):
    """A textured patch drifting and growing over a still background; returns its boxes (fractional pixels).

    The background stays, so the encoder writes P-frames between keyframes and a sparse read has to seek.
    """
    rng = np.random.default_rng(7)
    background = rng.integers(0, 90, (height, width, 3), dtype=np.uint8)
    texture = rng.integers(120, 255, (height, width, 3), dtype=np.uint8)
    images, boxes = [], []
    for i in range(frames):
        frame = background.copy()
        x1, y1, x2, y2 = 8.3 + 1.3 * i, 12.6 + 0.3 * i, 36.9 + 1.6 * i, 58.2 + 0.4 * i
        frame[int(y1) : int(y2), int(x1) : int(x2)] = texture[: int(y2) - int(y1), : int(x2) - int(x1)]
        images.append(frame)
        boxes.append((x1, y1, x2, y2))
    write_mp4(path, images)
    return boxes


class GivenBoxes:
    """A detector that reports the known box of each frame it is shown, in order."""

    def __init__(self, boxes):
        self.boxes, self.calls = boxes, 0

    def detect(self, frames):
        found = [[Detection(self.boxes[self.calls + k], 0.99, 0, "Dress")] for k in range(len(frames))]
        self.calls += len(frames)
        return found


def test_streamed_frames_are_the_frames_a_batch_read_decodes(tmp_path):
    item_video(tmp_path / "v.mp4")
    _, info = open_video(tmp_path / "v.mp4")
    keyframes = decord.VideoReader(str(tmp_path / "v.mp4")).get_key_indices()
    assert 1 < len(keyframes) < FRAMES // 4  # sparse reads really seek across P-frames
    streamed = dict(stream_frames(info.path, info.claimed_frames))
    picked = evenly_spaced(0, FRAMES - 1, 11)
    frames, read = read_frames(tmp_path / "v.mp4", picked)
    assert read == picked and len(streamed) == FRAMES
    for index, frame in zip(read, frames):
        assert np.array_equal(streamed[index], frame)


@pytest.mark.parametrize("length", [4, 6])
def test_a_searched_trajectory_equals_the_training_loaders_crops_pixel_for_pixel(tmp_path, trained, length):
    boxes = item_video(tmp_path / "v.mp4")
    tracker = TrackerConfig(redetect_interval=1, min_length=1, min_detection_score=0.5)
    _, (trajectory,) = find_trajectories(str(tmp_path / "v.mp4"), trained, GivenBoxes(boxes), tracker, length=length)
    assert trajectory.boxes == boxes  # every frame's box is the detection itself
    loader = TrajectoryLoader(length, trained.image_size, trained.context_margin, FrameCache(None), strict=True)
    expected = loader.load(tmp_path / "v.mp4", {i: list(box) for i, box in enumerate(boxes)})
    assert trajectory.crop_frames == evenly_spaced(0, FRAMES - 1, length)
    assert trajectory.crops.dtype == expected.dtype == np.uint8 and trajectory.crops.shape == expected.shape
    assert np.array_equal(trajectory.crops, expected)


def test_the_whole_frame_trajectory_equals_the_loaders_whole_frames(tmp_path, trained):
    item_video(tmp_path / "v.mp4")
    _, (trajectory,) = find_trajectories(str(tmp_path / "v.mp4"), trained, None, TrackerConfig(), length=5)
    loader = TrajectoryLoader(5, trained.image_size, trained.context_margin, FrameCache(None), strict=True)
    assert trajectory.crop_frames == evenly_spaced(0, FRAMES - 1, 5)
    assert np.array_equal(trajectory.crops, loader.load(tmp_path / "v.mp4", None))


def test_an_indexed_shop_image_is_the_crop_training_and_evaluation_read(tmp_path, trained):
    image = np.random.default_rng(3).integers(0, 255, (70, 50, 3), dtype=np.uint8)
    write_rgb(tmp_path / "shop.png", image)
    box = (5.5, 9.25, 41.0, 60.75)
    crops, used = gallery_module._crops([CatalogItem("a", "a", tmp_path / "shop.png", box)], trained, None)
    shop = ShopImages(trained.image_size, trained.context_margin)
    assert used == [list(box)] and np.array_equal(crops[0], shop.load(tmp_path / "shop.png", list(box)))
    whole, _ = gallery_module._crops([CatalogItem("b", "b", tmp_path / "shop.png")], trained, None)
    assert np.array_equal(whole[0], shop.load(tmp_path / "shop.png", None))
