import torch

from mmf.common.registry import registry
from mmf.modules.metrics import BaseMetric


@registry.register_metric("toy_accuracy")
class ToyAccuracy(BaseMetric):
    def __init__(self):
        super().__init__("toy_accuracy")

    def calculate(self, sample_list, model_output, *args, **kwargs):
        output = model_output["scores"]
        expected = sample_list["targets"]
        if output.dim() == 2:
            output = torch.max(output, 1)[1]
        if expected.dim() == 2:
            expected = torch.max(expected, 1)[1]
        correct = (expected == output.squeeze()).sum().float()
        return correct / len(expected)
