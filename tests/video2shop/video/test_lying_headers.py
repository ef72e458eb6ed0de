"""Videos whose container header lies: frames are decoded as they exist, sampled by frame index.

The files are real mp4s patched at the byte level: a truncated file whose index (moved to the
front, as streaming encoders write it) still lists every frame, and a file whose media timescale
claims four times the real fps.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import moving_video
from video2shop.datasets.trajectories import TrajectoryLoader
from video2shop.video.cache import FrameCache
from video2shop.video.reader import frame_count, read_frames

FRAMES = 30
SIZE = 80  # the square (x = 4 + 2i, 16 wide) stays inside the frame for all 30 frames


def _top_level_boxes(data: bytes) -> list[tuple[str, int, int]]:
    boxes, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.append((kind.decode("latin-1"), offset, size))
        offset += size
    return boxes


def _index_first(data: bytes) -> bytes:
    """The same mp4 with its `moov` index before `mdat` (chunk offsets shifted to match)."""
    boxes = _top_level_boxes(data)
    _, start, size = next(b for b in boxes if b[0] == "moov")
    moov = bytearray(data[start : start + size])
    stco = moov.find(b"stco")
    assert stco > 0, "the test video has no 32-bit chunk offset table"
    entries = struct.unpack(">I", moov[stco + 8 : stco + 12])[0]
    for k in range(entries):
        at = stco + 12 + 4 * k
        moov[at : at + 4] = struct.pack(">I", struct.unpack(">I", moov[at : at + 4])[0] + size)
    head = b"".join(data[s : s + n] for kind, s, n in boxes if kind == "ftyp")
    body = b"".join(data[s : s + n] for kind, s, n in boxes if kind not in ("ftyp", "moov"))
    return head + bytes(moov) + body


def _square_left_edge(frame: np.ndarray) -> int:
    """Column where the red square (rows 10-30) starts."""
    redness = frame[10:30, :, 0].astype(int) - frame[10:30, :, 1].astype(int)
    return int(np.argmax(redness.mean(0) > 80))


@pytest.fixture
def truncated_video(tmp_path: Path) -> Path:
    """Header lists 30 frames; the second half of the frame data is gone."""
    path = tmp_path / "truncated.mp4"
    moving_video(path, frames=FRAMES, size=SIZE)
    data = _index_first(path.read_bytes())
    path.write_bytes(data[: len(data) - len(data) // 3])
    return path


@pytest.fixture
def fast_header_video(tmp_path: Path) -> Path:
    """Real 12 fps, header claims 48 fps (the media timescale multiplied by four)."""
    path = tmp_path / "fps.mp4"
    moving_video(path, frames=FRAMES, size=SIZE)
    data = bytearray(path.read_bytes())
    mdhd = data.find(b"mdhd")
    version = data[mdhd + 4]
    at = mdhd + 8 + (16 if version == 1 else 8)
    data[at : at + 4] = struct.pack(">I", struct.unpack(">I", data[at : at + 4])[0] * 4)
    path.write_bytes(bytes(data))
    return path


def test_a_truncated_video_whose_header_claims_every_frame_decodes_what_exists(truncated_video):
    import cv2

    claimed = cv2.VideoCapture(str(truncated_video)).get(cv2.CAP_PROP_FRAME_COUNT)
    assert claimed == FRAMES  # the header really lies
    real = frame_count(truncated_video)
    assert 0 < real < FRAMES
    frames, read = read_frames(truncated_video, None, count=4)
    assert frames.shape == (4, SIZE, SIZE, 3) and len(set(read)) == 4 and max(read) < real
    frames, read = read_frames(truncated_video, [0, 2, FRAMES - 1])
    assert read == [0, 2, real - 1]
    assert [_square_left_edge(f) for f in frames] == pytest.approx([4, 8, 4 + 2 * (real - 1)], abs=2)


def test_a_tracklet_past_the_real_end_is_sampled_over_the_frames_that_exist(truncated_video):
    boxes = [[4 + 2 * i, 10, 20 + 2 * i, 30] for i in range(FRAMES)]
    loader = TrajectoryLoader(4, 16, 0.0, FrameCache(None), strict=True)
    crops = loader.load(truncated_video, dict(enumerate(boxes)))
    assert crops.shape == (4, 3, 16, 16)
    # every crop follows the square: mostly red, not the noise background
    assert all(crop[0].mean() > 150 and crop[1].mean() < 90 for crop in crops)


def test_a_video_without_tracklet_is_spread_over_real_frames_when_the_count_lies(tmp_path, monkeypatch):
    import decord

    moving_video(tmp_path / "v.mp4", frames=12)
    monkeypatch.setattr(decord.VideoReader, "__len__", lambda self: 100)  # header claims 100 frames
    assert frame_count(tmp_path / "v.mp4") == 12
    frames, read = read_frames(tmp_path / "v.mp4", None, count=4)
    assert read == [1, 4, 7, 10]  # evenly over the 12 real frames, not all clamped to the last
    assert [_square_left_edge(f) for f in frames] == pytest.approx([6, 12, 18, 24], abs=2)


def test_a_wrong_fps_does_not_move_frames_or_tracklet_spans(fast_header_video):
    import decord

    assert decord.VideoReader(str(fast_header_video)).get_avg_fps() == pytest.approx(48.0)
    assert frame_count(fast_header_video) == FRAMES
    frames, read = read_frames(fast_header_video, [0, 10, 29])
    assert read == [0, 10, 29]
    assert [_square_left_edge(f) for f in frames] == pytest.approx([4, 24, 62], abs=2)
    boxes = {i: [4 + 2 * i, 10, 20 + 2 * i, 30] for i in range(0, FRAMES, 5)}
    crops = TrajectoryLoader(4, 16, 0.0, FrameCache(None), strict=True).load(fast_header_video, boxes)
    assert all(crop[0].mean() > 150 and crop[1].mean() < 90 for crop in crops)
