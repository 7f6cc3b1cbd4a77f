"""Month-end close: on CLOSE_DAY_OF_MONTH (default the 5th) freeze the previous month's P&L and
write its finance pack; the close is an asset, so the transform DAG republishes with it."""

from __future__ import annotations

from airflow.sdk import dag, task

from pipeline_defaults import CLOSE_ASSET, CLOSE_DAY, DAG_DEFAULTS, WRITER_POOL


@dag(
    dag_id="month_end_close",
    schedule=f"0 6 {CLOSE_DAY} * *",
    tags=["finance", "close"],
    description="Freeze the previous month's CS P&L and write its finance pack",
    doc_md=__doc__,
    **DAG_DEFAULTS,
)
def month_end_close() -> None:
    @task(pool=WRITER_POOL, outlets=[CLOSE_ASSET])
    def close_previous_month(**context) -> dict:
        from pipeline.tasks import close_previous_month

        when = (context["dag_run"].conf or {}).get("as_of") or context["logical_date"].isoformat()
        return close_previous_month(when)

    close_previous_month()


month_end_close()
