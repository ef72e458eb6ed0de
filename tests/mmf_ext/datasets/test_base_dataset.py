"""BaseDataset and BaseDatasetBuilder: MMF's constructors and properties, processors from the config."""

import torch
from omegaconf import OmegaConf

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import Sample, SampleList
from mmf_ext.datasets.base_dataset import BaseDataset, prediction_rows
from mmf_ext.datasets.base_dataset_builder import BaseDatasetBuilder
from mmf_ext.datasets.processors import BaseProcessor


@registry.register_processor("test_reverse")
class ReverseProcessor(BaseProcessor):
    def __call__(self, item):
        return {"text": item["text"][::-1]}


class TextDataset(BaseDataset):
    def __init__(self, config, dataset_type):
        super().__init__("text_data", config, dataset_type)

    def __len__(self):
        return 2

    def __getitem__(self, index):
        return Sample(text=self.text_processor({"text": f"Item number {index}"})["text"])


class TextBuilder(BaseDatasetBuilder):
    def __init__(self):
        super().__init__("text_data")

    def load(self, config, dataset_type="train", *args, **kwargs):
        return TextDataset(config, dataset_type)


def _config(processor_type, name="text_data"):
    registry.unregister(f"{name}_text_processor")
    return OmegaConf.create({"data_dir": "/data", "processors": {"text_processor": {"type": processor_type}}})


def test_mmf_signature_and_properties_with_setters():
    registry.register("config", OmegaConf.create({"marker": 1}))
    try:
        dataset = BaseDataset("d", None, "val", "extra", flag=True)
        assert (dataset.dataset_name, dataset.name, dataset.dataset_type) == ("d", "d", "val")
        assert dataset.config == {} and dataset._global_config.marker == 1
        assert dataset._device == torch.device("cpu") and dataset.use_cuda is False
        dataset.dataset_name, dataset.dataset_type = "e", "test"
        assert (dataset._dataset_name, dataset.name, dataset._dataset_type) == ("e", "e", "test")
        dataset.name = "f"
        assert dataset.dataset_name == "f" and dataset.load_item(0) is None
    finally:
        registry.unregister("config")


def test_a_simple_sentence_processor_in_the_config_ends_up_on_the_dataset():
    builder = TextBuilder()
    dataset = builder.load_dataset(_config("simple_sentence"), "train")
    assert dataset[1].text == ["item", "number", "1"]
    assert registry.get("text_data_text_processor") is dataset.text_processor


def test_a_plugin_processor_from_the_config_works_the_same():
    dataset = TextBuilder().load_dataset(_config("test_reverse"), "val")
    assert dataset.dataset_type == "val" and dataset[0].text == "0 rebmun metI"


def test_init_processors_passes_data_dir_and_does_nothing_without_processors():
    dataset = TextDataset(OmegaConf.create({"data_dir": "/data"}), "train")
    dataset.init_processors()
    assert not hasattr(dataset, "text_processor")

    @registry.register_processor("test_data_dir")
    class DataDir(BaseProcessor):
        def __init__(self, config, *args, data_dir=None, **kwargs):
            super().__init__(config)
            self.data_dir = data_dir

    dataset.config = _config("test_data_dir")
    dataset.init_processors()
    assert dataset.text_processor.data_dir == "/data"


def test_the_builder_setup_goes_through_load_dataset_so_processors_are_always_built():
    builder = TextBuilder()
    builder.configure(_config("simple_sentence"), OmegaConf.create({}))
    builder.setup("validate")
    assert builder.val_dataset[0].text == ["item", "number", "0"]
    assert builder.get_dataset("val") is builder.val_dataset and builder.train_dataset is None


def test_builder_mmf_constructor_properties_and_build_dataset():
    built = []

    class Builder(BaseDatasetBuilder):
        def build(self, config, dataset_type="train", *args, **kwargs):
            built.append(dataset_type)

    unnamed = Builder()
    assert unnamed.dataset_name.startswith("dataset_") and len(unnamed.dataset_name) == len("dataset_") + 6
    named = Builder("mine", "ignored", extra=1)
    named.dataset_name = "renamed"
    assert named.dataset_name == "renamed"
    named.build_dataset(OmegaConf.create({}), "val")
    named.prepare_data(OmegaConf.create({"a": 1}))
    assert built == ["val", "train", "val", "test"] and named.config.a == 1
    named.test_dataset = ["x"]
    assert named.datasets["test"] == ["x"]


def test_format_for_prediction_takes_ours_or_mmfs_report_form():
    dataset = TextDataset(_config("simple_sentence"), "test")
    batch = SampleList({"sample_index": torch.arange(2), "targets": torch.tensor([1, 0])})
    output = {"scores": torch.tensor([[0.1, 0.9], [0.8, 0.2]])}
    rows = dataset.format_for_prediction(batch, output)
    assert [row["prediction"] for row in rows] == [1, 0]
    assert dataset.format_for_prediction(batch)[1] == {"sample_index": 1, "targets": 0}


def test_prediction_rows_calls_an_mmf_style_one_argument_override_with_a_merged_report():
    class MMFStyle(TextDataset):
        def format_for_prediction(self, report):
            return [{"id": int(i), "answer": int(s.argmax())} for i, s in zip(report.sample_index, report.scores)]

    dataset = MMFStyle(_config("simple_sentence"), "test")
    batch = SampleList({"sample_index": torch.arange(2)})
    rows = prediction_rows(dataset, batch, {"scores": torch.tensor([[0.1, 0.9], [0.8, 0.2]])})
    assert rows == [{"id": 0, "answer": 1}, {"id": 1, "answer": 0}]
    ours = prediction_rows(TextDataset(_config("simple_sentence"), "test"), batch, {"scores": torch.ones(2, 2)})
    assert len(ours) == 2 and "scores" in ours[0]
