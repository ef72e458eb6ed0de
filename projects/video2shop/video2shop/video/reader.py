"""Reading sampled frames from real video files with decord, robust to lying headers.

Headers may claim more frames than exist, or a wrong fps. Frames are addressed by index only (fps
is never used), and the claimed count is verified by reading the last one. When a batch read
fails, or decord cannot open the file at all (a truncated mp4 whose index still lists every frame
fails decord's indexing at open), what really exists is decoded sequentially (decord, else
OpenCV) and the indices are clamped to it. Unreadable files raise VideoReadError naming the file.
Every native call runs with decoder log lines hidden (native_stderr).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import decord
import numpy as np

from mmf_ext.utils.errors import UserError
from video2shop.video.native_stderr import hidden_native_stderr
from video2shop.video.sampling import evenly_spaced

# decord's fault tolerance (`open_reader(strict=True)`) as a fraction of the frame count: any frame it
# would replace by a copy of the nearest decoded one (a frame it cannot decode) raises instead
NO_FAULT_TOLERANCE = "1e-12"
_DECORD_NOISE = re.compile(r"\[\d\d:\d\d:\d\d\] \S+?:\d+: (Error: )?|\[[^\]]*\]\s*")

READER_VERSION = 1  # bump whenever read_frames returns other pixels or frames for the same file and indices


class VideoReadError(UserError):
    """A video that cannot be decoded at all; `reason` is the decoder's own words, when it gave some."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise VideoReadError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise VideoReadError(f"{path}: empty video file")


def open_reader(path: Path, strict: bool = False) -> decord.VideoReader:
    """decord's reader of a video file (CPU, one thread: what every read here uses), or VideoReadError.

    `strict`: a frame decord cannot decode raises, instead of coming back as a copy of the nearest
    decoded one (decord's default, which the training and report reads here keep).
    """
    _check_file(path)
    fault_tol = NO_FAULT_TOLERANCE if strict else -1
    try:
        with hidden_native_stderr():
            return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1, fault_tol=fault_tol)
    except Exception as error:  # decord raises its own DECORDError types
        reason = decoder_message(error)
        raise VideoReadError(f"{path}: cannot decode video ({reason})", reason) from None


def decoder_message(error: BaseException) -> str:
    """A decoder exception's first line, short and without decord's timestamps, source lines and file name."""
    text = (str(error).strip().splitlines() or [""])[0]
    text = _DECORD_NOISE.sub("", text).strip() or type(error).__name__
    if "duplicate frames that are corrupted" in text:  # our fault_tol tripped
        return "a frame does not decode"
    return text if len(text) <= 120 else text[:117] + "..."


def decord_frame(reader: decord.VideoReader, index: int) -> np.ndarray:
    """One RGB frame [H, W, 3] from decord, its log lines hidden (raises what decord raises)."""
    with hidden_native_stderr():
        return unpad_rgb(reader[index].asnumpy())


def _decord_batch(reader: decord.VideoReader, indices: list[int]) -> np.ndarray:
    """RGB frames [N, H, W, 3] from decord, its log lines hidden (raises what decord raises)."""
    with hidden_native_stderr():
        return unpad_rgb(reader.get_batch(indices).asnumpy())


def unpad_rgb(frames: np.ndarray) -> np.ndarray:
    """Undo decord's row padding: for widths whose RGB row is padded to 4 bytes a pixel (e.g. 48),
    decord returns [..., H, W, 4] holding W*3 RGB bytes then padding in each row."""
    if frames.shape[-1] == 3:
        return frames
    *lead, height, width, channels = frames.shape
    rows = frames.reshape(*lead, height, width * channels)[..., : width * 3]
    return np.ascontiguousarray(rows.reshape(*lead, height, width, 3))


