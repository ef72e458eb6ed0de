"""Clothing detection for the pipeline: a trained `clothing_detector` run on raw RGB frames.

`ClothingDetector` builds what `mmf_run` trained from its checkpoint (a weights-only file that
carries its run config, or has the run's config.yaml beside it; see mmf_ext.utils.build), so
inference builds exactly the network that was trained, with the same category list, and never
needs the training data or pretrained files again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from mmf_ext.utils.build import build_model, checkpoint_run_config, load_weights
from mmf_ext.utils.checkpoint import load_checkpoint_file
from mmf_ext.utils.configuration import load_yaml
from mmf_ext.utils.errors import ConfigError, UserError
from video2shop.models.detector.categories import detector_categories

MODEL_NAME = "clothing_detector"


@dataclass(frozen=True)
class Detection:
    """One detected item: box (x1, y1, x2, y2) in pixels, score, category index and name."""

    box: tuple[float, float, float, float]
    score: float
    label: int
    category: str | None = None


def _run_config(checkpoint: Path, state: dict[str, Any], config: str | os.PathLike | DictConfig | None) -> DictConfig:
    """The training run's config: given (a config or its file), else the checkpoint's."""
    if isinstance(config, DictConfig):
        return config
    if config is not None:
        path = Path(config).expanduser()
        if not path.is_file():
            raise UserError(f"{path}: config file not found; give the training run's config.yaml")
        return load_yaml(path)
    return checkpoint_run_config(checkpoint, state)


def _inference_config(checkpoint: Path, state: dict[str, Any], run_config: DictConfig) -> DictConfig:
    """The run config with the detector's categories fixed (the checkpoint's) and nothing pretrained to load."""
    if run_config.get("model") not in (None, MODEL_NAME) or MODEL_NAME not in (run_config.get("model_config") or {}):
        raise UserError(
            f"{checkpoint}: its run trained model {run_config.get('model')!r}, not {MODEL_NAME}; "
            "give a clothing_detector checkpoint"
        )
    model_config = run_config.model_config[MODEL_NAME]
    saved = (state.get(MODEL_NAME) or {}).get("categories")
    categories = list(saved) if saved else detector_categories(model_config, run_config)
    fixed = {"categories": categories, "num_classes": None, "pretrained": None, "pretrained_backbone": None}
    return OmegaConf.merge(run_config, {"model": MODEL_NAME, "model_config": {MODEL_NAME: fixed}})


class ClothingDetector:
    """Batched inference of a `clothing_detector` checkpoint on CPU or CUDA."""

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        config: str | os.PathLike | DictConfig | None = None,
        device: str | torch.device | None = None,
        batch_size: int = 8,
        score_threshold: float | None = None,
    ) -> None:
        checkpoint = Path(checkpoint).expanduser()
        state = load_checkpoint_file(checkpoint)
        run_config = _inference_config(checkpoint, state, _run_config(checkpoint, state, config))
        if batch_size < 1:
            raise ConfigError(f"pipeline.detector.batch_size={batch_size}: must be at least 1")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model = build_model(run_config)  # the weights come from `state`, read once
        load_weights(model, state, checkpoint)
        self.detector = model.detector.to(self.device).eval()
        if score_threshold is not None:
            self.detector.roi_heads.score_thresh = float(score_threshold)
        self.categories: list[str] = list(model.categories)
        self.batch_size = int(batch_size)

    @classmethod
    def from_save_dir(cls, save_dir: str | os.PathLike, **options: Any) -> ClothingDetector:
        """The detector of an mmf_run save dir: best.ckpt when validation chose one, else current.ckpt."""
        save_dir = Path(save_dir).expanduser()
        for name in ("best.ckpt", "current.ckpt"):
            if (save_dir / name).is_file():
                return cls(save_dir / name, **options)
        raise UserError(f"{save_dir}: no best.ckpt or current.ckpt; train with mmf_run model=clothing_detector first")

    @torch.inference_mode()
    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections per frame (RGB uint8 [H, W, 3] arrays, any sizes), best score first."""
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
