"""Every DAG file imports cleanly and parses fast (each measured in a fresh interpreter that has
already imported Airflow, the way the DAG processor sees it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if p.name != "pipeline_defaults.py")

PARSE = """
import json, sys, time
import airflow  # the DAG processor has Airflow loaded before it parses a file
from airflow.dag_processing.dagbag import DagBag
out = {}
for path in sys.argv[1:]:
    started, cpu = time.perf_counter(), time.process_time()
    bag = DagBag(dag_folder=path)
    out[path] = {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
                 "dags": sorted(bag.dags),
                 "tasks": sum(len(d.tasks) for d in bag.dags.values()),
                 "errors": {k: v[-300:] for k, v in bag.import_errors.items()},
                 "pools": [[d.dag_id, t.task_id, t.pool, type(t).__name__] for d in bag.dags.values() for t in d.tasks]}
from pipeline_defaults import WRITER_POOL
print("RESULT" + json.dumps({p: {**r, "writer_pool": WRITER_POOL} for p, r in out.items()}))
"""


def parse_all(tmp_path, times: int = 2) -> dict:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join([str(DAGS.parent), str(DAGS)]),
    }
    # Twice: the first parse after an install also reads every import from a cold disk cache, which the DAG
    # processor pays once; it re-parses every file every few seconds after that. The second is the figure.
    for _ in range(times):
        proc = subprocess.run(
            [sys.executable, "-c", PARSE, *map(str, DAG_FILES)], env=env, capture_output=True, text=True, check=True
        )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line.removeprefix("RESULT"))


def test_every_dag_imports_and_parses_in_under_a_second(tmp_path):
    from pipeline.dbt import ensure_manifest

    ensure_manifest()  # so the transform DAG renders its dbt models (astronomer-cosmos) as it does in production
    results = parse_all(tmp_path)
    for path, r in results.items():
        wall, cpu = r["seconds"] * 1000, r["cpu_seconds"] * 1000
        print(f"{Path(path).name:<22} {wall:7.1f} ms wall {cpu:7.1f} ms CPU  {r['dags']}")
        assert not r["errors"], r["errors"]
        assert r["dags"], f"{path} defines no DAG"
        # CPU time: what the parse costs the DAG processor, and steady on a busy machine (wall time is not)
        assert r["cpu_seconds"] < 1.0, f"{path} took {r['cpu_seconds']:.2f} s of CPU to parse"
    transform = next(r for p, r in results.items() if p.endswith("transform.py"))
    assert transform["tasks"] > 40, "the transform DAG does not show the dbt models as tasks"
    found = {d for r in results.values() for d in r["dags"]}
    assert found == {
        "extract_gorgias", "extract_recharge", "extract_shopify", "extract_easypost",
        "finance_inputs", "transform", "month_end_close",
    }  # fmt: skip


def test_dag_files_import_nothing_heavy_at_top_level():
    heavy = ("duckdb", "pandas", "great_expectations", "dbt", "pyarrow", "ingest", "expectations", "requests")
    light = ("ingest.sources",)  # the source declarations, which the DAGs are made from (checked below)
    for path in [*DAG_FILES, DAGS / "pipeline_defaults.py"]:
        top = [line for line in path.read_text().splitlines() if line.startswith(("import ", "from "))]
        for line in top:
            module = line.split()[1]
            slow = module not in light and module.split(".")[0] in heavy
            assert not slow, f"{path.name}: top-level `{line}` slows every parse"
    code = "import sys, ingest.sources as s; s.vendors(); print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    drivers = ("duckdb", "msgspec", "urllib3", "pandas", "pyarrow", "ingest.client", "ingest.http")
    assert not [m for m in loaded if m.startswith(drivers)], "reading the source declarations imports a driver"


# Tasks that never open the warehouse, so they may run beside its writer: extraction talks to the vendor
# and writes landing files only (ingest/extract.py); cosmos' per-model tasks (a model's run, its tests) report
# what the one `dbt build` process (the producer, in the pool) did; an EmptyOperator does nothing.
WAREHOUSE_FREE = {
    "extract": "_PythonDecoratedOperator",
    "*": ("DbtRunWatcherOperator", "DbtTestWatcherOperator", "EmptyOperator"),
}


def test_every_task_that_opens_the_warehouse_runs_in_the_writer_pool(tmp_path):
    """Before: check_freshness and finance_inputs' files_changed read the warehouse outside the pool, and
    failed (or made a load fail) when they overlapped a writer: DuckDB locks the file per process."""
    from pipeline.dbt import ensure_manifest

    ensure_manifest()
    results = parse_all(tmp_path, times=1)
    tasks = [t for r in results.values() for t in r["pools"]]
    pool_name = next(iter(results.values()))["writer_pool"]
    outside = [
        f"{dag}.{task}"
        for dag, task, pool, kind in tasks
        if pool != pool_name and WAREHOUSE_FREE.get(task) != kind and kind not in WAREHOUSE_FREE["*"]
    ]
    assert not outside, f"tasks outside the {pool_name} pool that may open the warehouse: {outside}"
    assert sum(kind == "DbtProducerWatcherOperator" and pool == pool_name for _, _, pool, kind in tasks) == 1
