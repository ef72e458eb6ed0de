import torch

from mmf_ext.common.sample import Sample, SampleList, split_batch_output


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
    out = split_batch_output({"scores": torch.arange(6).view(3, 2), "ids": ["a", "b", "c"], "scalar": torch.tensor(1.0)}, 3)
    assert [o["scores"].tolist() for o in out] == [[0, 1], [2, 3], [4, 5]]
    assert [o["ids"] for o in out] == ["a", "b", "c"]
    assert "scalar" not in out[0]
