"""Processors: MMF's per-item data transforms, declared in a dataset's config and built by name.

A dataset config names them under `processors:`; `BaseDataset.init_processors()` builds each with
`build_processors` and sets it as an attribute of the dataset (`text_processor:` becomes
`self.text_processor`)::

    dataset_config:
      my_data:
        processors:
          text_processor:
            type: simple_sentence
          image_processor:
            type: torchvision_transforms
            params:
              transforms: [ToTensor, {type: Normalize, params: {mean: [0.5], std: [0.5]}}]

A processor is a registered `BaseProcessor` subclass, built as `cls(params, *args, **kwargs)`
(params as a DictConfig) and called on an item. MMF's processors that need downloaded vocabularies,
embeddings or tokenizers are registered as placeholders that refuse, in one line, to be built.
"""

from __future__ import annotations

import collections.abc
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from mmf_ext.common.registry import registry, unavailable_class
from mmf_ext.utils.errors import ConfigError


class BaseProcessor:
    """Every processor inherits this; implement `__call__(item)`.

    The config comes positionally or as `config=`; extra arguments (MMF passes `data_dir=`) are
    accepted and ignored here.
    """

    def __init__(self, *args: Any, config: Any = None, **kwargs: Any) -> None:
        self.config = config if config is not None else (args[0] if args else None)

    def __call__(self, item: Any, *args: Any, **kwargs: Any) -> Any:
        return item


def _as_config(value: Any) -> Any:
    """Plain dicts and lists become OmegaConf containers, so processors can read `config.key`."""
    if OmegaConf.is_config(value):
        return value
    if isinstance(value, (dict, list)):
        return OmegaConf.create(value)
    return value


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


