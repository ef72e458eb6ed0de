"""A photo as a query: its items (or the whole photo) as one-frame trajectories, scored as looped videos."""

import numpy as np
import pytest
import torch

from tests.helpers import save_small_run, write_shop_folder
from tests.video2shop.pipeline.test_video_search import SquareDetector
from video2shop.pipeline.catalog import list_catalog
from video2shop.pipeline.detection import Detection
from video2shop.pipeline.gallery import Gallery, build_gallery
from video2shop.pipeline.photo_search import find_photo_trajectories, is_photo, query_files
from video2shop.pipeline.track_types import TrackerConfig
from video2shop.pipeline.trained_model import load_trained_model
from video2shop.pipeline.video_search import Trajectory, rank_products
from video2shop.video.image_io import write_rgb


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    return load_trained_model(save_small_run(root / "save", root / "data"))


def square_photo(path, width=120, height=90):
    """A red square (x 40-70, y 20-50) on dark noise."""
    image = np.random.default_rng(0).integers(0, 60, (height, width, 3), dtype=np.uint8)
    image[20:50, 40:70] = (210, 40, 40)
    write_rgb(path, image)
    return path


class FixedDetector:
    """Returns the same detections for every frame."""

    def __init__(self, detections):
        self.detections = detections

    def detect(self, frames):
        return [list(self.detections) for _ in frames]


def test_without_a_detector_the_whole_photo_is_one_trajectory_of_one_crop(tmp_path, trained):
    info, (trajectory,) = find_photo_trajectories(square_photo(tmp_path / "p.png"), trained, None, TrackerConfig())
    assert (info.width, info.height, info.claimed_frames, info.decoders) == (120, 90, 1, "image")
    assert trajectory.frames == [0] and trajectory.crop_frames == [0] and trajectory.boxes == [(0.0, 0.0, 120.0, 90.0)]
    assert trajectory.crops.shape == (1, 3, 32, 32) and trajectory.category is None


def test_with_a_detector_each_item_is_its_own_trajectory_cropped_to_its_box(tmp_path, trained):
    path = square_photo(tmp_path / "p.jpg")
    _, (trajectory,) = find_photo_trajectories(path, trained, SquareDetector(), TrackerConfig())
    assert trajectory.category == "Dress" and trajectory.detection_score == pytest.approx(0.9)
    assert np.abs(np.subtract(trajectory.boxes[0], (40, 20, 70, 50))).max() <= 2  # JPEG edges
    centre = trajectory.crops[0, :, 12:20, 12:20].reshape(3, -1).mean(-1)
    assert centre[0] > 150 and centre[1] < 100  # the crop holds the red square


def test_a_photo_keeps_the_boxes_the_tracker_would_start_tracks_on(tmp_path, trained):
    path = square_photo(tmp_path / "p.png")
    detections = [
        Detection((40, 20, 70, 50), 0.9, 3, "Dress"),
        Detection((41, 21, 70, 50), 0.8, 5, "Skirt"),  # the same item under another category
        Detection((0, 60, 30, 90), 0.7, 1, "Bag"),  # a second item
        Detection((80, 10, 110, 40), 0.3, 1, "Bag"),  # below min_detection_score
        Detection((100, 70, 102, 72), 0.95, 2, "Hat"),  # smaller than min_box_size
        Detection((90, 60, 200, 150), 0.6, 4, "Coat"),  # clipped to the photo
    ]
    _, trajectories = find_photo_trajectories(path, trained, FixedDetector(detections), TrackerConfig())
    assert [t.category for t in trajectories] == ["Dress", "Bag", "Coat"]
    assert [t.trajectory_id for t in trajectories] == [0, 1, 2] and trajectories[2].boxes[0] == (90, 60, 120, 90)
    aware = TrackerConfig(class_aware=True)
    _, trajectories = find_photo_trajectories(path, trained, FixedDetector(detections), aware)
    assert [t.category for t in trajectories] == ["Dress", "Skirt", "Bag", "Coat"]


def test_a_photo_scores_as_a_video_whose_frames_all_show_it(tmp_path, trained):
    write_shop_folder(tmp_path / "shop", 6)
    gallery = Gallery(build_gallery(list_catalog(tmp_path / "shop"), trained, tmp_path / "g"))
    _, (photo,) = find_photo_trajectories(square_photo(tmp_path / "p.png"), trained, None, TrackerConfig())
    looped = Trajectory(0, [0, 0], photo.boxes * 2, None, np.repeat(photo.crops, trained.num_frames, 0), [0] * 4)
    rank_products(trained, gallery, [photo, looped], topk=6)
    assert [r["item_id"] for r in photo.results] == [r["item_id"] for r in looped.results]
    assert [r["score"] for r in photo.results] == pytest.approx([r["score"] for r in looped.results], abs=1e-6)
    with torch.no_grad():  # the model loops the one frame over its leaves itself
        states = trained.model.encode_trajectories(trained.model.encode_images(torch.from_numpy(photo.crops)[None]))
    assert states.shape[2] == trained.model.num_leaves


def test_a_folder_lists_its_photos_and_videos_by_suffix(tmp_path):
    for name in ["b.JPG", "a/c.webp", "a/d.mp4", "e.avi", "notes.txt", "f.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    names = [p.relative_to(tmp_path).as_posix() for p in query_files(tmp_path)]
    assert names == ["a/c.webp", "a/d.mp4", "b.JPG", "e.avi", "f.png"]
    assert [is_photo(tmp_path / n) for n in names] == [True, False, True, False, True]
