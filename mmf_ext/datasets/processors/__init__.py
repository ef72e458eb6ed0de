"""MMF's processors (`mmf.datasets.processors`): BaseProcessor, Processor, build_processors, built-ins."""

from mmf_ext.datasets.processors.image_processors import GrayScaleTo3Channels, TorchvisionTransforms
from mmf_ext.datasets.processors.processors import (
    BaseProcessor,
    CopyProcessor,
    Processor,
    SimpleSentenceProcessor,
    SimpleWordProcessor,
    build_processors,
)

__all__ = [
    "BaseProcessor",
    "CopyProcessor",
    "GrayScaleTo3Channels",
    "Processor",
    "SimpleSentenceProcessor",
    "SimpleWordProcessor",
    "TorchvisionTransforms",
    "build_processors",
]
