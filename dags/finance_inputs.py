"""Finance inputs: load the CSVs (FINANCE_INPUTS_DIR) whenever they change; a bad file fails with
file, line, column and problem, and the previous good version stays loaded."""

from __future__ import annotations

from airflow.sdk import dag, task

from pipeline_defaults import DAG_DEFAULTS, FINANCE_ASSET, FINANCE_CHECK_SCHEDULE, WRITER_POOL


@dag(
    dag_id="finance_inputs",
    schedule=FINANCE_CHECK_SCHEDULE,
    tags=["finance"],
    description="Load the finance CSVs when they change (a bad file fails naming file, line and column)",
    doc_md=__doc__,
    **DAG_DEFAULTS,
)
def finance_inputs() -> None:
    @task.short_circuit(pool=WRITER_POOL)  # reads the warehouse: a reader beside a writer fails one of them
    def files_changed() -> bool:
        from pipeline.tasks import finance_inputs_changed

        return finance_inputs_changed()

    @task(pool=WRITER_POOL, outlets=[FINANCE_ASSET])
    def load() -> dict:
        from pipeline.tasks import load_finance

        return load_finance()

    files_changed() >> load()


finance_inputs()
