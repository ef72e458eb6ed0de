import torch

from mmf.common.registry import registry
from mmf.datasets.processors import BaseProcessor


@registry.register_processor("bag_of_words")
class BagOfWordsProcessor(BaseProcessor):
    """Counts of each vocabulary word in a sentence (the tutorial's simple text processor)."""

    def __init__(self, config, *args, **kwargs):
        self.vocab = list(config.vocab)

    def __call__(self, item):
        tokens = [t.strip() for t in item["text"].split(" ")]
        counts = torch.tensor([tokens.count(word) for word in self.vocab], dtype=torch.float)
        return {"text": counts}
