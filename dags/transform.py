"""Transform and publish, whenever a raw layer, the finance inputs or a month-end close changes:
freshness check -> raw-layer quality gate -> dbt build -> mart quality gate -> publish. The dbt build
shows one task per model (astronomer-cosmos) but runs as one `dbt build` process.

`dag_run.conf["as_of"]` sets the instant the data describes (default: now; the sandbox passes its clock).
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from airflow.sdk import dag, task

from pipeline.dbt import dbt_task_group
from pipeline_defaults import (
    CLOSE_ASSET,
    DAG_DEFAULTS,
    FINANCE_ASSET,
    PUBLISHED_ASSET,
    RAW_ASSETS,
    WRITER_POOL,
    conf_as_of,
)


@dag(
    dag_id="transform",
    schedule=reduce(or_, [*RAW_ASSETS.values(), FINANCE_ASSET, CLOSE_ASSET]),
    tags=["dbt", "quality", "publish"],
    description="Freshness -> raw gate -> one dbt build (a task per model) -> marts gate -> publish",
    doc_md=__doc__,
    user_defined_macros={"conf_as_of": conf_as_of},
    **DAG_DEFAULTS,
)
def transform() -> None:
    @task(pool=WRITER_POOL)  # reads the warehouse: a reader beside a writer fails one of them
    def check_freshness() -> dict:
        from pipeline.tasks import check_freshness

        return check_freshness()

    @task(pool=WRITER_POOL)
    def raw_quality_gate() -> dict:
        from pipeline.tasks import quality_gate

        return quality_gate("raw")

    as_of = "{{ conf_as_of(dag_run.conf, triggering_asset_events) }}"  # parsed at rendering; empty = now
    dbt = dbt_task_group("dbt", as_of, WRITER_POOL)

    @task(pool=WRITER_POOL)
    def marts_quality_gate() -> dict:
        from pipeline.tasks import quality_gate

        return quality_gate("marts")

    @task(pool=WRITER_POOL, outlets=[PUBLISHED_ASSET])
    def publish() -> dict:
        from pipeline.tasks import publish

        return publish()

    check_freshness() >> raw_quality_gate() >> dbt >> marts_quality_gate() >> publish()


transform()
