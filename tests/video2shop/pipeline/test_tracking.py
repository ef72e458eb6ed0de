"""The KCF multi-object tracker on generated scenes: textured rectangles moving over noise."""

import cv2
import numpy as np
import pytest

from mmf_ext.utils.errors import ConfigError
from video2shop.pipeline.boxes import greedy_match, iou_matrix
from video2shop.pipeline.detection import Detection
from video2shop.pipeline.kcf import KCFTracker, kcf_params
from video2shop.pipeline.track_filters import remove_duplicates
from video2shop.pipeline.track_types import Track, TrackerConfig
from video2shop.pipeline.tracking import MultiObjectTracker

HEIGHT, WIDTH = 120, 200


class Item:
    """A 24x30 textured rectangle at (x0, y0) moving (vx, vy) pixels per frame while visible."""

    def __init__(self, x0, y0, vx, vy, color, visible=range(0, 10_000), label=0):
        self.x0, self.y0, self.vx, self.vy, self.color, self.visible, self.label = x0, y0, vx, vy, color, visible, label

    def box(self, i):
        x, y = round(self.x0 + self.vx * i), round(self.y0 + self.vy * i)
        return (float(x), float(y), float(x + 24), float(y + 30)) if i in self.visible else None


def render(i, items, seed=0):
    rng = np.random.default_rng([seed, i])
    frame = rng.integers(0, 70, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    for item in items:
        box = item.box(i)
        if box is None:
            continue
        x, y = int(box[0]), int(box[1])
        frame[y : y + 30, x : x + 24] = item.color
        frame[y + 6 : y + 12, x + 4 : x + 20] = (30, 220, 60)  # texture for the correlation filter
        frame[y + 18 : y + 26, x + 8 : x + 12] = (240, 240, 240)
    return frame


def run(items, frames, config, detect=lambda i, item: True, score=0.9):
    """Feed the scene; detections are the true boxes of visible items where `detect` allows."""
    tracker = MultiObjectTracker(config)
    for i in range(frames):
        detections = None
        if tracker.wants_detections():
            detections = [
                Detection(item.box(i), score, item.label, f"c{item.label}")
                for item in items
                if item.box(i) is not None and detect(i, item)
            ]
        tracker.update(i, render(i, items), detections)
    return tracker.finish()


def max_error(track, item):
    return max(max(abs(a - b) for a, b in zip(box, item.box(f))) for f, box in zip(track.frames, track.boxes))


def test_kcf_alone_follows_a_moving_rectangle_within_two_pixels():
    item = Item(10, 30, 4, 1, (200, 40, 40))
    # one detection on the first frame only: every later box is KCF's
    tracks = run([item], 36, {"redetect_interval": 1000, "min_length": 1})
    assert len(tracks) == 1
    track = tracks[0]
    assert track.frames == list(range(36)) and track.end_reason == "stream_end"
    assert track.detection_scores[0] == 0.9 and all(s is None for s in track.detection_scores[1:])
    assert max_error(track, item) <= 2.0


def test_kcf_on_a_scaled_frame_follows_the_item_within_the_scale_s_pixels():
    item = Item(10, 30, 4, 1, (200, 40, 40))
    # box_size 12 halves the 24x30 item's frame: one scaled pixel is about two full-size ones
    tracks = run([item], 36, {"redetect_interval": 1000, "min_length": 1, "kcf_box_size": 12})
    assert len(tracks) == 1 and tracks[0].frames == list(range(36))
    assert max_error(tracks[0], item) <= 4.0
    kcf = KCFTracker(kcf_params({}), box_size=12)
    kcf.init(cv2.cvtColor(render(0, [item]), cv2.COLOR_RGB2BGR), item.box(0))
    assert kcf.scale == pytest.approx(12 / 30)  # the filter really runs on the scaled frame


def test_re_detection_corrects_the_box_and_keeps_the_track():
    item = Item(10, 30, 3, 1, (200, 40, 40))
    tracks = run([item], 40, {"redetect_interval": 5, "min_length": 1})
    assert len(tracks) == 1 and len(tracks[0]) == 40
    confirmed = [f for f, s in zip(tracks[0].frames, tracks[0].detection_scores) if s is not None]
    assert confirmed == list(range(0, 40, 5))
    assert all(tracks[0].box_at(f) == item.box(f) for f in confirmed)  # the detection's box, exactly
    assert max_error(tracks[0], item) <= 2.0


def test_two_objects_become_two_tracks_with_their_own_categories():
    first = Item(10, 20, 3, 1, (200, 40, 40), label=2)
    second = Item(160, 70, -3, 0, (40, 40, 220), label=5)
    tracks = run([first, second], 30, {"redetect_interval": 5, "min_length": 5})
    assert len(tracks) == 2
    by_label = {t.label: t for t in tracks}
    assert set(by_label) == {2, 5} and by_label[2].category == "c2"
    assert len({t.track_id for t in tracks}) == 2
    assert max_error(by_label[2], first) <= 2.0 and max_error(by_label[5], second) <= 2.0


def test_a_track_ends_when_its_object_disappears():
    stays = Item(10, 20, 2, 1, (200, 40, 40))
    leaves = Item(150, 70, -2, 0, (40, 40, 220), visible=range(0, 17), label=1)
    tracks = run([stays, leaves], 40, {"redetect_interval": 5, "min_length": 3})
    assert len(tracks) == 2
    gone = next(t for t in tracks if t.label == 1)
    assert gone.end <= 16 and gone.end_reason in ("lost", "missed")
    assert max_error(gone, leaves) <= 2.0
    kept = next(t for t in tracks if t.label == 0)
    assert kept.end == 39 and kept.end_reason == "stream_end"


def test_a_track_unmatched_for_max_missed_re_detections_ends_and_drops_its_unconfirmed_tail():
    item = Item(40, 40, 0, 0, (200, 40, 40))  # still visible, but the detector stops seeing it after frame 10
    config = {"redetect_interval": 5, "max_missed": 2, "min_length": 1}
    tracks = run([item], 40, config, detect=lambda i, _: i <= 10)
    assert len(tracks) == 1
    assert tracks[0].end_reason == "missed" and tracks[0].end == 10
    untrimmed = run([item], 40, {**config, "trim_unconfirmed_tail": False}, detect=lambda i, _: i <= 10)
    assert untrimmed[0].end == 20  # ended at the second unmatched re-detection (frames 15 and 20)


def test_short_tracks_are_dropped():
    brief = Item(150, 70, -2, 0, (40, 40, 220), visible=range(0, 4))
    assert run([brief], 20, {"redetect_interval": 5, "min_length": 5}) == []
    assert len(run([brief], 20, {"redetect_interval": 5, "min_length": 3})) == 1


def test_a_second_detection_of_a_tracked_item_does_not_start_a_duplicate_track():
    item = Item(10, 30, 2, 0, (200, 40, 40))
    tracker = MultiObjectTracker({"redetect_interval": 5, "min_length": 1})
    for i in range(20):
        detections = None
        if tracker.wants_detections():
            box = item.box(i)
            shifted = (box[0] + 2, box[1] + 1, box[2] + 2, box[3] + 1)
            detections = [Detection(box, 0.9, 0, "Top"), Detection(shifted, 0.8, 3, "Dress")]
        tracker.update(i, render(i, [item]), detections)
    tracks = tracker.finish()
    assert len(tracks) == 1 and tracks[0].category == "Top"


def test_class_aware_matching_keeps_overlapping_items_of_two_categories_apart():
    top = Item(40, 30, 0, 0, (200, 40, 40), label=0)
    bag = Item(44, 34, 0, 0, (40, 40, 220), label=6)  # drawn over the top, boxes overlap (IoU ~0.6)
    config = {"redetect_interval": 5, "min_length": 1, "duplicate_iou": 0.99}
    assert len(run([top, bag], 15, {**config, "class_aware": True})) == 2
    assert len(run([top, bag], 15, config)) == 1  # class-agnostic: the bag is taken for the top


def test_low_score_detections_are_ignored():
    item = Item(10, 30, 2, 0, (200, 40, 40))
    assert run([item], 10, {"min_length": 1, "min_detection_score": 0.5}, score=0.3) == []


def track(track_id, frames, box, shift=0.0):
    return Track(
        track_id,
        list(frames),
        [(box[0] + shift * f, box[1], box[2] + shift * f, box[3]) for f in frames],
        [0.9] * len(frames),
    )


def test_duplicates_overlapping_in_time_keep_the_longer_track():
    long = track(0, range(0, 20), (10, 10, 40, 50), shift=1)
    duplicate = track(1, range(5, 15), (11, 10, 41, 50), shift=1)  # IoU ~0.94 on every shared frame
    elsewhere = track(2, range(5, 15), (100, 10, 130, 50))
    later_same_place = track(3, range(30, 40), (10, 10, 40, 50), shift=1)  # no shared frame
    kept = remove_duplicates([duplicate, long, elsewhere, later_same_place], duplicate_iou=0.5)
    assert [t.track_id for t in kept] == [0, 2, 3]
    assert [t.track_id for t in remove_duplicates([duplicate, long], duplicate_iou=0.97)] == [0, 1]


def test_greedy_matching_is_one_to_one_and_respects_the_threshold():
    tracks = [(0, 0, 10, 10), (20, 0, 30, 10), (50, 50, 60, 60)]
    detections = [(21, 0, 31, 10), (0, 1, 10, 11), (1, 0, 11, 10), (80, 80, 90, 90)]
    pairs = greedy_match(iou_matrix(tracks, detections), 0.3)
    assert sorted(pairs) == [(0, 1), (1, 0)] or sorted(pairs) == [(0, 2), (1, 0)]
    assert len({d for _, d in pairs}) == len(pairs)
    assert greedy_match(iou_matrix([], detections), 0.3) == []


def test_tracker_settings_are_checked_with_the_key_named():
    with pytest.raises(ConfigError, match="pipeline.tracker.match_iuo is not a tracker setting"):
        TrackerConfig.from_config({"match_iuo": 0.3})
    with pytest.raises(ConfigError, match="redetect_interval=0 is out of range"):
        TrackerConfig.from_config({"redetect_interval": 0})
    with pytest.raises(ConfigError, match="kcf.detect_threshold is not a KCF parameter"):
        MultiObjectTracker({"kcf": {"detect_threshold": 0.2}})


def test_frames_must_come_in_order():
    tracker = MultiObjectTracker()
    tracker.update(3, render(0, []))
    with pytest.raises(ValueError, match="increasing order"):
        tracker.update(3, render(1, []))
