"""One pipeline run after extraction, as the DAGs chain it: load (every vendor, then the finance
inputs), `dbt build`, publish. Prints `stage <name>` as each begins, so a test that kills this
process knows where it died.

    python pipeline_once.py AS_OF
"""

from __future__ import annotations

import sys

from ingest.vendors import CLIENTS
from pipeline import tasks


def stage(name: str) -> None:
    print(f"stage {name}", flush=True)


def main(as_of: str) -> None:
    stage("load")
    for vendor in CLIENTS:
        tasks.load(vendor)
    tasks.load_finance()
    stage("dbt")
    tasks.dbt_build(as_of)
    stage("publish")
    tasks.publish()
    stage("done")


if __name__ == "__main__":
    main(sys.argv[1])
