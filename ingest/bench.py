"""Time one extract+land of every vendor (in parallel) and one load, against whatever the connections
point at. Reports wall time, the extractor's CPU time per record, and load rows/s.

    python -m ingest.bench
"""

from __future__ import annotations

import json
import resource
import time

from ingest.extract import extract_all_vendors
from ingest.load import load_all_vendors


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> dict:
    wall, cpu = time.monotonic(), cpu_seconds()
    results = extract_all_vendors()
    records = sum(m["records"] for manifests in results.values() for m in manifests)
    extract_wall, extract_cpu = time.monotonic() - wall, cpu_seconds() - cpu
    started = time.monotonic()
    rows = sum(r["rows_in"] for loads in load_all_vendors().values() for r in loads)
    load_wall = time.monotonic() - started
    out = {
        "records": records,
        "extract_wall_s": round(extract_wall, 2),
        "extract_cpu_s": round(extract_cpu, 2),
        "land_records_per_cpu_s": round(records / extract_cpu),
        "load_rows": rows,
        "load_wall_s": round(load_wall, 2),
        "load_rows_per_s": round(rows / load_wall),
    }
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
