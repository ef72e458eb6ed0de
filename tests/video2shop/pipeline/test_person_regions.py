"""Person tracks into clothing-region trajectories: the region boxes, their crops, their settings."""

import numpy as np
import pytest

from mmf_ext.utils.errors import ConfigError
from tests.helpers import people_video, save_small_run
from video2shop.pipeline.config import load_pipeline_config, people_settings
from video2shop.pipeline.detection import Detection
from video2shop.pipeline.person_regions import Region, regions_from_config
from video2shop.pipeline.subjects import PeopleSettings
from video2shop.pipeline.track_types import TrackerConfig
from video2shop.pipeline.trained_model import load_trained_model
from video2shop.pipeline.video_search import find_trajectories

SHIRTS = {(0, 0): (200, 40, 40), (0, 1): (40, 150, 40), (1, 0): (230, 200, 40)}  # (shot, person): shirt colour
TROUSERS = {(0, 0): (40, 40, 150), (0, 1): (70, 70, 70), (1, 0): (30, 30, 30)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    return load_trained_model(save_small_run(root / "save", root / "data"))


FED = [i for i in range(60) if not 30 <= i < 36]  # people_video's non-empty frames: those the tracker is fed


class KnownPeople:
    """A person detector that reports the people drawn on each frame it is called on (every fed frame, in
    order: redetect_interval=1), except in `skip_shots`; the tracking and the regions are under test."""

    def __init__(self, people, skip_shots=()):
        self.boxes = [(shot, boxes) for shot, persons in people.items() for boxes in persons if shot not in skip_shots]
        self.calls = 0

    def detect(self, frames):
        found = []
        for _ in frames:
            frame, self.calls = FED[self.calls], self.calls + 1
            found.append([Detection(tuple(b[frame]), 0.9, 0, "person") for _, b in self.boxes if frame in b])
        return found


def test_a_region_is_its_fractions_of_the_person_box():
    upper = Region("upper_body", 0.0, 0.14, 1.0, 0.58)
    assert upper.box((100, 50, 200, 450)) == pytest.approx((100, 106, 200, 282))
    assert Region("left_half", 0.0, 0.0, 0.5, 1.0).box((10, 10, 30, 50)) == (10, 10, 20, 50)
    assert upper.title == "upper body"


def test_regions_come_from_the_pipeline_config_in_order_and_null_leaves_one_out():
    names = [r.name for r in people_settings(load_pipeline_config()).regions]
    assert names == ["upper_body", "lower_body", "full_figure"]
    chosen = people_settings(load_pipeline_config(None, ["pipeline.persons.regions.full_figure=null"]))
    assert [r.name for r in chosen.regions] == ["upper_body", "lower_body"]
    added = people_settings(load_pipeline_config(None, ["+pipeline.persons.regions.shoes=[0.0,0.9,1.0,1.0]"]))
    assert added.regions[-1] == Region("shoes", 0.0, 0.9, 1.0, 1.0)


@pytest.mark.parametrize(
    "regions, message",
    [
        ({}, "pipeline.persons.regions: give at least one region"),
        ({"top": None}, "pipeline.persons.regions: give at least one region"),
        ({"top": [0, 0.5, 1]}, r"pipeline.persons.regions.top=\[0, 0.5, 1\]: give \[left, top, right, bottom\]"),
        ({"top": [0, 0.6, 1, 0.5]}, "0 <= top < bottom <= 1"),
        ({"top": [0, 0, 1.5, 1]}, "0 <= left < right <= 1"),
        ({"top": "upper"}, "pipeline.persons.regions.top='upper'"),
    ],
)
def test_bad_regions_are_one_line_naming_the_key(regions, message):
    with pytest.raises(ConfigError, match=message) as error:
        regions_from_config(regions)
    assert "\n" not in str(error.value)


def test_each_tracked_person_becomes_one_trajectory_per_region_with_crops_of_that_region(tmp_path, trained):
    truth = people_video(tmp_path / "v.mp4", first=30, empty=6, second=24)
    detector = KnownPeople(truth["people"])
    people = people_settings(load_pipeline_config())
    tracker = TrackerConfig(redetect_interval=1, min_length=8)
    _, trajectories = find_trajectories(str(tmp_path / "v.mp4"), trained, detector, tracker, length=4, people=people)
    assert len(trajectories) == 3 * 3  # three people (two in shot 0, one in shot 1), three regions each
    first = [(t.person, t.region) for t in trajectories[:3]]
    assert first == [(0, "upper_body"), (0, "lower_body"), (0, "full_figure")]
    assert {t.person for t in trajectories} == {0, 1, 2} and all(t.kind == "person" for t in trajectories)
    assert trajectories[0].describe() == "person 0, upper body"
    regions = {r.name: r for r in people.regions}
    for t in trajectories:
        shot, persons = t.shot, truth["people"][t.shot]
        k = min(range(len(persons)), key=lambda k: abs(persons[k][t.frames[0]][0] - t.boxes[0][0]))
        full = [persons[k][f] for f in t.frames]
        assert t.frames == sorted(persons[k]) and t.category is None
        assert np.abs(np.subtract(t.boxes, [regions[t.region].box(b) for b in full])).max() < 1e-6
        centre = t.crops[:, :, 12:20, 12:20].reshape(4, 3, -1).mean(-1).mean(0)  # the crops' middle, mean RGB
        if t.region == "upper_body":
            assert np.abs(centre - SHIRTS[shot, k]).max() < 40  # the shirt, not the trousers
        if t.region == "lower_body":
            assert np.abs(centre - TROUSERS[shot, k]).max() < 40


def test_a_shot_without_a_tracked_person_is_searched_whole_unless_turned_off(tmp_path, trained):
    truth = people_video(tmp_path / "v.mp4", first=30, empty=6, second=24)
    tracker = TrackerConfig(redetect_interval=1, min_length=8)
    results = []
    for fallback in (True, False):
        detector = KnownPeople(truth["people"], skip_shots={1})
        people = PeopleSettings(people_settings(load_pipeline_config()).regions[:1], whole_shot_fallback=fallback)
        _, found = find_trajectories(str(tmp_path / "v.mp4"), trained, detector, tracker, length=4, people=people)
        results.append([(t.kind, t.shot, t.person, t.region) for t in found])
    assert results[0] == [("person", 0, 0, "upper_body"), ("person", 0, 1, "upper_body"), ("shot", 1, None, None)]
    assert results[1] == results[0][:2]
