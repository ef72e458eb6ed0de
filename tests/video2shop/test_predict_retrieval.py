"""mmf_predict on a retrieval dataset: per query, the ranked top-K gallery ids with scores, json and csv."""

import csv
import json

from mmf_cli.predict import predict
from mmf_cli.run import run
from tests.helpers import REPO_ROOT, last_run


def options(save_dir, data_dir, *extra):
    return [
        f"config={REPO_ROOT / 'projects/video2shop/configs/asymnet.yaml'}",
        "model=asymnet",
        "dataset=synthetic_video2shop",
        f"env.save_dir={save_dir}",
        f"env.data_dir={data_dir}",
        f"env.cache_dir={save_dir / 'cache'}",
        "dataset_config.synthetic_video2shop.products=24",
        "dataset_config.synthetic_video2shop.video_frames=8",
        "dataset_config.synthetic_video2shop.image_size=32",
        "training.max_updates=4",
        "training.batch_size=2",
        "training.num_workers=0",
        "training.progress_bar=false",
        "training.evaluation_interval=4",
        "training.checkpoint_interval=4",
        *extra,
    ]


def read_rows(save_dir):
    reports = last_run(save_dir, "predict") / "reports"
    return json.loads((reports / "synthetic_video2shop_test_predictions.json").read_text())


def test_predict_ranks_the_whole_gallery_and_the_shortlist_agrees_when_it_holds_everything(tmp_path):
    save_dir, data_dir = tmp_path / "run", tmp_path / "data"
    run(options(save_dir, data_dir, "run_type=train"))
    predict(options(save_dir, data_dir, "checkpoint.resume=true", "dataset_config.synthetic_video2shop.predict_topk=3"))
    rows = read_rows(save_dir)
    manifest = json.loads((data_dir / "synthetic_video2shop_p24_s0" / "test.json").read_text())
    assert len(rows) == len({v for product in manifest.values() for v in product["video_paths"]})
    for row in rows:
        assert len(manifest) > 3 and len(row["topk"]) == 3 and set(row["target_ids"]) <= set(manifest)
        scores = [item["score"] for item in row["topk"]]
        assert scores == sorted(scores, reverse=True)
        assert {item["gallery_id"] for item in row["topk"]} <= set(manifest)
    predict(
        options(
            save_dir,
            data_dir,
            "checkpoint.resume=true",
            "dataset_config.synthetic_video2shop.predict_topk=3",
            "evaluation.predict_file_format=csv",
        )
    )
    with (last_run(save_dir, "predict") / "reports" / "synthetic_video2shop_test_predictions.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [r["query_id"] for r in table] == [r["query_id"] for r in rows]
    assert json.loads(table[0]["topk"]) == rows[0]["topk"]

    exact = {r["query_id"]: [i["gallery_id"] for i in r["topk"]] for r in rows}
    predict(
        options(
            save_dir,
            data_dir,
            "checkpoint.resume=true",
            "dataset_config.synthetic_video2shop.predict_topk=3",
            "model_config.asymnet.shortlist.enabled=true",
            f"model_config.asymnet.shortlist.size={len(manifest)}",
        )
    )
    assert {r["query_id"]: [i["gallery_id"] for i in r["topk"]] for r in read_rows(save_dir)} == exact
