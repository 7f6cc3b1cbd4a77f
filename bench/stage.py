"""One benchmark stage, run in a process of its own so that its wall time, CPU time and peak memory
are its own. Each stage is the same call the Airflow tasks make (pipeline.tasks / ingest), so the
benchmark times the pipeline, not a copy of it. Prints its summary as the last line (JSON), with where
the time went: `python_start_s` (process start to the stage's call: the interpreter), `stage_s` (the call,
its imports included) and, for dbt, `dbt_nodes_s` (dbt's own run time of the nodes) and `dbt_startup_s` (the
rest of the call: dbt's start-up and end: imports, parse, manifest, connections, artifacts).

    python -m bench.stage extract_land | load | dbt_parse | dbt_models AS_OF | dbt_full AS_OF | dbt_incremental AS_OF
                          | freshness | gx_gate | publish
"""

from __future__ import annotations

import json
import sys
import time


def extract_land() -> dict:
    from ingest.extract import extract_all_vendors

    results = extract_all_vendors()
    manifests = [m for ms in results.values() for m in ms]
    return {
        "records": sum(m["records"] for m in manifests),
        "rejected": sum(m["rejected"] for m in manifests),
        "pages": sum(m["pages"] for m in manifests),
    }


def load() -> dict:
    from ingest.vendors import CLIENTS
    from pipeline import tasks

    merged = {vendor: tasks.load(vendor) for vendor in CLIENTS}
    finance = tasks.load_finance()
    return {"rows_merged": sum(n for per in merged.values() for n in per.values()), "finance": finance["status"]}


def dbt_parse() -> dict:
    """`dbt parse` once, before the timed dbt stages: the bench's warehouse path is new to dbt's partial-parse
    state (the profile changed), and a deployment's every run after its first finds that state warm."""
    from pipeline.dbt import run_dbt

    run_dbt("parse", quiet=True)
    return {}


def dbt_models(as_of: str) -> dict:
    """The models alone, rebuilt (no data tests): the transform the hand-written SQL is compared with."""
    from pipeline.dbt import run_dbt

    run_dbt("run", as_of=as_of, full_refresh=True, quiet=True)
    return dbt_timing()


def dbt_full(as_of: str) -> dict:
    from pipeline import tasks

    return {"summary": tasks.dbt_build(as_of, full_refresh=True), **dbt_timing()}


def dbt_incremental(as_of: str) -> dict:
    from pipeline import tasks

    return {"summary": tasks.dbt_build(as_of), **dbt_timing()}


def dbt_timing() -> dict:
    """dbt's own time running the nodes (run_results.json), and how many ran."""
    import os
    from pathlib import Path

    from pipeline.dbt import PROJECT_DIR

    target = Path(os.environ.get("DBT_TARGET_PATH") or PROJECT_DIR / "target")
    results = json.loads((PROJECT_DIR / target / "run_results.json").read_text())
    return {"dbt_nodes_s": round(results["elapsed_time"], 2), "nodes": len(results["results"])}


def freshness() -> dict:
    """The transform's first task: hours since each endpoint's last load, by `dbt source freshness`."""
    from pipeline import tasks

    return {"endpoints": len(tasks.check_freshness())}


def gx_gate() -> dict:
    from pipeline import tasks

    layers = [tasks.quality_gate(layer) for layer in ("raw", "marts")]
    return {"expectations": sum(r["expectations"] for r in layers)}


def publish() -> dict:
    from pipeline import tasks

    return {"rows": sum(tasks.publish()["rows"].values())}


STAGES = {f.__name__: f for f in (extract_land, load, dbt_parse, dbt_models, dbt_full, dbt_incremental, freshness,
                                   gx_gate, publish)}  # fmt: skip

if __name__ == "__main__":
    import psutil

    called = time.time()
    summary = STAGES[sys.argv[1]](*sys.argv[2:])
    timing = {"python_start_s": round(called - psutil.Process().create_time(), 2),
              "stage_s": round(time.time() - called, 2)}  # fmt: skip
    if "dbt_nodes_s" in summary:  # dbt's start-up (imports, parse, manifest, cache) and end, apart from its nodes
        timing["dbt_startup_s"] = round(timing["stage_s"] - summary["dbt_nodes_s"], 2)
    print(json.dumps({**timing, **summary}), flush=True)
