"""Extraction, one DAG per vendor: extract (network, retried) -> load (the single writer) -> asset.

A scheduled run reads from the loaded watermark (minus the endpoint's lookback) up to the end of its
data interval; a backfill run reads exactly its data interval; `conf` {"since", "until"} overrides both.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from pipeline_defaults import DAG_DEFAULTS, NETWORK_RETRIES, RAW_ASSETS, WRITER_POOL, extract_window, schedule_for


def extraction_dag(vendor: str) -> None:
    @dag(
        dag_id=f"extract_{vendor}",
        schedule=schedule_for(vendor),
        tags=["extract", vendor],
        description=f"{vendor.capitalize()} API -> landing files -> raw_{vendor} (the asset that triggers transform)",
        doc_md=__doc__,
        **DAG_DEFAULTS,
    )
    def extract_vendor() -> None:
        @task(**NETWORK_RETRIES)
        def extract(**context) -> dict:
            from pipeline.tasks import extract

            return extract(vendor, *extract_window(context))

        @task(pool=WRITER_POOL, outlets=[RAW_ASSETS[vendor]])
        def load(**context) -> dict:
            from pipeline.tasks import load

            merged = load(vendor)
            # the transform it triggers describes the data as of this instant (its default as_of)
            context["outlet_events"][RAW_ASSETS[vendor]].extra = {"until": extract_window(context)[1]}
            return merged

        extract() >> load()

    extract_vendor()


for name in RAW_ASSETS:
    extraction_dag(name)
