"""The frame stream: decord, continued by OpenCV where decord fails; what is missing said in one line;
decoder log lines kept off fd 2.

The damaged files are real ones patched at the byte level: an mp4 cut short with its index still
listing every frame, and an AVI whose index lists a not-coded MPEG-4 frame (an N-VOP, which decodes
to nothing) after every real one, so decord claims twice the frames that decode (as the 682-claimed,
341-decoded AVI of the issue).
"""

from __future__ import annotations

import itertools
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.helpers import cli_env, moving_video
from tests.video2shop.video.test_lying_headers import _index_first, _square_left_edge
from video2shop.video import stream as stream_module
from video2shop.video.native_stderr import hidden_native_stderr, show_native_stderr
from video2shop.video.reader import VideoReadError
from video2shop.video.stream import FrameStream, probe_video

FRAMES = 30
SIZE = 80
# an MPEG-4 P-VOP with vop_coded = 0 for a 25 fps stream (5-bit time increment): it decodes to no frame
NOT_CODED_VOP = bytes.fromhex("000001b6504f")


def truncated_mp4(path: Path) -> Path:
    """30 frames in the header's index, the last third of the frame data gone."""
    moving_video(path, frames=FRAMES, size=SIZE)
    data = _index_first(path.read_bytes())
    path.write_bytes(data[: len(data) - len(data) // 3])
    return path


def _riff_chunks(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    chunks = []
    while start + 8 <= end:
        size = struct.unpack_from("<I", data, start + 4)[0]
        chunks.append((data[start : start + 4], start, size))
        start += 8 + size + (size & 1)
    return chunks


def avi_claiming_twice_its_frames(path: Path, frames: int = 20) -> Path:
    """An XVID AVI of `frames` frames (brightness 10 * i) whose index lists an N-VOP after each: 2x claimed."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"XVID"), 25, (64, 48))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
    writer.release()
    data = bytearray(path.read_bytes())
    movi = data.find(b"movi") - 8  # the LIST header of the frame data
    body = _riff_chunks(data, movi + 12, movi + 8 + struct.unpack_from("<I", data, movi + 4)[0])
    new_body, index = bytearray(b"movi"), bytearray()
    padded = NOT_CODED_VOP + b"\0" * (len(NOT_CODED_VOP) & 1)
    for fourcc, start, size in body:
        real = bytes(data[start : start + 8 + size + (size & 1)])
        empty = fourcc + struct.pack("<I", len(NOT_CODED_VOP)) + padded
        for chunk, flags, length in ((real, 0x10, size), (empty, 0, len(NOT_CODED_VOP))):
            index += fourcc + struct.pack("<III", flags, len(new_body), length)
            new_body += chunk
    head = data[:movi]
    struct.pack_into("<I", head, head.find(b"avih") + 8 + 16, 2 * len(body))  # total frames
    strh = head.find(b"strh") + 8
    struct.pack_into("<I", head, strh + 24, 50)  # rate 50 (scale 1): 50 fps
    struct.pack_into("<I", head, strh + 32, 2 * len(body))  # length
    out = head + b"LIST" + struct.pack("<I", len(new_body)) + new_body + b"idx1" + struct.pack("<I", len(index)) + index
    struct.pack_into("<I", out, 4, len(out) - 8)
    path.write_bytes(bytes(out))
    return path


def test_an_avi_claiming_more_frames_than_decode_streams_the_real_ones_and_says_so_once(tmp_path):
    import decord

    path = avi_claiming_twice_its_frames(tmp_path / "fields.avi")
    assert len(decord.VideoReader(str(path))) == 40  # the index really claims twice the frames
    probe = probe_video(path)
    assert probe.claimed_frames == 40 and probe.fps == pytest.approx(50.0) and probe.decoder == "decord"
    stream = FrameStream(path, probe.claimed_frames)
    pairs = list(stream)
    indices, brightness = [i for i, _ in pairs], [int(f[..., 0].mean()) for _, f in pairs]
    assert 20 <= len(pairs) <= 21 and indices == list(range(len(pairs)))
    assert all(abs(b - 10 * i) <= 6 for i, b in enumerate(brightness[:20]))  # the real frames, not copies
    assert stream.stopped_early and stream.last_good == len(pairs) - 1 and stream.decoders == ["opencv", "decord"]
    note = stream.shortfall()
    last = len(pairs) - 1
    assert "\n" not in note and str(path) in note and "the header claims 40 frames" in note
    assert f"frame {last} is the last good one" in note and f"frames 0-{last} were searched" in note


def test_a_truncated_mp4_is_read_up_to_its_last_good_frame_and_says_so(tmp_path):
    path = truncated_mp4(tmp_path / "cut.mp4")
    probe = probe_video(path)  # decord cannot open it: its index lists frames whose data is gone
    assert probe.decoder == "opencv" and probe.claimed_frames == FRAMES and (probe.width, probe.height) == (SIZE, SIZE)
    stream = FrameStream(path, probe.claimed_frames)
    pairs = list(stream)
    assert 0 < len(pairs) < FRAMES and [i for i, _ in pairs] == list(range(len(pairs)))
    assert [_square_left_edge(f) for _, f in pairs] == pytest.approx([4 + 2 * i for i in range(len(pairs))], abs=2)
    assert stream.decoders == ["opencv"]  # decord was asked to go on, and could not open it
    note = stream.shortfall()
    assert f"only frames 0-{len(pairs) - 1} decode (OpenCV and decord stop there; decord: cannot open it (" in note
    assert f"frame {len(pairs) - 1} is the last good one" in note


def _clean_frames(path: Path) -> list[np.ndarray]:
    return [frame for _, frame in FrameStream(path, FRAMES)]


def _close(frames, reference) -> bool:
    return len(frames) == len(reference) and all(
        np.abs(a.astype(int) - b.astype(int)).mean() < 2.0 for a, b in zip(frames, reference)
    )


def test_the_header_is_read_by_opencv_when_decord_refuses_the_file(tmp_path, monkeypatch):
    import decord

    path = tmp_path / "v.mp4"
    moving_video(path, frames=FRAMES, size=SIZE)
    clean = _clean_frames(path)

    def refuse(*args, **kwargs):
        raise decord.DECORDError("cannot open")

    monkeypatch.setattr(decord, "VideoReader", refuse)
    probe = probe_video(path)
    assert probe.decoder == "opencv" and probe.claimed_frames == FRAMES and probe.fps == pytest.approx(12.0)
    stream = FrameStream(path, probe.claimed_frames)
    assert _close([frame for _, frame in stream], clean) and stream.shortfall() is None


@pytest.mark.parametrize("opencv_gives", [0, 16])
def test_decord_goes_on_where_opencv_stops(tmp_path, monkeypatch, opencv_gives):
    path = tmp_path / "v.mp4"
    moving_video(path, frames=FRAMES, size=SIZE)
    clean = _clean_frames(path)
    real = stream_module.opencv_frames
    monkeypatch.setattr(stream_module, "opencv_frames", lambda p: itertools.islice(real(p), opencv_gives))
    stream = FrameStream(path, FRAMES)
    pairs = list(stream)
    assert [i for i, _ in pairs] == list(range(FRAMES)) and _close([f for _, f in pairs], clean)
    assert stream.decoders == ["opencv", "decord"] and stream.shortfall() is None  # nothing missing: nothing said
    strided = FrameStream(path, FRAMES, stride=4)
    assert [i for i, _ in strided] == list(range(0, FRAMES, 4))  # before 16 by OpenCV, from 16 by decord


def test_when_both_decoders_stop_the_line_names_the_last_good_frame(tmp_path, monkeypatch):
    import decord

    path = tmp_path / "v.mp4"
    moving_video(path, frames=FRAMES, size=SIZE)
    real, real_getitem = stream_module.opencv_frames, decord.VideoReader.__getitem__

    def fail_from_frame_20(self, index):
        if index >= 20:
            raise decord.DECORDError("[12:00:00] /src/video/ffmpeg/filter_graph.cc:61: Check failed: create_filter")
        return real_getitem(self, index)

    monkeypatch.setattr(stream_module, "opencv_frames", lambda p: itertools.islice(real(p), 10))
    monkeypatch.setattr(decord.VideoReader, "__getitem__", fail_from_frame_20)
    stream = FrameStream(path, FRAMES)
    assert [i for i, _ in stream] == list(range(20))
    note = stream.shortfall()
    assert note == (
        f"{path}: the header claims 30 frames, only frames 0-19 decode (OpenCV and decord stop there; decord: "
        "Check failed: create_filter); frame 19 is the last good one, frames 0-19 were searched"
    )


def test_a_file_neither_decoder_reads_is_one_line_naming_both(tmp_path):
    path = tmp_path / "junk.mp4"
    path.write_bytes(b"\x00\x01 not a video" * 100)
    with pytest.raises(VideoReadError) as error:
        probe_video(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and "decord: " in message and "OpenCV: no frame" in message


def test_decoder_log_lines_never_reach_fd_2_unless_shown(tmp_path, capfd):
    import gc

    path = truncated_mp4(tmp_path / "cut.mp4")
    gc.collect()  # readers left by earlier tests are closed before this test listens
    capfd.readouterr()
    list(FrameStream(path, probe_video(path).claimed_frames))
    assert capfd.readouterr().err == ""
    show_native_stderr(True)
    try:
        list(FrameStream(path, probe_video(path).claimed_frames))
    finally:
        show_native_stderr(False)
    shown = capfd.readouterr().err
    assert "av_read_frame" in shown or "partial file" in shown  # the lines the libraries print, when asked


def test_native_writes_to_fd_2_are_hidden_while_python_stderr_still_shows():
    code = (
        "import os, sys\n"
        "from video2shop.video.native_stderr import hidden_native_stderr\n"
        "with hidden_native_stderr():\n"
        "    os.write(2, b'[buffer @ 0x55] native chatter\\n')\n"
        "    with hidden_native_stderr():\n"
        "        os.write(2, b'nested chatter\\n')\n"
        "    print('ours, inside', file=sys.stderr)\n"
        "print('ours, after', file=sys.stderr)\n"
        "os.write(2, b'native, after\\n')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert done.returncode == 0 and done.stderr == "ours, inside\nours, after\nnative, after\n"


def test_regions_nest_and_restore_fd_2(capfd):
    import os

    with hidden_native_stderr():
        with hidden_native_stderr():
            os.write(2, b"inner\n")
        os.write(2, b"outer\n")
    os.write(2, b"visible\n")
    assert capfd.readouterr().err == "visible\n"
