"""BaseDataset: MMF's dataset contract (a torch Dataset of Samples that knows its name and split)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig
from torch.utils.data import Dataset

from mmf_ext.common.sample import Sample, SampleList


class BaseDataset(Dataset):
    """Items are `Sample`s. The framework adds `sample_index` to each item it loads.

    `eval_sample_fields` names the light per-sample fields (ids, targets) that evaluation gathers
    across ranks beside the model's outputs; heavy inputs (frames, images) are never gathered.
    """

    eval_sample_fields: tuple[str, ...] = ("targets",)

    def __init__(self, dataset_name: str, config: DictConfig, dataset_type: str = "train") -> None:
        super().__init__()
        self.dataset_name = dataset_name
        self.config = config
        self.dataset_type = dataset_type

    def __getitem__(self, index: int) -> Sample:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def format_for_prediction(
        self, sample_list: SampleList, model_output: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Rows written by `mmf_predict`; the default writes each sample's index and outputs."""
        from mmf_ext.utils.predictions import default_prediction_rows

        return default_prediction_rows(sample_list, model_output)
