"""reproduce.py: tables rendered from a results JSON, marker rewriting (idempotent, refusing broken markers in one
line), --check naming differing cells, the real reproduce.yaml and docs in agreement, and one tiny row end to end."""

from __future__ import annotations

import importlib.metadata
import json
import sys

import pytest

from mmf_ext.utils.errors import ConfigError
from tests.helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))

import reproduce  # noqa: E402
from reproduction import docs, tables  # noqa: E402
from reproduction.spec import load_spec  # noqa: E402

SPEC = """
rows:
  - {name: main, kind: mmf_run, args: [config=x.yaml]}
  - {name: bench, kind: benchmark, args: [scoring, --save-dir, "{save.main}"]}
  - {name: rand, kind: chance, of: main}
tables:
  - name: accuracy
    docs: [DOC.md]
    tolerance: 2.0
    columns:
      - {head: model}
      - {head: top-1, cell: "{test_retrieval.overall.top1_accuracy:pct1}"}
      - {head: median rank, cell: "{test_retrieval.overall.median_rank:g}"}
      - {head: wall time, cell: "{wall_s:duration}", check: false}
    rows:
      - {result: main, label: "AsymNet ({settings.max_updates} updates)"}
      - {result: rand, label: "chance ({test_retrieval.overall.images} items)", cells: {wall time: ""}}
  - name: speed
    docs: [DOC.md]
    columns:
      - {head: gallery, cell: "{gallery:,}"}
      - {head: figure, cell: "{rate:,.0f} pairs/s, diff {diff:e1}"}
    rows:
      - {result: bench, at: results.0}
      - {result: bench, at: results.1}
"""
RESULTS = {
    "main": {
        "returncode": 0,
        "wall_s": 221.4,
        "settings": {"max_updates": 800},
        "metrics": {
            "test_retrieval": {
                "k": [1, 5, 10, 20],
                "overall": {"top1_accuracy": 0.04, "median_rank": 12.0, "images": 100},
            }
        },
    },
    "bench": {
        "returncode": 0,
        "wall_s": 3.0,
        "metrics": {
            "results": [
                {"gallery": 10000, "rate": 80575.2, "diff": 2.4e-7},
                {"gallery": 1000000, "rate": 3401, "diff": 0.0},
            ]
        },
    },
}
ACCURACY = """| model | top-1 | median rank | wall time |
| --- | --- | --- | --- |
| AsymNet (800 updates) | 4.0 | 12 | 3 min 41 s |
| chance (100 items) | 1.0 | 50.5 | |"""
SPEED = """| gallery | figure |
| --- | --- |
| 10,000 | 80,575 pairs/s, diff 2.4e-7 |
| 1,000,000 | 3,401 pairs/s, diff 0.0e0 |"""
DOC = """# A doc

Text before.

<!-- reproduce:accuracy -->
| old | table |
<!-- /reproduce:accuracy -->

Between.
<!-- reproduce:speed -->
<!-- /reproduce:speed -->
After.
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "reproduce.yaml"
    path.write_text(SPEC)
    return load_spec(path)


def results_with_chance(spec):
    from reproduction.rows import chance

    results = json.loads(json.dumps(RESULTS))  # a copy: tests change figures in it
    return {**results, "rand": {"returncode": 0, "wall_s": 0.0, "metrics": chance(spec.row("rand"), results)}}


def test_tables_render_from_a_results_json(spec):
    results = results_with_chance(spec)
    accuracy, speed = spec.tables
    assert tables.render(accuracy, results) == ACCURACY
    assert tables.render(speed, results) == SPEED
    assert spec.row("bench").needs() == ["main"] and spec.row("rand").needs() == ["main"]


def test_a_table_with_a_row_not_measured_is_not_rendered(spec):
    results = {"main": RESULTS["main"], "bench": {**RESULTS["bench"], "returncode": 1}}
    rendered, skipped = reproduce.render_all(spec, results)
    assert rendered == {}
    assert skipped == [
        "table accuracy: not rendered, rows not measured: rand",
        "table speed: not rendered, rows not measured: bench",
    ]


def test_formats():
    assert [tables.duration(s) for s in (6.4, 221, 3725)] == ["6 s", "3 min 41 s", "1 h 2 min"]
    assert tables.format_value(0.975, "pct1") == "97.5" and tables.format_value(0.12, "pct2") == "12.00"
    assert tables.format_value(12.0, "g") == "12" and tables.format_value(2.4e-7, "e1") == "2.4e-7"
    with pytest.raises(tables.MissingValue):
        tables.fill("{a.b}", {"metrics": {"a": {}}})


def test_marker_rewriting_replaces_only_the_marked_tables_and_is_idempotent():
    names = ["accuracy", "speed"]
    once = docs.rewrite(DOC, "DOC.md", names, {"accuracy": ACCURACY, "speed": SPEED})
    assert once == docs.rewrite(once, "DOC.md", names, {"accuracy": ACCURACY, "speed": SPEED})
    assert f"<!-- reproduce:accuracy -->\n{ACCURACY}\n<!-- /reproduce:accuracy -->" in once
    assert f"<!-- reproduce:speed -->\n{SPEED}\n<!-- /reproduce:speed -->\nAfter.\n" in once
    assert once.startswith("# A doc\n\nText before.\n\n") and "\n\nBetween.\n" in once
    only_speed = docs.rewrite(DOC, "DOC.md", names, {"speed": SPEED})
    assert "| old | table |" in only_speed and docs.current(only_speed, "DOC.md", names, "speed") == SPEED


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (DOC.replace("<!-- reproduce:speed -->\n", ""), r"DOC.md: <!-- reproduce:speed --> is missing; put"),
        (DOC.replace("<!-- /reproduce:accuracy -->\n", ""), r"DOC.md: <!-- /reproduce:accuracy --> is missing"),
        (DOC + "<!-- reproduce:speed -->\n", r"DOC.md: <!-- reproduce:speed --> appears 2 times; keep one pair"),
        (DOC + "<!-- reproduce:sped -->\n", r"DOC.md: marker <!-- reproduce:sped --> names no table of this doc"),
        (
            DOC.replace(
                "<!-- reproduce:speed -->\n<!-- /reproduce:speed -->",
                "<!-- /reproduce:speed -->\n<!-- reproduce:speed -->",
            ),
            r"<!-- /reproduce:speed --> comes before <!-- reproduce:speed -->",
        ),
    ],
)
def test_a_doc_with_a_missing_or_repeated_marker_is_refused_in_one_line(broken, message):
    with pytest.raises(docs.MarkerError, match=message) as error:
        docs.rewrite(broken, "DOC.md", ["accuracy", "speed"], {"accuracy": ACCURACY})
    assert "\n" not in str(error.value)


def test_write_docs_checks_every_doc_before_writing_any(tmp_path):
    (tmp_path / "a.md").write_text(DOC)
    (tmp_path / "b.md").write_text("no markers here\n")
    with pytest.raises(docs.MarkerError, match="b.md: <!-- reproduce:speed --> is missing"):
        docs.write_docs(tmp_path, {"a.md": ["accuracy", "speed"], "b.md": ["speed"]}, {"speed": SPEED})
    assert (tmp_path / "a.md").read_text() == DOC


def test_check_passes_within_tolerance_and_names_each_differing_cell(spec, tmp_path):
    results = results_with_chance(spec)
    written = ACCURACY.replace(
        "| 4.0 | 12 | 3 min 41 s |", "| 5.5 | 12 | 9 min 9 s |"
    )  # 1.5 points off, time unchecked
    assert tables.compare(spec.tables[0], written, results, "DOC.md") == []
    far = ACCURACY.replace("| 4.0 | 12 |", "| 8.0 | 9 |")
    assert [str(d) for d in tables.compare(spec.tables[0], far, results, "DOC.md")] == [
        "DOC.md: table accuracy, row 'AsymNet (800 updates)', column 'top-1': the doc says '8.0', measured '4.0'",
        "DOC.md: table accuracy, row 'AsymNet (800 updates)', column 'median rank': the doc says '9', measured '12'",
    ]
    worded = SPEED.replace("80,575 pairs/s", "80,575 pair/s")
    assert [d.column for d in tables.compare(spec.tables[1], worded, results, "DOC.md")] == ["figure"]
    assert [d.row for d in tables.compare(spec.tables[1], SPEED.rsplit("\n", 1)[0], results, "DOC.md")] == ["(shape)"]


def test_check_from_a_results_file_exits_1_naming_the_cells_and_0_once_written(spec, tmp_path, capsys):
    (tmp_path / "DOC.md").write_text(
        docs.rewrite(DOC, "DOC.md", ["accuracy", "speed"], {"accuracy": ACCURACY, "speed": SPEED})
    )
    document = tmp_path / "out" / "results.json"
    document.parent.mkdir()
    results = results_with_chance(spec)
    results["main"]["metrics"]["test_retrieval"]["overall"]["top1_accuracy"] = 0.30
    document.write_text(json.dumps({"rows": results}))
    common = ["--spec", str(spec.path), "--results", str(document), "--docs-root", str(tmp_path)]
    assert reproduce.main([*common, "--check"]) == 1
    assert "row 'AsymNet (800 updates)', column 'top-1': the doc says '4.0', measured '30.0'" in capsys.readouterr().out
    assert reproduce.main(common) == 0
    assert "| AsymNet (800 updates) | 30.0 | 12 | 3 min 41 s |" in (tmp_path / "DOC.md").read_text()
    assert reproduce.main([*common, "--check"]) == 0
    assert sorted(p.name for p in document.parent.iterdir()) == ["results.json"]  # nothing written beside it
    assert reproduce.main([*common, "--check", "--out", str(tmp_path / "rendered")]) == 0
    assert (tmp_path / "rendered" / "tables.md").read_text().count("## ") == 2


def test_results_files_merge_a_later_files_row_replacing_an_earlier_ones(spec, tmp_path, capsys):
    results = results_with_chance(spec)
    older, newer = tmp_path / "older.json", tmp_path / "newer.json"
    stale = json.loads(json.dumps(results["main"]))
    stale["metrics"]["test_retrieval"]["overall"]["top1_accuracy"] = 0.30
    older.write_text(json.dumps({"rows": {"main": stale, "bench": results["bench"]}}))
    newer.write_text(json.dumps({"rows": {"main": results["main"], "rand": results["rand"]}}))
    (tmp_path / "DOC.md").write_text(DOC)
    common = ["--spec", str(spec.path), "--docs-root", str(tmp_path)]
    assert reproduce.main([*common, "--results", str(older), "--results", str(newer)]) == 0
    written = (tmp_path / "DOC.md").read_text()
    assert ACCURACY in written and SPEED in written  # bench from the older file, main from the newer
    assert reproduce.main([*common, "--results", str(newer), "--results", str(older), "--check"]) == 1
    assert "measured '30.0'" in capsys.readouterr().out  # the order decides which row counts
    (tmp_path / "broken.json").write_text("{")
    assert reproduce.main([*common, "--results", str(older), "--results", str(tmp_path / "broken.json")]) == 2
    assert "broken.json: not JSON" in capsys.readouterr().err
    for missing in (tmp_path / "absent.json", tmp_path):  # a missing file, a folder given for a file
        assert reproduce.main([*common, "--results", str(older), "--results", str(missing)]) == 2
        assert f"--results {missing}: no such file" in capsys.readouterr().err
    (tmp_path / "list.json").write_text("[1, 2]")
    assert reproduce.main([*common, "--results", str(tmp_path / "list.json")]) == 2
    assert "no `rows` object" in capsys.readouterr().err


def test_spec_errors_are_one_line_naming_the_entry_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rows:\n  - {name: a, kind: mmf_run, arg: [x]}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: rows\[0\] \(a\): unknown key 'arg'; known keys: args, env"):
        load_spec(bad)
    bad.write_text("rows:\n  - {name: a, kind: benchmark, args: ['{save.b}']}\n  - {name: b, kind: mmf_run}\n")
    with pytest.raises(ConfigError, match="row 'a' reads row 'b', which is not a row above it"):
        load_spec(bad)
    bad.write_text("env: {A: '1', B: '2'}\nrows:\n  - {name: a, kind: mmf_run, env: {B: '3'}}\n")
    assert load_spec(bad).row("a").env == {"A": "1", "B": "3"}
    bad.write_text("rows: []\ntables:\n  - {name: t, columns: [{head: x}], rows: [{result: nope}]}\n")
    with pytest.raises(ConfigError, match="result 'nope' is not a row of the file"):
        load_spec(bad)


def test_the_project_spec_loads_and_every_doc_marks_each_of_its_tables_once():
    spec = load_spec(REPO_ROOT / "scripts" / "reproduce.yaml")
    for doc, names in reproduce.doc_tables(spec).items():
        spans = docs.blocks((REPO_ROOT / doc).read_text(), doc, names)
        assert set(spans) == set(names)
        for name in names:  # the doc's table has the declared columns
            written = tables.parse(docs.current((REPO_ROOT / doc).read_text(), doc, names, name))
            assert written[0] == [c.head for c in next(t for t in spec.tables if t.name == name).columns], (doc, name)
    for row in spec.rows:
        if row.config:
            assert (REPO_ROOT / row.config).is_file(), row.name
    assert all("OMP_NUM_THREADS" in row.env for row in spec.rows), "the figures depend on the thread count"
    assert spec.row("main_job").env["OMP_NUM_THREADS"] == "2"  # the thread policy's choice on the 2 cores
    assert spec.row("side_baseline_cs").env["OMP_NUM_THREADS"] == "2"  # the baselines beside it: the same threads
    assert spec.row("det_workers2").env["OMP_NUM_THREADS"] == "1"  # the rows that vary threads on purpose
    kernels = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
    kernels["FAISS_OPT_LEVEL"] = "AVX2"
    assert all(row.env.items() >= kernels.items() for row in spec.rows), "the figures depend on the SIMD kernels"
    assert spec.row("bench_scoring").env["OMP_NUM_THREADS"] == "2"
    quick = {row.name for row in spec.rows if row.quick}
    assert {"main_job", "untrained"} <= quick
    assert all(set(row.needs()) <= quick for row in spec.rows if row.quick), "a quick row reads a row quick leaves out"


def test_a_row_reading_a_row_not_measured_is_refused_before_anything_runs(tmp_path, capsys):
    spec_path = REPO_ROOT / "scripts" / "reproduce.yaml"
    assert reproduce.main(["--spec", str(spec_path), "--only", "bench_shortlist", "--out", str(tmp_path / "o")]) == 2
    assert "row bench_shortlist reads row main_job, which is neither run now nor measured" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_second_run_in_a_folder_being_measured_is_refused_in_one_line(tmp_path, capsys):
    from reproduction.folder_lock import measuring_in  # noqa: PLC0415  (scripts/ is on the path once reproduce is)

    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(SPEC)
    out = tmp_path / "o"
    out.mkdir()
    (out / "results.json").write_text('{"rows": {"kept": {}}, "runs": []}')
    with measuring_in(out):  # as another reproduce.py measuring there would hold it
        assert reproduce.main(["--spec", str(spec_path), "--only", "main", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--out {out}: another reproduce.py (pid " in err and "give another --out" in err
    assert len(err.strip().splitlines()) == 1
    assert json.loads((out / "results.json").read_text())["rows"] == {"kept": {}}  # nothing rewritten


TINY = """
rows:
  - name: tiny
    kind: mmf_run
    env: {{OMP_NUM_THREADS: "1", MKL_CBWR: AVX2}}
    args:
      - config=projects/video2shop/configs/asymnet.yaml
      - model=asymnet
      - dataset=synthetic_video2shop
      - dataset_config.synthetic_video2shop.products=8
      - dataset_config.synthetic_video2shop.video_frames=8
      - dataset_config.synthetic_video2shop.image_size=32
      - training.max_updates=4
      - training.batch_size=2
      - training.num_workers=0
      - training.progress_bar=false
      - training.evaluation_interval=4
      - training.checkpoint_interval=4
  - {{name: tiny_chance, kind: chance, of: tiny}}
