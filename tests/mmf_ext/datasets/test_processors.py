"""Processors: built from {type, params}, MMF's constructor, built-ins, refused MMF names."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.datasets.processors import BaseProcessor, Processor, build_processors
from mmf_ext.datasets.processors.processors import tokenize, word_tokenize
from mmf_ext.utils.errors import ConfigError


@registry.register_processor("test_upper")
class UpperProcessor(BaseProcessor):
    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.suffix = config.get("suffix", "")
        self.data_dir = kwargs.get("data_dir")

    def __call__(self, item):
        return {"text": item["text"].upper() + self.suffix}


def test_base_processor_takes_its_config_positionally_or_by_keyword_and_passes_items_through():
    assert BaseProcessor({"a": 1}).config == {"a": 1}
    assert BaseProcessor(config={"a": 2}, data_dir="/d").config == {"a": 2}
    assert BaseProcessor()("item") == "item"


def test_processor_builds_the_registered_class_with_params_and_forwards_attributes():
    processor = Processor({"type": "test_upper", "params": {"suffix": "!"}}, data_dir="/data")
    assert processor({"text": "hi"}) == {"text": "HI!"}
    assert processor.suffix == "!" and processor.data_dir == "/data"  # read through the wrapper
    assert isinstance(processor.processor, UpperProcessor)
    with pytest.raises(AttributeError, match="UpperProcessor has no attribute 'nope'"):
        _ = processor.nope


def test_a_processor_without_params_gets_an_empty_config():
    assert Processor(OmegaConf.create({"type": "test_upper"}))({"text": "a"}) == {"text": "A"}


def test_a_processor_config_without_type_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="must have a 'type'"):
        Processor({"params": {}})


def test_build_processors_skips_empty_entries_and_reuses_a_registered_instance_built_alike():
    config = OmegaConf.create({"text_processor": {"type": "test_upper"}, "unused": None})
    first = build_processors(config, "reuse_data_{}")
    assert list(first) == ["text_processor"]
    registry.register("reuse_data_text_processor", first["text_processor"])
    assert build_processors(config, "reuse_data_{}")["text_processor"] is first["text_processor"]
    other = OmegaConf.create({"text_processor": {"type": "test_upper", "params": {"suffix": "?"}}})
    rebuilt = build_processors(other, "reuse_data_{}")["text_processor"]
    assert rebuilt is not first["text_processor"] and rebuilt({"text": "a"}) == {"text": "A?"}
    registry.unregister("reuse_data_text_processor")


def test_simple_sentence_and_simple_word_tokenize_as_mmf():
    assert tokenize("What's on the TABLE, left?") == ["what", "'", "s", "on", "the", "table", "left"]
    assert word_tokenize("Man's?") == "man 's"
    sentence = Processor({"type": "simple_sentence"})
    assert sentence({"text": "A cat. A dog"}) == {"text": ["a", "cat", ".", "a", "dog"]}
    assert Processor({"type": "simple_word"})({"text": "Dog,"}) == {"text": "dog"}


def test_copy_pads_or_cuts_a_blob_to_max_length():
    copy = Processor({"type": "copy", "params": {"max_length": 3}})
    padded = copy({"blob": np.ones((2, 4), np.float32)})["blob"]
    assert padded.shape == (3, 4) and padded[2].sum() == 0 and padded.dtype == torch.float32
    assert copy({"blob": torch.arange(10).view(5, 2)})["blob"].tolist() == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(ConfigError, match="needs params.max_length"):
        Processor({"type": "copy"})


def test_torchvision_transforms_compose_torchvision_and_registered_processors():
    processor = Processor(
        {
            "type": "torchvision_transforms",
            "params": {
                "transforms": [
                    {"type": "Normalize", "params": {"mean": [0.5], "std": [0.5]}},
                    "GrayScaleTo3Channels",
                    {"type": "CenterCrop", "params": [2]},
                ]
            },
        }
    )
    image = torch.ones(1, 4, 4)
    out = processor(image)
    assert out.shape == (3, 2, 2) and torch.allclose(out, torch.ones(3, 2, 2))
    assert processor({"image": image})["image"].shape == (3, 2, 2)


def test_an_unknown_transform_names_where_it_was_looked_for():
    with pytest.raises(ConfigError, match="'NoSuchTransform' is neither in torchvision.transforms nor a registered"):
        Processor({"type": "torchvision_transforms", "params": {"transforms": ["NoSuchTransform"]}})


@pytest.mark.parametrize("name", ["bert_tokenizer", "vocab", "glove", "fasttext", "masked_token"])
def test_download_dependent_mmf_processors_refuse_at_construction_in_one_line(name):
    with pytest.raises(ConfigError) as error:
        Processor({"type": name, "params": {}})
    message = str(error.value)
    assert "\n" not in message and f"processor {name!r} (MMF's) is not available here" in message
    assert "downloaded vocabularies, embeddings or tokenizers" in message
