"""Extraction, one DAG per vendor: extract (network, retried) -> load (the single writer) -> asset.

A scheduled run reads from the loaded watermark (minus the endpoint's lookback) up to the end of its
data interval; a backfill run reads exactly its data interval; `conf` {"since", "until"} overrides both.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from pipeline_defaults import DAG_DEFAULTS, NETWORK_RETRIES, RAW_ASSETS, WRITER_POOL, schedule_for


def extraction_dag(vendor: str) -> None:
    @dag(dag_id=f"extract_{vendor}", schedule=schedule_for(vendor), tags=["extract", vendor], **DAG_DEFAULTS)
    def extract_vendor() -> None:
        @task(**NETWORK_RETRIES)
        def extract(**context) -> dict:
            from pipeline.tasks import extract

            run = context["dag_run"]
            conf = run.conf or {}  # `make run` passes an explicit window
            backfill = str(run.run_type).lower().endswith("backfill")
            start, end = context.get("data_interval_start"), context.get("data_interval_end")
            since = conf.get("since") or (start.isoformat() if backfill and start else None)
            return extract(vendor, since, conf.get("until") or (end.isoformat() if end else None))

        @task(pool=WRITER_POOL, outlets=[RAW_ASSETS[vendor]])
        def load() -> dict:
            from pipeline.tasks import load

            return load(vendor)

        extract() >> load()

    extract_vendor()


for name in RAW_ASSETS:
    extraction_dag(name)