tables:
  - name: tiny
    docs: [{doc}]
    columns:
      - {{head: model}}
      - {{head: top-1, cell: "{{test_retrieval.overall.top1_accuracy:pct1}}"}}
      - {{head: median rank, cell: "{{test_retrieval.overall.median_rank:g}}"}}
      - {{head: updates, cell: "{{settings.max_updates}}"}}
      - {{head: workers, cell: "{{settings.num_workers}}"}}
      - {{head: threads, cell: "{{threads.torch_threads}}", check: false}}
    rows:
      - {{result: tiny, label: tiny}}
      - {{result: tiny_chance, label: chance, cells: {{updates: "", workers: "", threads: ""}}}}
"""


def test_a_tiny_row_end_to_end_measures_writes_the_doc_and_checks(tmp_path, capsys):
    (tmp_path / "DOC.md").write_text("# Tiny\n<!-- reproduce:tiny -->\n<!-- /reproduce:tiny -->\n")
    spec_path = tmp_path / "tiny.yaml"
    spec_path.write_text(TINY.format(doc="DOC.md"))
    out = tmp_path / "out"
    common = ["--spec", str(spec_path), "--out", str(out), "--docs-root", str(tmp_path)]
    assert reproduce.main(common) == 0, capsys.readouterr()
    document = json.loads((out / "results.json").read_text())
    record = document["rows"]["tiny"]
    machine = document["runs"][-1]["machine"]  # what the figures depend on besides the row's own settings
    assert machine["libraries"]["torch"] == importlib.metadata.version("torch") and machine["cpu"]
    assert set(machine["libraries"]) >= {"opencv-contrib-python-headless", "numpy", "pillow"}
    assert set(machine["cpu_vector_extensions"]) <= {"avx2", "avx512f", "avx512_bf16"}
    report = json.loads((out / "save" / "tiny" / "reports" / "test_retrieval.json").read_text())
    assert record["metrics"]["test_retrieval"]["overall"] == report["overall"]
    assert record["settings"] == {"max_updates": 4, "batch_size": 2, "num_workers": 0, "seed": 1}
    assert record["threads"]["OMP_NUM_THREADS"] == "1" and record["threads"]["torch_threads"] == 1
    assert record["cpu_kernels"]["MKL_CBWR"] == "AVX2"  # the kernel pins a row ran with, beside its threads
    assert record["wall_s"] > 0 and (out / "data" / "synthetic_video2shop_p8_s0" / "generator.json").is_file()
    top1, median = 100 * report["overall"]["top1_accuracy"], report["overall"]["median_rank"]
    gallery = report["overall"]["images"]
    text = (tmp_path / "DOC.md").read_text()
    assert f"| tiny | {top1:.1f} | {median:g} | 4 | 0 | 1 |" in text
    assert f"| chance | {100 / gallery:.1f} | {(gallery + 1) / 2:g} |" in text
    assert reproduce.main([*common, "--check", "--results", str(out / "results.json")]) == 0


def test_a_video2shop_step_runs_the_command_records_no_figures_and_a_failure_names_its_log(tmp_path, capsys):
    from reproduction.rows import Workspace, command, run_row

    spec_path = tmp_path / "steps.yaml"
    spec_path.write_text(
        "rows:\n"
        "  - {name: data, kind: video2shop, args: [make-synthetic, '{data}/mf', --products, '4', --frames, '4']}\n"
    )
    row = load_spec(spec_path).row("data")
    workspace = Workspace(tmp_path / "out")
    assert command(row, workspace, {})[1:] == [
        "-m", "video2shop.cli.main", "make-synthetic", f"{workspace.data}/mf", "--products", "4", "--frames", "4",
    ]  # fmt: skip
    record = run_row(row, workspace, {}, echo=False)
    assert record["returncode"] == 0 and record["metrics"] == {} and "save_dir" not in record
    assert (workspace.data / "mf" / "generator.json").is_file()
    again = run_row(row, workspace, {}, echo=False)  # the folder exists now: make-synthetic refuses it
    assert again["returncode"] == 2 and "already exists" in again["error"] and str(workspace.log(row)) in again["error"]

    spec_path.write_text("rows:\n  - {name: data, kind: video2shop, config: x.yaml}\n")
    with pytest.raises(ConfigError, match=r"rows\[0\] \(data\): unknown key 'config'; known keys: args, env"):
        load_spec(spec_path)


def test_a_mean_row_averages_the_figures_its_rows_all_report(tmp_path):
    from reproduction.rows import mean

    path = tmp_path / "spec.yaml"
    path.write_text(
        "rows:\n  - {name: a, kind: mmf_run}\n  - {name: b, kind: mmf_run}\n  - {name: m, kind: mean, over: [a, b]}\n"
    )
    spec = load_spec(path)
    assert spec.row("m").needs() == ["a", "b"]
    first = {"k": [1, 20], "overall": {"top1_accuracy": 0.3, "median_rank": 3.0, "images": 100}}
    second = {"k": [1, 20], "overall": {"top1_accuracy": 0.6, "median_rank": 1.0, "images": 100}, "x": 1}
    metrics = [{"test_retrieval": first}, {"test_retrieval": second}]
    results = {name: {"returncode": 0, "metrics": m} for name, m in zip("ab", metrics)}
    averaged = mean(spec.row("m"), results)
    assert averaged["runs"] == 2 and "x" not in averaged["test_retrieval"]  # only what both report
    overall = averaged["test_retrieval"]["overall"]
    assert overall == {"top1_accuracy": pytest.approx(0.45), "median_rank": 2.0, "images": 100.0}
    assert averaged["test_retrieval"]["k"] == [1, 20]
    path.write_text("rows:\n  - {name: a, kind: mmf_run}\n  - {name: m, kind: mean, over: [a]}\n")
    with pytest.raises(ConfigError, match=r"\(m\): a mean row needs `over`: two or more rows"):
        load_spec(path)
    path.write_text("rows:\n  - {name: m, kind: mean, over: [a, b]}\n  - {name: a, kind: mmf_run}\n")
    with pytest.raises(ConfigError, match="row 'm' reads row 'a', which is not a row above it"):
        load_spec(path)
