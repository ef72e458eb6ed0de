"""Shots and empty stretches: a generated video with two scenes and a black stretch, cut where it is cut."""

import numpy as np
import pytest

from mmf_ext.utils.errors import ConfigError
from tests.helpers import people_video, room, save_small_run
from video2shop.datasets.synthetic import write_mp4
from video2shop.pipeline.config import load_pipeline_config, shot_settings
from video2shop.pipeline.shots import ShotCutter, ShotSettings
from video2shop.pipeline.track_types import TrackerConfig
from video2shop.pipeline.trained_model import load_trained_model
from video2shop.pipeline.video_search import find_trajectories
from video2shop.pipeline.video_stream import open_video, stream_frames


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    return load_trained_model(save_small_run(root / "save", root / "data"))


def cut(path, settings=None):
    _, info = open_video(path)
    cutter = ShotCutter(settings)
    labels = [cutter.observe(index, frame) for index, frame in stream_frames(info.path, info.claimed_frames)]
    return cutter, labels


def test_two_scenes_and_a_black_stretch_are_two_shots_with_the_black_frames_in_none(tmp_path):
    truth = people_video(tmp_path / "v.mp4", first=30, empty=6, second=24)
    cutter, labels = cut(tmp_path / "v.mp4")
    assert [(s.first, s.last) for s in cutter.kept()] == truth["shots"] == [(0, 29), (36, 59)]
    assert labels == [0] * 30 + [None] * 6 + [1] * 24  # people walking in a shot cut nothing


def test_a_hard_cut_without_black_frames_starts_a_new_shot(tmp_path):
    truth = people_video(tmp_path / "v.mp4", first=20, empty=0, second=20)
    cutter, _ = cut(tmp_path / "v.mp4")
    assert [(s.first, s.last) for s in cutter.kept()] == truth["shots"] == [(0, 19), (20, 39)]


def test_without_a_detector_each_shot_is_one_trajectory_of_its_own_frames(tmp_path, trained):
    people_video(tmp_path / "v.mp4", first=30, empty=6, second=24)
    _, trajectories = find_trajectories(str(tmp_path / "v.mp4"), trained, None, TrackerConfig(), length=6)
    assert [t.frames for t in trajectories] == [[0, 29], [36, 59]] and [t.shot for t in trajectories] == [0, 1]
    assert all(t.kind == "shot" and t.describe() == f"shot {t.shot}, whole frame" for t in trajectories)
    assert all(0 <= f <= 29 for f in trajectories[0].crop_frames) and all(f >= 36 for f in trajectories[1].crop_frames)
    first, second = (t.crops.reshape(6, 3, -1).mean(-1).mean(0) for t in trajectories)  # mean RGB of the crops
    assert first[0] > first[2] + 20 and second[2] > second[0] + 60  # a beige room, then a blue one; never black


def test_a_flash_shorter_than_min_frames_is_dropped_and_cutting_can_be_turned_off(tmp_path, trained):
    frames = [room(96, 128, (150, 140, 120), i) for i in range(12)]
    frames[5:8] = [np.full((96, 128, 3), (250, 250, 40), np.uint8) + room(96, 128, (0, 0, 0), i) for i in range(3)]
    write_mp4(tmp_path / "flash.mp4", frames)
    cutter, labels = cut(tmp_path / "flash.mp4", ShotSettings(min_frames=3))
    assert labels == [0] * 5 + [1] * 3 + [2] * 4 and [s.shot_id for s in cutter.kept()] == [0, 1, 2]
    cutter, _ = cut(tmp_path / "flash.mp4")  # min_frames 8: every piece is too short
    assert cutter.kept() == []
    _, whole = find_trajectories(str(tmp_path / "flash.mp4"), trained, None, TrackerConfig(), shots=ShotSettings(False))
    assert [t.frames for t in whole] == [[0, 11]]  # the whole video, as before shots existed


def test_shot_settings_come_from_the_pipeline_config_and_bad_ones_are_one_line():
    assert shot_settings(load_pipeline_config()) == ShotSettings()
    assert shot_settings(load_pipeline_config(None, ["pipeline.shots.cut_distance=0.3"])).cut_distance == 0.3
    for override, message in [
        ("pipeline.shots.cut_distance=0", r"pipeline.shots.cut_distance=0.0 is out of range; it must be in \(0, 1\]"),
        ("pipeline.shots.min_frames=0", "pipeline.shots.min_frames=0 is out of range"),
        ("pipeline.shots.enabled=2", "pipeline.shots.enabled=2 is not true or false"),
        ("pipeline.shots.hue_bins=many", "pipeline.shots.hue_bins='many' is not a valid int"),
    ]:
        with pytest.raises(ConfigError, match=message) as error:
            shot_settings(load_pipeline_config(None, [override]))
        assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="pipeline.shots.bins is not a setting here; known: cut_distance"):
        ShotSettings.from_config({"bins": 3})


def test_the_synthetic_datasets_videos_are_one_shot_each(synthetic_dir):
    # their augmentations (light changes, occluders, blur) move colours a lot, but none is a cut
    videos = sorted((synthetic_dir / "videos").glob("*.mp4"))
    assert len(videos) > 10
    for video in videos:
        cutter, labels = cut(video)
        assert set(labels) == {0}, video.name
