import json
import logging
import os

import torch

from mmf.common.registry import registry
from mmf.common.sample import Sample
from mmf.datasets.base_dataset import BaseDataset
from mmf.datasets.base_dataset_builder import BaseDatasetBuilder
from mmf.utils.general import get_mmf_root

logger = logging.getLogger(__name__)

COLOURS = ["red", "green", "blue"]


class ToyClevrDataset(BaseDataset):
    def __init__(self, config, dataset_type, data_folder=None, *args, **kwargs):
        super().__init__("toy_clevr", config, dataset_type)
        self._data_folder = data_folder
        with open(os.path.join(self._data_folder, f"{self._dataset_type}.json")) as handle:
            self.questions = json.load(handle)

    def __len__(self):
        return len(self.questions)

    def __getitem__(self, idx):
        data = self.questions[idx]
        current_sample = Sample()
        processed = self.text_processor({"text": data["question"]})  # attached from the config
        current_sample.text = processed["text"]
        current_sample.targets = torch.nn.functional.one_hot(torch.tensor(data["answer"]), len(COLOURS)).float()
        return current_sample


@registry.register_builder("toy_clevr")
class ToyClevrBuilder(BaseDatasetBuilder):
    def __init__(self):
        super().__init__("toy_clevr")
        self.dataset_class = ToyClevrDataset

    @classmethod
    def config_path(cls):
        return "configs/datasets/toy_clevr/defaults.yaml"

    def build(self, config, dataset_type):
        # The tutorial downloads CLEVR here; this one writes its questions (nothing downloads).
        download_folder = os.path.join(get_mmf_root(), config.data_dir, config.data_folder)
        self.data_folder = download_folder
        path = os.path.join(download_folder, f"{dataset_type}.json")
        if os.path.exists(path):
            return
        os.makedirs(download_folder, exist_ok=True)
        generator = torch.Generator().manual_seed({"train": 0, "val": 1, "test": 2}[dataset_type])
        questions = []
        for _ in range(config.sizes[dataset_type]):
            counts = torch.randint(0, 5, (len(COLOURS),), generator=generator)
            counts[torch.randint(0, len(COLOURS), (1,), generator=generator)] += 4
            words = [c for c, n in zip(COLOURS, counts.tolist()) for _ in range(n)]
            order = torch.randperm(len(words), generator=generator).tolist()
            questions.append({"question": " ".join(words[i] for i in order), "answer": int(counts.argmax())})
        with open(path, "w") as handle:
            json.dump(questions, handle)
        logger.info("wrote %d toy questions to %s", len(questions), path)

    def load(self, config, dataset_type, *args, **kwargs):
        folder = os.path.join(get_mmf_root(), config.data_dir, config.data_folder)
        self.dataset = ToyClevrDataset(config, dataset_type, data_folder=folder)
        return self.dataset
