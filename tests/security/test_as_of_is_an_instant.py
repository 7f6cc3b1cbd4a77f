"""`as_of` reaches SQL (dbt's as_of() macro) from the CLI, the transform DAG's conf, env DBT_AS_OF and var
as_of. A crafted value that ends the literal and reads /proc/self/environ used to print every secret of the
environment in dbt's error: now each entry point parses it as an instant and the macro checks it again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.dbt import PROJECT_DIR, dbt_executable

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-token-do-not-print"
CRAFTED = "2026-01-01' as timestamptz) + (select content from read_text('/proc/self/environ'))::int::interval || ('"
CRAFTED_SIMPLE = "x' || (select content from read_text('/proc/self/environ')) || '"
MESSAGE = "must be an ISO 8601 instant such as 2026-09-01T05:00:00Z"


def env_with_secret(data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DATA_DIR": str(data_dir),
        "AIRFLOW_CONN_SHOPIFY_DEFAULT": json.dumps(
            {"conn_type": "http", "host": "http://127.0.0.1:9", "password": SECRET}
        ),
        "LEAKED_SECRET": SECRET,
        "NETWORK_RETRY_DELAY_SECONDS": "0",
        **extra,
    }


@pytest.mark.parametrize("value", [CRAFTED, CRAFTED_SIMPLE, "yesterday"])
@pytest.mark.parametrize("module", ["pipeline.dbt", "pipeline.run"])
def test_the_clis_refuse_an_as_of_that_is_not_an_instant(module, value, data_dir):
    args = [sys.executable, "-m", module, *(["build"] if module == "pipeline.dbt" else []), "--as-of", value]
    proc = subprocess.run(args, env=env_with_secret(data_dir), capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-2000:]
    assert f"--as-of {MESSAGE}" in output
    assert SECRET not in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("how", "named"),
    [(["--vars", json.dumps({"as_of": CRAFTED_SIMPLE})], "var as_of"), ([], "DBT_AS_OF")],
    ids=["vars", "env"],
)
def test_pipeline_dbt_checks_as_of_from_vars_and_the_environment(how, named, data_dir):
    env = env_with_secret(data_dir, DBT_AS_OF=CRAFTED_SIMPLE if named == "DBT_AS_OF" else "")
    proc = subprocess.run([sys.executable, "-m", "pipeline.dbt", "build", *how], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-2000:]
    assert f"{named} {MESSAGE}" in output
    assert SECRET not in output and "Traceback" not in output


def test_the_month_end_close_parses_its_as_of(data_dir):
    from ingest.parse import InvalidInstant
    from pipeline.tasks import close_previous_month

    with pytest.raises(InvalidInstant, match=f"as_of {MESSAGE}"):
        close_previous_month(CRAFTED)


def dbt_show(data_dir: Path, *, env_as_of: str | None = None, var_as_of: str | None = None):
    """`dbt show` of the as_of() macro alone, straight through dbt (no Python check in front of it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = env_with_secret(data_dir, WAREHOUSE_PATH=str(data_dir / "warehouse.duckdb"), DUCKDB_MEMORY_LIMIT="1GB")
    env.pop("DBT_AS_OF", None)
    if env_as_of is not None:
        env["DBT_AS_OF"] = env_as_of
    args = [dbt_executable(), "show", "--inline", "select {{ as_of() }} as as_of", "--project-dir", str(PROJECT_DIR),
            "--profiles-dir", str(PROJECT_DIR)]  # fmt: skip
    if var_as_of is not None:
        args += ["--vars", json.dumps({"as_of": var_as_of})]
    proc = subprocess.run(args, env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("how", ["env_as_of", "var_as_of"])
def test_the_macro_refuses_a_crafted_as_of_and_never_prints_the_environment(how, data_dir):
    code, output = dbt_show(data_dir, **{how: CRAFTED_SIMPLE})
    assert SECRET not in output  # before: the cast error quoted /proc/self/environ, connections and all
    assert code != 0
    assert "as_of (var as_of or env DBT_AS_OF) must be an ISO 8601 instant" in output


def test_the_macro_still_takes_an_instant(data_dir):
    code, output = dbt_show(data_dir, env_as_of="2026-09-01T05:00:00+00:00")
    assert code == 0, output[-2000:]
    assert "2026-09-01 05:00:" in output


def transform_dag():
    from pipeline.airflow_local import configure, dags
    from pipeline.dbt import ensure_manifest

    configure()
    ensure_manifest()  # the transform DAG renders its dbt task group (and the as_of template) from it
    return dags()["transform"]


def render_as_of(dag, conf: dict, untils: tuple[str, ...] = ()) -> str:
    """The DBT_AS_OF the transform DAG's dbt build process would get for a run with this conf, triggered by
    asset events that read up to `untils`."""
    producer = next(t for t in dag.tasks if "env" in t.template_fields and "DBT_AS_OF" in (t.env or {}))
    events = {"raw": [SimpleNamespace(extra={"until": u}) for u in untils]}
    context = {"dag_run": SimpleNamespace(conf=conf), "triggering_asset_events": events}
    rendered = producer.render_template(producer.env, context, dag.get_template_env())
    return rendered["DBT_AS_OF"]


def test_the_transform_dag_parses_its_conf_as_of(data_dir):
    from ingest.parse import InvalidInstant

    dag = transform_dag()
    assert render_as_of(dag, {"as_of": "2026-09-01T05:00:00Z"}) == "2026-09-01T05:00:00+00:00"
    assert render_as_of(dag, {}) == ""  # now
    with pytest.raises(InvalidInstant, match=r'dag_run.conf\["as_of"\] must be an ISO 8601 instant'):
        render_as_of(dag, {"as_of": CRAFTED})
    # without a conf, the latest instant the triggering extracts read up to; an asset event's text is parsed too
    untils = ("2026-09-01T04:00:00+00:00", "2026-09-01T05:00:00Z")
    assert render_as_of(dag, {}, untils) == "2026-09-01T05:00:00+00:00"
    with pytest.raises(InvalidInstant, match="asset event until must be an ISO 8601 instant"):
        render_as_of(dag, {}, (CRAFTED,))
