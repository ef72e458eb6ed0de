"""Frame sampling, decord reading of real files (including lying and broken ones), the frame cache."""

import logging

import numpy as np
import pytest

from tests.helpers import moving_video
from video2shop.datasets.trajectories import TrajectoryLoader
from video2shop.video import reader as reader_module
from video2shop.video.cache import FrameCache
from video2shop.video.crops import crop_box
from video2shop.video.reader import VideoReadError, frame_count, read_frames
from video2shop.video.sampling import evenly_spaced, interpolate_box


def test_even_sampling_is_deterministic_and_spans_the_range():
    assert evenly_spaced(0, 99, 10) == [5, 15, 25, 35, 45, 55, 65, 75, 85, 95]  # bin centres
    assert evenly_spaced(5, 5, 3) == [5, 5, 5]
    assert evenly_spaced(0, 9, 4) == evenly_spaced(0, 9, 4)


def test_missing_tracklet_frames_are_interpolated_from_neighbours():
    tracklet = {0: [0, 0, 10, 10], 4: [4, 8, 14, 18]}
    assert interpolate_box(tracklet, 2) == [2, 4, 12, 14]
    assert interpolate_box(tracklet, 9) == [4, 8, 14, 18]


def test_crops_keep_a_context_margin_clipped_to_the_frame():
    frame = np.zeros((50, 60, 3), np.uint8)
    assert crop_box(frame, [10, 10, 30, 20], 0.5).shape == (20, 40, 3)
    assert crop_box(frame, [0, 0, 60, 50], 0.2).shape == (50, 60, 3)


def test_reading_clamps_indices_past_the_real_end(tmp_path):
    moving_video(tmp_path / "v.mp4", frames=12)
    frames, read = read_frames(tmp_path / "v.mp4", [0, 5, 30])
    assert frames.shape == (3, 48, 48, 3) and read == [0, 5, 11]
    assert frame_count(tmp_path / "v.mp4") == 12


def test_a_failing_batch_read_falls_back_to_decoding_what_exists(tmp_path, monkeypatch):
    import decord

    moving_video(tmp_path / "v.mp4", frames=8)

    def broken_get_batch(self, indices):
        raise decord.DECORDError("header claims frames that do not exist")

    monkeypatch.setattr(decord.VideoReader, "get_batch", broken_get_batch)
    frames, read = read_frames(tmp_path / "v.mp4", [1, 7])
    assert frames.shape[0] == 2 and read == [1, 7]


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 50, "truncated"])
def test_unreadable_files_raise_a_one_line_error_naming_the_file(tmp_path, content):
    path = tmp_path / "bad.mp4"
    if content == "truncated":
        moving_video(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(VideoReadError) as error:
        read_frames(path, [0])
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_unreadable_videos_are_skipped_with_a_warning_unless_strict(tmp_path, caplog):
    (tmp_path / "bad.mp4").write_bytes(b"garbage" * 100)
    loader = TrajectoryLoader(4, 16, 0.1, FrameCache(None), strict=False)
    project_logger = logging.getLogger("mmf_ext")  # a run may have stopped it propagating to root
    project_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="mmf_ext"):
            assert loader.load(tmp_path / "bad.mp4", None) is None
    finally:
        project_logger.removeHandler(caplog.handler)
    assert "skipping unreadable video" in caplog.text and len(loader.failed) == 1
    strict = TrajectoryLoader(4, 16, 0.1, FrameCache(None), strict=True)
    with pytest.raises(VideoReadError, match="bad.mp4"):
        strict.load(tmp_path / "bad.mp4", None)


def test_the_cache_decodes_once_and_rebuilds_a_damaged_entry(tmp_path, monkeypatch):
    boxes = moving_video(tmp_path / "v.mp4", frames=12)
    tracklet = dict(enumerate(boxes))
    cache = FrameCache(tmp_path / "cache")
    loader = TrajectoryLoader(4, 16, 0.1, cache, strict=True)
    first = loader.load(tmp_path / "v.mp4", tracklet)
    assert first.shape == (4, 3, 16, 16) and first.dtype == np.uint8 and cache.misses == 1

    calls = []
    monkeypatch.setattr(reader_module, "read_frames", lambda *a, **k: calls.append(1))
    assert np.array_equal(loader.load(tmp_path / "v.mp4", tracklet), first) and cache.hits == 1 and not calls
    monkeypatch.undo()

    (entry,) = (tmp_path / "cache").rglob("*.npy")
    entry.write_bytes(entry.read_bytes()[:40])
    assert np.array_equal(loader.load(tmp_path / "v.mp4", tracklet), first) and cache.rebuilt == 1
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    other = TrajectoryLoader(5, 16, 0.1, cache, strict=True).load(tmp_path / "v.mp4", tracklet)
    assert other.shape[0] == 5  # other sampling parameters get their own entry


def test_frames_of_padded_widths_come_back_as_rgb(tmp_path):
    from video2shop.datasets.synthetic import write_mp4

    frame = np.zeros((48, 48, 3), np.uint8)
    frame[:, :24], frame[:, 24:] = (200, 30, 30), (30, 30, 200)
    write_mp4(tmp_path / "w48.mp4", [frame] * 3)
    frames, _ = read_frames(tmp_path / "w48.mp4", [1])
    assert frames.shape == (1, 48, 48, 3)
    assert frames[0, 10, 5, 0] > 150 and frames[0, 10, 40, 2] > 150


def test_a_tracklet_box_outside_the_frame_is_a_one_line_error(tmp_path):
    from video2shop.datasets.manifest import ManifestError

    moving_video(tmp_path / "v.mp4", frames=6)
    loader = TrajectoryLoader(2, 16, 0.1, FrameCache(None), strict=False)
    with pytest.raises(ManifestError, match="lies outside the 48x48 frame"):
        loader.load(tmp_path / "v.mp4", {0: [0, 0, 90, 20]})