def opencv_frames(path: Path) -> Iterator[np.ndarray]:
    """RGB frames in order as far as OpenCV's decoder gets (it reads truncated files decord rejects, and
    goes on past frames it cannot decode), each decoded when asked for."""
    # FFmpeg's frame-threaded decoders log from their own threads between two reads too: the capture's whole
    # life stays inside the hidden region (our own messages still show through Python's stderr)
    with hidden_native_stderr():
        capture = cv2.VideoCapture(str(path))
        try:
            while capture.isOpened():
                ok, frame = capture.read()
                if not ok or frame is None:
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()


def _sequential_frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame that really decodes, in order: decord frame by frame, else OpenCV."""
    try:
        reader = open_reader(path)
    except VideoReadError:
        reader = None
    produced = 0
    if reader is not None:
        for index in range(len(reader)):
            try:
                frame = decord_frame(reader, index)
            except Exception:
                break
            produced += 1
            yield frame
    if produced == 0:
        yield from opencv_frames(path)


def _unreadable(path: Path, error: VideoReadError | None) -> VideoReadError:
    if error is not None:
        return error
    return VideoReadError(f"{path}: no frame could be decoded (truncated or corrupt file)")


def frame_count(path: str | os.PathLike) -> int:
    """Frames that really decode (the header's count, verified by reading the last one)."""
    path = Path(path)
    _check_file(path)
    try:
        reader = open_reader(path)
        claimed = len(reader)
    except VideoReadError as error:
        reader, claimed, open_error = None, 0, error
    else:
        open_error = None
    if reader is not None and claimed > 0:
        try:
            decord_frame(reader, claimed - 1)
            return claimed
        except Exception:
            pass
    real = sum(1 for _ in _sequential_frames(path))
    if real == 0:
        raise _unreadable(path, open_error if open_error else VideoReadError(f"{path}: video has no frames"))
    return real


def _read_sequentially(
    path: Path, indices: list[int] | None, count: int, open_error: VideoReadError | None
) -> tuple[np.ndarray, list[int]]:
    """The wanted frames from one in-order pass, keeping only those (not the whole video)."""
    if indices is None:  # spread over the frames that exist, not over the header's claim
        real = sum(1 for _ in _sequential_frames(path))
        if real == 0:
            raise _unreadable(path, open_error)
        indices = evenly_spaced(0, real - 1, count)
    indices = [max(0, int(i)) for i in indices]
    wanted, top = set(indices), max(indices)
    kept: dict[int, np.ndarray] = {}
    last, decoded = None, 0
    for index, frame in enumerate(_sequential_frames(path)):
        last, decoded = frame, index + 1
        if index in wanted:
            kept[index] = frame
        if index >= top:
            break
    if last is None:
        raise _unreadable(path, open_error)
    kept[decoded - 1] = last
    read = [min(i, decoded - 1) for i in indices]
    return np.stack([kept[i] for i in read]), read


def read_frames(
    path: str | os.PathLike, indices: list[int] | None = None, count: int | None = None
) -> tuple[np.ndarray, list[int]]:
    """RGB frames [N, H, W, 3] at `indices` (clamped to what exists), and the indices read.

    With `indices=None`, `count` frames evenly spaced over the whole video are read.
    """
    path = Path(path)
    count = int(count or 1)
    _check_file(path)
    open_error: VideoReadError | None = None
    try:
        reader = open_reader(path)
    except VideoReadError as error:
        reader, open_error = None, error
    if reader is not None and len(reader) > 0:
        claimed = len(reader)
        try:
            if indices is None:
                decord_frame(reader, claimed - 1)  # the header may claim frames that do not exist
                wanted = evenly_spaced(0, claimed - 1, count)
            else:
                wanted = [min(max(0, int(i)), claimed - 1) for i in indices]
            return _decord_batch(reader, wanted), wanted
        except Exception:
            pass
        if indices is not None:
            indices = [min(max(0, int(i)), claimed - 1) for i in indices]
    return _read_sequentially(path, indices, count, open_error)