class Processor:
    """Builds the processor named by `config.type` with `config.params` and stands in for it.

    Calls and attribute reads go to the wrapped processor (`processor.vocab` reaches the
    vocabulary of the processor inside). A missing `params` means `{}`.
    """

    def __init__(self, config: Mapping[str, Any] | DictConfig, *args: Any, **kwargs: Any) -> None:
        config = _as_config(config)
        if not isinstance(config, (collections.abc.Mapping, DictConfig)) or "type" not in config:
            raise ConfigError(f"processor config {_plain(config)!r} must have a 'type' (and optional 'params')")
        processor_class = registry.get_processor_class(config.type)
        params = config.get("params")
        params = OmegaConf.create({}) if params is None else _as_config(params)
        self.processor = processor_class(params, *args, **kwargs)
        self._config = _plain(config)

    def __call__(self, item: Any, *args: Any, **kwargs: Any) -> Any:
        return self.processor(item, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # Only called for names Processor itself lacks; `processor` may be missing while unpickling.
        processor = self.__dict__.get("processor")
        if processor is None:
            raise AttributeError(name)
        try:
            return getattr(processor, name)
        except AttributeError:
            raise AttributeError(f"The processor {type(processor).__name__} has no attribute {name!r}") from None


def build_processors(
    processors_config: Mapping[str, Any] | DictConfig | None,
    registry_key: str | None = None,
    *args: Any,
    **kwargs: Any,
) -> dict[str, Any]:
    """Build each `{key: {type, params}}` entry (empty entries are skipped) into `{key: Processor}`.

    With `registry_key` (e.g. "my_data_{}"), a processor already registered under
    `registry_key.format(key)` is reused, as in MMF, so a dataset's splits share one; unlike MMF,
    one we built from a different config is rebuilt rather than silently reused.
    """
    built: dict[str, Any] = {}
    for key, params in (processors_config or {}).items():
        if not params:
            continue
        existing = registry.get(registry_key.format(key), no_warning=True) if registry_key else None
        if existing is not None and not (isinstance(existing, Processor) and existing._config != _plain(params)):
            built[key] = existing
            continue
        built[key] = Processor(params, *args, **kwargs)
    return built


# -- built-ins that need no download ------------------------------------------------------------
SENTENCE_SPLIT_REGEX = re.compile(r"(\W+)")


def tokenize(
    sentence: str,
    regex: re.Pattern = SENTENCE_SPLIT_REGEX,
    keep: list[str] | None = None,
    remove: list[str] | None = None,
) -> list[str]:
    """MMF's sentence tokenizer: lower case, split "'s" off, drop commas and question marks."""
    sentence = sentence.lower()
    for token in ["'s"] if keep is None else keep:
        sentence = sentence.replace(token, " " + token)
    for token in [",", "?"] if remove is None else remove:
        sentence = sentence.replace(token, "")
    return [token.strip() for token in regex.split(sentence) if token.strip()]


def word_tokenize(word: str, remove: list[str] | None = None) -> str:
    """MMF's word normaliser: lower case, drop commas and question marks, split "'s" off."""
    word = word.lower()
    for token in [",", "?"] if remove is None else remove:
        word = word.replace(token, "")
    return word.replace("'s", " 's").strip()


@registry.register_processor("simple_word")
class SimpleWordProcessor(BaseProcessor):
    """`{"text": word}` -> `{"text": normalised word}`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tokenizer = word_tokenize

    def __call__(self, item: Mapping[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"text": self.tokenizer(item["text"], *args, **kwargs)}


@registry.register_processor("simple_sentence")
class SimpleSentenceProcessor(BaseProcessor):
    """`{"text": sentence}` -> `{"text": [tokens]}`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tokenizer = tokenize

    def __call__(self, item: Mapping[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"text": self.tokenizer(item["text"], *args, **kwargs)}


@registry.register_processor("copy")
class CopyProcessor(BaseProcessor):
    """`{"blob": array}` -> `{"blob": tensor}` cut or zero-padded to `max_length` rows."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        if config is None or config.get("max_length") is None:
            raise ConfigError("processor 'copy' needs params.max_length")
        self.max_length = int(config.max_length)

    def __call__(self, item: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        blob = item["blob"]
        blob = blob.detach().cpu().numpy() if isinstance(blob, torch.Tensor) else np.asarray(blob)
        out = np.zeros((self.max_length,) + blob.shape[1:], blob.dtype)
        out[: len(blob)] = blob[: self.max_length]
        return {"blob": torch.from_numpy(out)}


# -- MMF processors we do not provide -----------------------------------------------------------
_NEEDS_DOWNLOADS = "it needs downloaded vocabularies, embeddings or tokenizers (out of scope here)"
_MODEL_SPECIFIC = "it belongs to one of MMF's model-zoo pipelines (not provided here)"
UNAVAILABLE_PROCESSORS: dict[str, str] = {
    **dict.fromkeys(
        (
            "vocab",
            "glove",
            "fasttext",
            "vqa_answer",
            "graph_vqa_answer",
            "multi_hot_answer_from_vocab",
            "soft_copy_answer",
            "bbox",
            "caption",
            "phoc",
            "m4c_answer",
            "m4c_caption",
            "multi_class_from_file",
            "masked_token",
            "bert_tokenizer",
            "multi_sentence_bert_tokenizer",
            "masked_roberta_tokenizer",
            "roberta_tokenizer",
            "multi_sentence_roberta_tokenizer",
            "vilt_text_tokenizer",
            "uniter_text_tokenizer",
            "vinvl_text_tokenizer",
            "vilt_image_processor",
            "frcnn_preprocess",
        ),
        _NEEDS_DOWNLOADS,
    ),
    **dict.fromkeys(
        (
            "evalai_answer",
            "masked_region",
            "transformer_bbox",
            "detr_image_and_target",
            "prediction.argmax",
            "ResizeShortest",
            "NormalizeBGR255",
            "video_random_crop",
            "video_center_crop",
            "video_resize",
            "permute_and_rescale",
            "video_to_tensor",
            "video_normalize",
            "video_random_horizontal_flip",
            "video_pad",
            "truncate_or_pad",
            "video_transforms",
            "detection_random_size_crop",
            "detection_random_horizontal_flip",
            "detection_random_resize",
            "detection_random_select",
            "detection_to_tensor",
            "detection_normalize",
            "detection_compose",
        ),
        _MODEL_SPECIFIC,
    ),
}


for _name, _reason in UNAVAILABLE_PROCESSORS.items():
    registry.register_processor(_name)(
        unavailable_class(
            "processor",
            _name,
            f"{_reason}; write your own BaseProcessor and register it with @registry.register_processor({_name!r})",
            BaseProcessor,
        )
    )
