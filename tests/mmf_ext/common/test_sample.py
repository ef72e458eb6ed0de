import pickle

import pytest
import torch

from mmf_ext.common.sample import (
    Sample,
    SampleList,
    collate_samples,
    convert_batch_to_sample_list,
    split_batch_output,
    to_device,
)


def test_samplelist_stacks_same_shape_tensors_and_lists_the_rest():
    samples = [
        Sample(x=torch.ones(3), name="a", video=torch.zeros(2, 4), flag=True),
        Sample(x=torch.zeros(3), name="b", video=torch.zeros(5, 4), flag=False),
    ]
    batch = SampleList(samples)
    assert batch.x.shape == (2, 3)
    assert batch.name == ["a", "b"]
    assert isinstance(batch.video, list) and batch.video[1].shape == (5, 4)
    assert batch.flag.tolist() == [True, False]
    assert batch.get_batch_size() == 2


def test_samplelist_fills_missing_fields_with_none_and_keeps_meta():
    batch = SampleList([Sample(a=1, query_id="q"), Sample(a=2, gallery_id="g")])
    batch.dataset_name = "d"
    assert batch.query_id == ["q", None]
    assert batch.gallery_id == [None, "g"]
    assert batch.dataset_name == "d" and "dataset_name" not in batch
    moved = batch.to("cpu")
    assert moved.dataset_name == "d" and moved.a.tolist() == [1, 2]


def test_split_batch_output_cuts_tensors_and_lists_per_sample():
    out = split_batch_output(
        {"scores": torch.arange(6).view(3, 2), "ids": ["a", "b", "c"], "scalar": torch.tensor(1.0)}, 3
    )
    assert [o["scores"].tolist() for o in out] == [[0, 1], [2, 3], [4, 5]]
    assert [o["ids"] for o in out] == ["a", "b", "c"]
    assert "scalar" not in out[0]


def test_a_sample_turns_mapping_values_into_samples_and_lists_its_fields():
    sample = Sample({"text": "hi", "info": {"id": 3}})
    sample.extra = {"nested": {"deep": 1}}
    assert isinstance(sample.info, Sample) and sample.info.id == 3
    assert sample.extra.nested.deep == 1
    assert sample.fields() == ["text", "info", "extra"]
    with pytest.raises(AttributeError, match="fields: \\['text', 'info', 'extra'\\]"):
        _ = sample.missing


def test_dict_fields_of_samples_collate_into_a_nested_samplelist():
    batch = SampleList(
        [
            Sample(x=torch.ones(2), info={"id": torch.tensor(1), "name": "a"}),
            Sample(x=torch.zeros(2), info={"id": torch.tensor(2), "name": "b"}),
        ]
    )
    assert isinstance(batch.info, SampleList)
    assert batch.info.id.tolist() == [1, 2] and batch.info.name == ["a", "b"]
    assert batch.to_dict()["info"] == {"id": batch.info.id, "name": ["a", "b"]}


def test_a_samplelist_is_built_from_a_dict_or_from_key_value_pairs():
    from_dict = SampleList({"x": torch.arange(3), "meta": {"k": torch.ones(3)}})
    assert from_dict.fields() == ["x", "meta"] and isinstance(from_dict.meta, SampleList)
    from_pairs = SampleList([("x", torch.arange(3)), ("y", ["a", "b", "c"])])
    assert from_pairs.y == ["a", "b", "c"] and from_pairs.get_batch_size() == 3


def test_get_fields_returns_a_new_samplelist_and_names_a_missing_field_and_the_valid_ones():
    batch = SampleList({"x": torch.arange(3), "y": torch.ones(3), "z": ["a", "b", "c"]})
    batch.dataset_name = "d"
    picked = batch.get_fields(["x", "z"])
    assert isinstance(picked, SampleList) and picked.fields() == ["x", "z"] and picked.dataset_name == "d"
    assert "y" in batch  # the original is untouched
    with pytest.raises(AttributeError, match="w not present in SampleList. Valid choices are \\['x', 'y', 'z'"):
        batch.get_fields(["x", "w"])
    assert batch.get_fields() == ["x", "y", "z"]  # the framework's older no-argument form
    assert batch.get_field("y") is batch["y"]
    assert batch.get_item_list("z").fields() == ["z"]


def test_add_field_refuses_a_tensor_of_another_batch_size_and_nests_dicts():
    batch = SampleList({"x": torch.arange(3)})
    batch.add_field("y", torch.ones(3, 2))
    batch.add_field("labels", ["a"])  # lists are not checked, as in MMF
    batch.add_field("info", {"id": torch.arange(3)})
    assert isinstance(batch.info, SampleList)
    with pytest.raises(AssertionError, match="Passed size: 2, Required size: 3"):
        batch.add_field("bad", torch.ones(2))


def test_copy_is_shallow_and_keeps_meta():
    batch = SampleList({"x": torch.arange(3)})
    batch.dataset_name, batch.dataset_type = "d", "val"
    copied = batch.copy()
    copied["y"] = 1
    assert "y" not in batch and copied.x is batch.x
    assert (copied.dataset_name, copied.dataset_type) == ("d", "val")


def test_device_moves_detach_and_pin_reach_nested_fields_and_lists():
    weights = torch.ones(2, requires_grad=True)
    batch = SampleList({"x": weights * 2, "parts": [weights * 3], "info": {"w": weights * 4}})
    assert batch.get_device() == torch.device("cpu")
    moved = batch.to("cpu")
    assert isinstance(moved, SampleList) and moved is not batch and moved.info.w.device.type == "cpu"
    with pytest.raises(TypeError, match="device must be either 'str' or 'torch.device'"):
        batch.to(0)
    detached = batch.detach()
    assert not detached.x.requires_grad and not detached.parts[0].requires_grad
    assert not detached.info.w.requires_grad
    with pytest.raises(AssertionError, match="No tensor field in sample list"):
        SampleList({"names": ["a"]}).get_device()


def test_dataset_name_and_type_are_attributes_that_item_access_also_reads():
    batch = SampleList({"x": torch.arange(2)})
    batch["dataset_type"] = "train"
    batch.dataset_name = "d"
    assert batch["dataset_name"] == "d" and batch.get("dataset_type") == "train"
    assert batch.fields() == ["x"] and "dataset_name" not in batch.to_dict()


def test_a_samplelist_pickles_with_its_meta_for_dataloader_workers():
    batch = collate_samples([Sample(x=torch.ones(2), info={"id": 1})])
    batch.dataset_name = "d"
    restored = pickle.loads(pickle.dumps(batch))
    assert restored.dataset_name == "d" and restored.x.shape == (1, 2) and restored.info.id.tolist() == [1]


def test_convert_batch_to_sample_list_accepts_a_samplelist_a_one_item_list_a_dict_and_samples():
    batch = SampleList({"x": torch.arange(2)})
    assert convert_batch_to_sample_list(batch) is batch
    assert convert_batch_to_sample_list([batch]) is batch
    assert convert_batch_to_sample_list({"x": torch.arange(2)}).x.tolist() == [0, 1]
    assert convert_batch_to_sample_list([Sample(x=torch.tensor(5))]).x.tolist() == [5]


def test_to_device_falls_back_to_the_cpu_when_cuda_is_missing(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="Falling back on cpu"):
        moved = to_device({"x": torch.arange(2)}, "cuda")
    assert isinstance(moved, SampleList) and moved.get_device().type == "cpu"
