"""`video2shop index` internals: catalogs, a resumable build, atomic replacement, stale galleries refused."""

import json

import numpy as np
import pytest
import torch

from mmf_ext.utils.errors import UserError
from tests.helpers import save_small_run, write_shop_folder
from video2shop.pipeline.catalog import list_catalog
from video2shop.pipeline.gallery import Gallery, GalleryError, build_gallery
from video2shop.pipeline.trained_model import load_trained_model
from video2shop.retrieval.feature_bank import StaleFeatureBank
from video2shop.video.crops import model_crop
from video2shop.video.image_io import read_rgb, write_rgb


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    return save_small_run(root / "save", root / "data")


def test_a_folder_catalog_lists_every_image_with_its_relative_path_as_id(tmp_path):
    write_shop_folder(tmp_path / "shop", 4)
    (tmp_path / "shop" / "notes.txt").write_text("not an image")
    write_rgb(tmp_path / "shop" / "dresses" / "item000.jpg", np.zeros((8, 8, 3), np.uint8))  # same name, other image
    write_rgb(tmp_path / "shop" / "top.png", np.zeros((8, 8, 3), np.uint8))
    items = list_catalog(tmp_path / "shop")
    ids = ["dresses/item000.jpg", "dresses/item000.png", "dresses/item002.png", "shirts/item001.png"]
    assert [i.item_id for i in items] == [*ids, "shirts/item003.png", "top.png"]
    assert all(i.product_id == i.item_id and i.path == tmp_path / "shop" / i.item_id for i in items)
    with pytest.raises(UserError, match="--images x: no such file or folder"):
        list_catalog(tmp_path / "x", "--images x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no shop images"):
        list_catalog(tmp_path / "empty")
    with pytest.raises(UserError, match="not a folder of images or a video2shop manifest"):
        list_catalog(tmp_path / "shop" / "notes.txt")


def test_a_manifest_catalog_keeps_products_boxes_and_several_images(synthetic_dir):
    items = list_catalog(synthetic_dir / "test.json")
    manifest = json.loads((synthetic_dir / "test.json").read_text())
    assert {i.product_id for i in items} == set(manifest)
    assert all(i.path.is_file() for i in items)
    assert any(i.box is not None for i in items) and all(i.category for i in items)


def test_index_builds_a_gallery_whose_features_equal_the_model_and_refuses_another_checkpoint(tmp_path, checkpoint):
    write_shop_folder(tmp_path / "shop", 5)
    trained = load_trained_model(checkpoint)
    out = build_gallery(list_catalog(tmp_path / "shop"), trained, tmp_path / "gallery", batch_size=2, shard_size=2)
    gallery = Gallery(out, checkpoint)
    assert gallery.features.shape == (5, 16) and len(gallery.items) == 5
    crop = model_crop(read_rgb(tmp_path / "shop" / "dresses" / "item000.png"), None, 0.1, 32)
    with torch.no_grad():
        expected = trained.model.encode_images(torch.from_numpy(crop)[None])[0]
    assert torch.allclose(gallery.features[gallery.ids.index("dresses/item000.png")], expected, atol=1e-5)
    other = tmp_path / "other.ckpt"
    other.write_bytes(checkpoint.read_bytes() + b"x")
    with pytest.raises(StaleFeatureBank, match="another checkpoint"):
        Gallery(out, other)


def test_a_gallery_made_by_other_code_is_refused_in_one_line_and_rebuilt_by_index(tmp_path, checkpoint, monkeypatch):
    import video2shop.pipeline.gallery as gallery_module
    from video2shop.video import crops

    write_shop_folder(tmp_path / "shop", 3)
    trained = load_trained_model(checkpoint)
    out = build_gallery(list_catalog(tmp_path / "shop"), trained, tmp_path / "g", source=tmp_path / "shop")
    assert json.loads((out / "gallery.json").read_text())["code"]["crop"] == crops.CROP_VERSION
    monkeypatch.setattr(crops, "CROP_VERSION", crops.CROP_VERSION + 1)
    with pytest.raises(GalleryError, match=r"indexed by other code: its crops were made by other code \(crop 1 -> 2"):
        Gallery(out, checkpoint)
    build_gallery(list_catalog(tmp_path / "shop"), trained, out)  # indexing again makes it usable
    assert len(Gallery(out, checkpoint).ids) == 3
    monkeypatch.setattr(gallery_module, "FORMAT", gallery_module.FORMAT + 1)
    with pytest.raises(GalleryError, match=f"format {gallery_module.FORMAT - 1}, this code writes format") as error:
        Gallery(out, checkpoint)
    assert "\n" not in str(error.value) and "video2shop index --images" in str(error.value)


def test_an_interrupted_build_resumes_and_never_replaces_the_good_gallery(tmp_path, checkpoint, monkeypatch):
    write_shop_folder(tmp_path / "shop", 6)
    items = list_catalog(tmp_path / "shop")
    trained = load_trained_model(checkpoint)
    out = build_gallery(items[:3], trained, tmp_path / "gallery", shard_size=2)
    before = (out / "features.pt").read_bytes()

    import video2shop.pipeline.gallery as gallery_module

    real_crops, calls = gallery_module._crops, []

    def failing_crops(batch, *args):
        calls.append(len(batch))
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while encoding the second shard
        return real_crops(batch, *args)

    monkeypatch.setattr(gallery_module, "_crops", failing_crops)
    with pytest.raises(KeyboardInterrupt):
        build_gallery(items, trained, out, shard_size=2, batch_size=2)
    assert (out / "features.pt").read_bytes() == before  # the finished gallery is untouched
    assert len(list((tmp_path / "gallery.partial" / "shards").glob("*.pt"))) == 1

    encoded = []
    monkeypatch.setattr(
        gallery_module, "_crops", lambda batch, *args: encoded.append(len(batch)) or real_crops(batch, *args)
    )
    build_gallery(items, trained, out, shard_size=2, batch_size=2)
    assert sum(encoded) == 4  # the first shard was not encoded again
    assert len(Gallery(out, checkpoint).ids) == 6 and not (tmp_path / "gallery.partial").exists()


def test_an_unfinished_gallery_is_a_clear_error(tmp_path):
    (tmp_path / "g.partial").mkdir()
    (tmp_path / "g").mkdir()
    with pytest.raises(GalleryError, match="interrupted: run video2shop index again"):
        Gallery(tmp_path / "g")


def test_large_galleries_keep_a_shortlist_index(tmp_path, checkpoint):
    write_shop_folder(tmp_path / "shop", 6)
    out = build_gallery(
        list_catalog(tmp_path / "shop"), load_trained_model(checkpoint), tmp_path / "g", shortlist_min=4
    )
    index = Gallery(out).shortlist_index()
    assert index is not None and index.size == 6
    assert (
        Gallery(
            build_gallery(list_catalog(tmp_path / "shop"), load_trained_model(checkpoint), tmp_path / "h")
        ).shortlist_index()
        is None
    )
