"""Clothing detection for the pipeline: a trained `clothing_detector` run on raw RGB frames.

`ClothingDetector` builds what `mmf_run` trained from its checkpoint (a weights-only file that
carries its run config, or has the run's config.yaml beside it; see mmf_ext.utils.build), so
inference builds exactly the network that was trained, with the same category list, and never
needs the training data or pretrained files again. It shows the network every frame at the scale
training frames were seen at, whatever the video's resolution (models/detector/frame_scale.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from mmf_ext.utils.build import build_model, load_weights
from mmf_ext.utils.configuration import load_yaml
from mmf_ext.utils.cpu_load import LoadFollower
from mmf_ext.utils.errors import ConfigError, UserError
from video2shop.models.detector.categories import detector_categories
from video2shop.models.detector.frame_scale import MAX_ASPECT
from video2shop.models.detector.frame_scale import frame_short_side as trained_short_side
from video2shop.pipeline.checkpoints import CheckpointFile, read_checkpoint, require_detector_model

MODEL_NAME = "clothing_detector"
LOAD_INTERVAL_S = 2.0  # how often the CPUs' load is read between frames (a frame takes about 50 ms)
logger = logging.getLogger("mmf_ext")


@dataclass(frozen=True)
class Detection:
    """One detected item: box (x1, y1, x2, y2) in pixels, score, category index and name."""

    box: tuple[float, float, float, float]
    score: float
    label: int
    category: str | None = None


def _run_config(checkpoint: CheckpointFile, config: str | os.PathLike | DictConfig | None) -> DictConfig:
    """The training run's config: given (a config or its file), else the checkpoint's."""
    if isinstance(config, DictConfig):
        return config
    if config is not None:
        path = Path(config).expanduser()
        if not path.is_file():
            raise UserError(f"{path}: config file not found; give the training run's config.yaml")
        return load_yaml(path)
    return checkpoint.config


def _inference_config(checkpoint: CheckpointFile, run_config: DictConfig) -> DictConfig:
    """The run config with the detector's categories fixed (the checkpoint's) and nothing pretrained to load."""
    require_detector_model(checkpoint, run_config)
    model_config = run_config.model_config[MODEL_NAME]
    saved = (checkpoint.state.get(MODEL_NAME) or {}).get("categories")
    categories = list(saved) if saved else detector_categories(model_config, run_config)
    fixed = {"categories": categories, "num_classes": None, "pretrained": None, "pretrained_backbone": None}
    return OmegaConf.merge(run_config, {"model": MODEL_NAME, "model_config": {MODEL_NAME: fixed}})


class ClothingDetector:
    """Batched inference of a `clothing_detector` checkpoint on CPU or CUDA, on frames of any size.

    Every frame is resized so its short side is `frame_short_side` (None: the short side training
    frames were seen at, recorded in the checkpoint; models/detector/frame_scale.py), so clothing
    in a 1080p or a 16:9 frame reaches the network at the scale it was trained at.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike | CheckpointFile,
        config: str | os.PathLike | DictConfig | None = None,
        device: str | torch.device | None = None,
        batch_size: int = 8,
        score_threshold: float | None = None,
        frame_short_side: int | None = None,
    ) -> None:
        checkpoint = read_checkpoint(checkpoint)
        run_config = _inference_config(checkpoint, _run_config(checkpoint, config))
        if batch_size < 1:
            raise ConfigError(f"pipeline.detector.batch_size={batch_size}: must be at least 1")
        self.checkpoint = checkpoint.path
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model = build_model(run_config)  # the weights come from `state`, read once
        load_weights(model, checkpoint.state, checkpoint.label)
        self.detector = model.detector.to(self.device).eval()
        if score_threshold is not None:
            self.detector.roi_heads.score_thresh = float(score_threshold)
        self.categories: list[str] = list(model.categories)
        self.batch_size = int(batch_size)
        options = run_config.model_config[MODEL_NAME]
        self.frame_short_side = int(
            frame_short_side or trained_short_side(checkpoint.state.get(MODEL_NAME), options.min_size, options.max_size)
        )
        if self.frame_short_side < 16:
            raise ConfigError(f"pipeline.detector.frame_short_side={self.frame_short_side}: must be at least 16")
        self.detector.transform.min_size = (self.frame_short_side,)
        self.detector.transform.max_size = self.frame_short_side * MAX_ASPECT
        self.load = LoadFollower(LOAD_INTERVAL_S)  # threads per call, beside other processes (see detect)

    @classmethod
    def from_save_dir(cls, save_dir: str | os.PathLike, **options: Any) -> ClothingDetector:
        """The detector of an mmf_run save dir: best.ckpt when validation chose one, else current.ckpt."""
        save_dir = Path(save_dir).expanduser()
        for name in ("best.ckpt", "current.ckpt"):
            if (save_dir / name).is_file():
                return cls(save_dir / name, **options)
        raise UserError(f"{save_dir}: no best.ckpt or current.ckpt; train with mmf_run model=clothing_detector first")

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections per frame (RGB uint8 [H, W, 3] arrays, any sizes), best score first.

        On the CPU each call runs at the threads other processes' load leaves (mmf_ext.utils.cpu_load):
        beside one busy process on 2 cores, 2 threads detected 16x slower than idle, one thread about
        as fast as idle (projects/video2shop/RESULTS.md, "From a raw video").
        """
        if self.device.type != "cpu":
            return self._detect(frames)
        with self.load.step() as others:
            if others is not None:
                logger.info(
                    "other processes kept %.1f of %d CPUs busy: detecting at %d intra-op thread(s) (at most %d)",
                    others,
                    len(self.load.cpus),
                    self.load.threads,
                    self.load.configured,
                )
            return self._detect(frames)

    @torch.inference_mode()
    def _detect(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        results: list[list[Detection]] = []
        for start in range(0, len(frames), self.batch_size):
            batch = []
            for i, frame in enumerate(frames[start : start + self.batch_size], start):
                if (
                    not isinstance(frame, np.ndarray)
                    or frame.ndim != 3
                    or frame.shape[2] != 3
                    or frame.dtype != np.uint8
                ):
                    raise ValueError(
                        f"frame {i}: expected an RGB uint8 array [H, W, 3], got "
                        f"{getattr(frame, 'dtype', type(frame))} {getattr(frame, 'shape', '')}"
                    )
                tensor = torch.from_numpy(np.require(frame, requirements=["C", "W"])).permute(
                    2, 0, 1
                )  # copies read-only arrays
                batch.append(tensor.to(self.device).float().div_(255.0))
            for output in self.detector(batch):
                results.append(
                    [
                        Detection(
                            tuple(float(v) for v in box),
                            float(score),
                            int(label) - 1,
                            self.categories[int(label) - 1] if 0 < int(label) <= len(self.categories) else None,
                        )
                        for box, score, label in zip(
                            output["boxes"].cpu().tolist(),
                            output["scores"].cpu().tolist(),
                            output["labels"].cpu().tolist(),
                        )
                    ]
                )
        return results
