"""Every frame of a video in order, for a search: OpenCV's decoder, continued by decord where it stops.

Frames are decoded in order and never kept (memory does not grow with the video's length), so the
stream decodes with cv2.VideoCapture, which decodes each frame when asked. decord is the second
decoder, not the first, because of how it streams: its first read after opening pushes packets to
its decoder thread until a frame comes back (hundreds of them), and when the consumer is slower than
the decoder (detection and tracking are) the thread turns every one into an RGB frame held in an
unbounded queue: the RSS grows by about one decoded frame per frame read, for hundreds of frames,
and falls back only when the reader is closed. `python scripts/benchmark.py pipeline` measures the
search's peak RSS at two video lengths (README).

When OpenCV cannot read the file, or stops before the frames the header claims, decord decodes it
again in order from the start (never by seeking, which lands on the wrong frames in a file whose
packets do not map one to one to frames) and goes on from where OpenCV stopped, with no fault
tolerance (a frame it cannot decode raises, instead of coming back as a copy of its neighbour).
The stream records what decoded (the last good frame, the decoders used), so the caller can say in
one line which frame was the last good one when frames are missing. Decoder log lines stay hidden
(native_stderr).

Streaming also fixes glibc's mmap threshold at its 128 KB default. glibc raises the threshold each
time a freed block had been mapped (up to 32 MB), after which frame-sized blocks (a 1080p RGB frame
is 6 MB, the detector's float copy of it 25 MB) come from the heap, where the crops and tracks that
outlive each frame pin them, and the RSS of a long 1080p search crept up by hundreds of MB. With
the threshold fixed such blocks are mapped and unmapped whole.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from video2shop.video.native_stderr import hidden_native_stderr
from video2shop.video.reader import (
    VideoReadError,
    decoder_message,
    decord_frame,
    open_reader,
    opencv_frames,
)

M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's default, kept from moving up
_threshold_fixed = False


def fix_mmap_threshold() -> None:
    """Keep frame-sized blocks out of glibc's heap for the rest of the process (see the module doc); once,
    and nothing where the C library is not glibc."""
    global _threshold_fixed
    if _threshold_fixed:
        return
    _threshold_fixed = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):  # no libc by that name, or one without mallopt (musl, macOS)
        pass


@dataclass
class VideoProbe:
    """What a video's header says, and the decoder that could read its first frame."""

    claimed_frames: int  # 0: the header does not say
    fps: float  # 0.0: the header does not say
    width: int
    height: int
    decoder: str  # "decord" or "opencv"


def probe_video(path: str | os.PathLike) -> VideoProbe:
    """The header's frame count and fps and the first frame's size: decord's, else OpenCV's, else
    VideoReadError naming the file and both decoders' reasons."""
    path = Path(path)
    try:
        # decord's reader decodes ahead in its own threads, which log while it lives and as it is freed: the
        # whole life of the reader stays inside the hidden region
        with hidden_native_stderr():
            reader = open_reader(path)
            try:
                claimed = len(reader)
                fps = float(reader.get_avg_fps() or 0.0)
                height, width = decord_frame(reader, 0).shape[:2]
            finally:
                del reader
        return VideoProbe(claimed, fps, int(width), int(height), "decord")
    except VideoReadError as error:  # decord cannot open it
        decord_reason = error.reason or "cannot open it"
    except Exception as error:  # not even its first frame
        decord_reason = decoder_message(error)
    with hidden_native_stderr():
        capture = cv2.VideoCapture(str(path))
        try:
            ok, frame = capture.read()
            claimed = int(max(0.0, capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0))
            fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        finally:
            capture.release()
    if not ok or frame is None:
        raise VideoReadError(f"{path}: cannot decode video (decord: {decord_reason}; OpenCV: no frame decodes)")
    return VideoProbe(claimed, fps, int(frame.shape[1]), int(frame.shape[0]), "opencv")


class FrameStream:
    """(frame index, RGB uint8 [H, W, 3]) for every `stride`-th frame below `claimed` that decodes, in order.

    Iterate once; then `last_good` is the last frame decoded (-1: none), `decoders` those used,
    `stopped_early` whether decoding ended before `claimed`, and `shortfall()` says so in one line.
    `claimed` <= 0 (the header does not say) reads to the end of the file.
    """

    def __init__(self, path: str | os.PathLike, claimed: int, stride: int = 1) -> None:
        self.path = Path(path)
        self.claimed = int(claimed)
        self.stride = max(1, int(stride))
        self.last_good = -1
        self.decoders: list[str] = []
        self.decord_error: str | None = None  # why decord stopped, when it was needed and did
        self.stopped_early = False

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        fix_mmap_threshold()
        stopped_at = yield from self._opencv()
        if stopped_at is not None:
            yield from self._decord(stopped_at)
        if self.last_good < 0:
            raise VideoReadError(
                f"{self.path}: no frame decodes (OpenCV: none; decord: {self.decord_error or 'no frame'})"
            )
        self.stopped_early = self.claimed > 0 and self.last_good + 1 < self.claimed

    def _wanted(self, index: int) -> bool:
        self.last_good = index  # decoded, whether or not the stride keeps it
        return index % self.stride == 0

    def _opencv(self) -> Iterator[tuple[int, np.ndarray]]:
        """OpenCV's frames; returns the frame it stopped at before `claimed` (None: it read them all)."""
        self.decoders.append("opencv")
        index = -1
        for index, frame in enumerate(opencv_frames(self.path)):
            if 0 < self.claimed <= index:
                return None
            if self._wanted(index):
                yield index, frame
        # without a header count (claimed <= 0) the end of what decodes is the end of the file
        return index + 1 if index + 1 < self.claimed or index < 0 else None

    def _decord(self, start: int) -> Iterator[tuple[int, np.ndarray]]:
        """decord's frames from `start` on, decoded in order from the first (frames before `start` dropped)."""
        with hidden_native_stderr():  # the reader's own threads log while it lives (see probe_video)
            try:
                reader = open_reader(self.path, strict=True)
            except VideoReadError as error:
                self.decord_error = f"cannot open it ({error.reason})" if error.reason else "cannot open it"
                return
            self.decoders.append("decord")
            try:
                end = self.claimed if self.claimed > 0 else len(reader)
                for index in range(end):
                    try:
                        frame = decord_frame(reader, index)
                    except Exception as error:  # decord raises its own DECORDError types, IndexError past its end
                        self.decord_error = decoder_message(error) if index >= start else f"stops before frame {start}"
                        return
                    if index >= start and self._wanted(index):
                        yield index, frame
            finally:
                del reader

    def shortfall(self) -> str | None:
        """One line when decoding ended before the frames the header claims (None: nothing missing)."""
        if not self.stopped_early or self.last_good < 0:
            return None
        last = self.last_good
        return (
            f"{self.path}: the header claims {self.claimed} frames, only frames 0-{last} decode (OpenCV and "
            f"decord stop there; decord: {self.decord_error}); frame {last} is the last good one, frames "
            f"0-{last} were searched"
        )
