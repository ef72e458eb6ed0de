"""Tracks unified to trajectories of exactly T frames: sliding windows, looping, resampling."""

import pytest

from video2shop.models.asymnet.model import window_starts
from video2shop.pipeline.track_types import Track
from video2shop.pipeline.trajectories import unified_positions, unify_track, unify_tracks
from mmf_ext.utils.errors import ConfigError


def make_track(length, start=100, track_id=7):
    frames = list(range(start, start + length))
    return Track(track_id, frames, [(float(f), 0.0, f + 10.0, 10.0) for f in frames], [None] * length, label=3, category="Dress")


def test_a_long_track_is_covered_by_sliding_windows_of_exactly_t_frames():
    track = make_track(70)
    trajectories = unify_track(track, length=32)
    assert len(trajectories) == 3 and all(len(t) == 32 for t in trajectories)
    assert [t.frames[0] - 100 for t in trajectories] == window_starts(70, 32) == [0, 19, 38]
    assert trajectories[-1].frames[-1] == track.frames[-1]  # the windows reach the end
    for t in trajectories:
        assert list(t.frames) == list(range(t.frames[0], t.frames[0] + 32))  # consecutive frames
        assert t.boxes == tuple(track.box_at(f) for f in t.frames)
        assert (t.track_id, t.label, t.category) == (7, 3, "Dress")
    assert [t.window for t in trajectories] == [0, 1, 2]


def test_a_track_of_exactly_t_frames_is_one_trajectory():
    assert [t.frames for t in unify_track(make_track(32, start=0))] == [tuple(range(32))]


def test_a_short_track_is_looped_or_resampled_to_t_frames():
    looped = unify_track(make_track(5, start=0), length=12, short="loop")
    assert len(looped) == 1 and looped[0].frames == (0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1)
    resampled = unify_track(make_track(5, start=0), length=9, short="resample")
    assert resampled[0].frames == (0, 0, 1, 2, 2, 2, 3, 4, 4)  # spread evenly from first to last, in order


def test_unify_tracks_concatenates_and_skips_empty_tracks():
    assert len(unify_tracks([make_track(40), make_track(3), Track(1)], length=32)) == 3
    assert unified_positions(0, 32) == []


def test_bad_settings_name_the_key():
    with pytest.raises(ConfigError, match="pipeline.trajectories.short='pad'"):
        unify_track(make_track(5), 8, short="pad")
    with pytest.raises(ConfigError, match="pipeline.trajectories.length=0"):
        unify_track(make_track(5), 0)
