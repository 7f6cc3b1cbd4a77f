"""One benchmark stage, run in a process of its own so that its wall time, CPU time and peak memory
are its own. Each stage is the same call the Airflow tasks make (pipeline.tasks / ingest), so the
benchmark times the pipeline, not a copy of it. Prints its summary as the last line (JSON).

    python -m bench.stage extract_land | load | dbt_full AS_OF | dbt_incremental AS_OF | gx_gate | publish
"""

from __future__ import annotations

import json
import sys


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


def dbt_full(as_of: str) -> dict:
    from pipeline import tasks

    return {"summary": tasks.dbt_build(as_of, full_refresh=True)}


def dbt_incremental(as_of: str) -> dict:
    from pipeline import tasks

    return {"summary": tasks.dbt_build(as_of)}


def gx_gate() -> dict:
    from pipeline import tasks

    layers = [tasks.quality_gate(layer) for layer in ("raw", "marts")]
    return {"expectations": sum(r["expectations"] for r in layers)}


def publish() -> dict:
    from pipeline import tasks

    return {"rows": sum(tasks.publish()["rows"].values())}


STAGES = {f.__name__: f for f in (extract_land, load, dbt_full, dbt_incremental, gx_gate, publish)}

if __name__ == "__main__":
    print(json.dumps(STAGES[sys.argv[1]](*sys.argv[2:])), flush=True)
