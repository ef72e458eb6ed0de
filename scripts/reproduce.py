"""Reproduce the project's figures in a fresh folder and write the docs' tables from what was measured.

    python scripts/reproduce.py [--quick | --only NAME ...] [--out DIR] [--check | --no-docs]
                                [--results FILE] [--spec scripts/reproduce.yaml]

The rows (main job, untrained model, ablations, baselines, detector, search accuracy, benchmarks) and the doc
tables they fill are declared in scripts/reproduce.yaml. Each row runs as its own process with fresh data, cache
and save dirs under --out (default: a new temporary folder, printed first); every record (command, wall time,
thread and worker settings, results) goes to <out>/results.json as soon as the row ends, every table that can be
rendered to <out>/tables.md, and the tables between `<!-- reproduce:NAME -->` markers in README.md and
projects/video2shop/RESULTS.md are rewritten (a table only when every row it shows was measured; rows measured
earlier in the same --out count, so `--only NAME --out DIR` re-measures one row). `--check` rewrites nothing:
it compares the docs' tables with the measured ones and exits 1 naming every cell beyond its tolerance.
`--results FILE` renders, writes or checks from an earlier results.json without running anything (its tables.md
goes to --out when given, nowhere else); given more than once, the files' rows are merged, a row of a later file
replacing the same row of an earlier one (tables that mix rows re-measured later with rows that did not change).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "projects" / "video2shop"), str(REPO_ROOT / "scripts")]

from reproduction import docs, tables  # noqa: E402
from reproduction.folder_lock import measuring_in  # noqa: E402
from reproduction.rows import Workspace, run_row  # noqa: E402
from reproduction.spec import Row, Spec, load_spec  # noqa: E402

from mmf_ext.utils.errors import UserError, one_line  # noqa: E402  (the tree's framework, by the path above)
from mmf_ext.utils.file_io import atomic_write_text  # noqa: E402
from video2shop.wording import counted  # noqa: E402

DEFAULT_SPEC = REPO_ROOT / "scripts" / "reproduce.yaml"


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


def selected_rows(spec: Spec, quick: bool, only: list[str]) -> list[Row]:
    if only:
        wanted = {spec.row(name).name for name in only}
        return [row for row in spec.rows if row.name in wanted]
    return [row for row in spec.rows if row.quick or not quick]


def check_needs(rows: list[Row], results: dict[str, dict[str, Any]], out: Path) -> None:
    """Refuse, before running anything, a row that reads a row neither run now nor measured in this --out."""
    running = set()
    for row in rows:
        for needed in row.needs():
            if needed not in running and (results.get(needed) or {}).get("returncode") != 0:
                raise UserError(
                    f"row {row.name} reads row {needed}, which is neither run now nor measured in {out}; "
                    f"run it too (--only {needed} --only {row.name}) or give the --out where it ran"
                )
        running.add(row.name)


def render_all(spec: Spec, results: dict[str, dict[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """The tables every measured row of which is there, and one line per table left out."""
    rendered, skipped = {}, []
    for table in spec.tables:
        missing = tables.missing_rows(table, results)
        if missing:
            skipped.append(f"table {table.name}: not rendered, rows not measured: {', '.join(missing)}")
            continue
        try:
            rendered[table.name] = tables.render(table, results)
        except tables.MissingValue as error:
            skipped.append(f"table {table.name}: not rendered, no value {error} in the results")
    return rendered, skipped


def doc_tables(spec: Spec) -> dict[str, list[str]]:
    """doc -> every table that declares it (all its markers are checked, whichever are written)."""
    by_doc: dict[str, list[str]] = {}
    for table in spec.tables:
        for doc in table.docs:
            by_doc.setdefault(doc, []).append(table.name)
    return by_doc


def check_docs(spec: Spec, results: dict[str, dict[str, Any]], root: Path, rendered: dict[str, str]) -> list[str]:
    """Each differing cell of the docs' tables, as one line."""
    by_doc = doc_tables(spec)
    lines = []
    for table in spec.tables:
        if table.name not in rendered:
            continue
        for doc in table.docs:
            path = root / doc
            if not path.is_file():
                raise docs.MarkerError(f"{doc}: no such file under {root}; fix the table's docs in {spec.path}")
            written = docs.current(path.read_text(), doc, by_doc[doc], table.name)
            lines += [str(d) for d in tables.compare(table, written, results, doc)]
    return lines


def write_tables_file(out: Path, rendered: dict[str, str], skipped: list[str]) -> Path:
    parts = ["# Reproduced tables", ""]
    for name, text in rendered.items():
        parts += [f"## {name}", "", text, ""]
    parts += [f"- {line}" for line in skipped]
    out.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(out / "tables.md", "\n".join(parts) + "\n")


FIGURE_LIBRARIES = (  # what the figures can depend on (RESULTS.md, "What the figures depend on")
    "torch",
    "torchvision",
    "opencv-contrib-python-headless",
    "numpy",
    "pillow",
    "decord",
    "faiss-cpu",
    "lightning",
)


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries the figures depend on (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in FIGURE_LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (Linux), else what the platform says: the figures depend on its kernels."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_vector_extensions(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The machine's AVX levels (Linux): without the kernel pins of reproduce.yaml, the widest one is used."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return [name for name in ("avx2", "avx512f", "avx512_bf16") if name in flags]
    except OSError:
        pass
    return []


def measure(spec: Spec, rows: list[Row], out: Path, previous: dict[str, Any], quick: bool) -> dict[str, Any]:
    """Run the rows in order, saving results.json after each; returns the whole results document."""
    document = previous or {"rows": {}, "runs": []}
    document["spec"] = str(spec.path)
    document["runs"].append(
        {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "rows": [row.name for row in rows],
            "quick": quick,
            "git": git_state(),
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpu_count": os.cpu_count(),
                "cpu": cpu_model(),
                "cpu_vector_extensions": cpu_vector_extensions(),
                "libraries": library_versions(),
            },
        }
    )
    workspace = Workspace(out)
    for row in rows:
        record = run_row(row, workspace, document["rows"])
        document["rows"][row.name] = record
        atomic_write_text(out / "results.json", json.dumps(document, indent=1))
        status = "ok" if record["returncode"] == 0 else f"FAILED: {record.get('error')}"
        print(f"   {row.name}: {tables.duration(record['wall_s'])}, {status}", flush=True)
    return document


def merged_results(paths: list[Path]) -> dict[str, Any]:
    """The rows of several results.json files, a later file's row replacing an earlier file's of the same name."""
    rows: dict[str, Any] = {}
    for path in paths:
        if not path.is_file():
            raise UserError(f"--results {path}: no such file; give the results.json of a reproduce run")
        try:
            document = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise UserError(f"--results {path}: not JSON ({error}); give the results.json of a reproduce run") from None
        if not isinstance(document, dict) or not isinstance(document.get("rows"), dict):
            raise UserError(f"--results {path}: no `rows` object; give the results.json of a reproduce run")
        rows.update(document["rows"])
    return {"rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reproduce.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the rows marked quick (main job, untrained, ...)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run this row (repeatable)")
    parser.add_argument("--out", type=Path, default=None, help="the folder to run in (default: a new temporary one)")
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="the rows and tables (scripts/reproduce.yaml)")
    parser.add_argument(
        "--results",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="an earlier results.json: run nothing (repeatable: rows merged, a later file's replacing an earlier's)",
    )
    parser.add_argument("--check", action="store_true", help="compare the docs' tables with the measured ones")
    parser.add_argument("--no-docs", action="store_true", help="measure and write <out>/tables.md, leave the docs")
    parser.add_argument("--docs-root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.spec)
        failed: list[str] = []
        if args.results:
            document = merged_results(args.results)
            out = args.out  # None: write nothing beside the results file (a committed measured/*.json stays alone)
        else:
            rows = selected_rows(spec, args.quick, args.only)
            out = args.out or Path(tempfile.mkdtemp(prefix="video2shop_reproduce_"))
            previous_path = out / "results.json"
            previous = json.loads(previous_path.read_text()) if previous_path.is_file() else {}
            check_needs(rows, previous.get("rows", {}), out)
            out.mkdir(parents=True, exist_ok=True)
            with measuring_in(out):  # results.json is read again under the lock and rewritten whole after each row
                previous = json.loads(previous_path.read_text()) if previous_path.is_file() else {}
                print(f"reproducing {counted(len(rows), 'row')} in {out}", flush=True)
                document = measure(spec, rows, out, previous, args.quick)
            failed = [row.name for row in rows if document["rows"][row.name]["returncode"] != 0]
        results = document.get("rows", {})
        measured = ", ".join(map(str, args.results)) if args.results else out / "results.json"
        rendered, skipped = render_all(spec, results)
        if out is not None:
            write_tables_file(out, rendered, skipped)
        for line in skipped:
            print(line)
        if args.check:
            differences = check_docs(spec, results, args.docs_root, rendered)
            for line in differences:
                print(line)
            checked = sum(len(t.docs) for t in spec.tables if t.name in rendered)
            print(f"{len(differences)} differing cells in {checked} doc tables (measured: {measured})")
            return 1 if differences or failed else 0
        if not args.no_docs:
            changed = docs.write_docs(args.docs_root, doc_tables(spec), rendered)
            print(f"docs rewritten: {', '.join(changed) if changed else 'none changed'}")
        if out is not None:
            print(f"results: {measured}; tables: {out / 'tables.md'}")
        if failed:
            print(f"failed rows: {', '.join(failed)} (their logs are under {out / 'logs'})")
        return 1 if failed else 0
    except UserError as error:
        print(f"reproduce.py: error: {one_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
