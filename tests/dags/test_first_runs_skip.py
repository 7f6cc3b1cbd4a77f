"""Right after a first unpause nothing has gone wrong yet: the transform waits (skips, green) while a source
has never loaded, the month-end close skips before the first build; a source that loaded and then stopped
still fails the freshness check (`dbt source freshness`, thresholds from the source declarations). Before: both
failed, and each failure alerted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from pipeline import tasks


def loaded(ages: dict[str, float], finance: bool) -> None:
    """A real warehouse whose ops tables say each vendor last loaded that many hours ago."""
    from ingest.finance import OPS_TABLE, STATUS_LOADED
    from ingest.load import connect
    from ingest.sources import vendors

    con = connect()
    try:
        for vendor, hours in ages.items():
            at = datetime.now(UTC) - timedelta(hours=hours)
            for ep in vendors()[vendor].endpoints:
                con.execute(
                    """INSERT INTO ops.extract_runs (run_id, vendor, endpoint, status, loaded_at)
                       VALUES (?, ?, ?, 'succeeded', ?)""",
                    [f"r-{vendor}", vendor, ep.entity, at],
                )
        if finance:
            con.execute(
                f"CREATE TABLE {OPS_TABLE} (file VARCHAR, sha256 VARCHAR, status VARCHAR, loaded_at TIMESTAMPTZ)"
            )
            con.execute(f"INSERT INTO {OPS_TABLE} VALUES ('fx_rates.csv', 'abc', ?, now())", [STATUS_LOADED])
    finally:
        con.close()


def test_the_transform_waits_for_every_first_load(data_dir):
    with pytest.raises(AirflowSkipException, match="no source has loaded yet"):
        tasks.check_freshness()
    loaded({"gorgias": 0.1, "shopify": 0.1, "recharge": 0.1}, finance=False)
    with pytest.raises(AirflowSkipException, match="easypost, finance inputs"):
        tasks.check_freshness()


def test_a_source_that_stopped_still_fails(data_dir):
    loaded({"gorgias": 5, "shopify": 0.1, "recharge": 0.1, "easypost": 0.1}, finance=True)
    with pytest.raises(tasks.SourceStale, match=r"gorgias\.tickets") as stale:
        tasks.check_freshness()
    assert "shopify" not in str(stale.value) and "recharge" not in str(stale.value)


def test_the_thresholds_are_the_declarations(data_dir, monkeypatch):
    """One set of thresholds: the declaration's (recharge: 30 h), rendered into the sources YAML that dbt source
    freshness runs, and FRESHNESS_<VENDOR>_HOURS over it. Before: Python said 3 h / 30 h, the YAML 26 h / 50 h."""
    loaded({"gorgias": 0.1, "shopify": 0.1, "recharge": 20, "easypost": 0.1}, finance=True)
    assert tasks.check_freshness()["recharge.charges"] >= 20
    monkeypatch.setenv("FRESHNESS_RECHARGE_HOURS", "10")
    with pytest.raises(tasks.SourceStale, match=r"recharge\.charges"):
        tasks.check_freshness()


def test_the_close_skips_before_the_first_build(data_dir):
    with pytest.raises(AirflowSkipException, match="no warehouse"):
        tasks.close_previous_month("2026-12-05T06:00:00Z")
    loaded({"gorgias": 0.1}, finance=False)  # loaded, never built
    with pytest.raises(AirflowSkipException, match="never built"):
        tasks.close_previous_month("2026-12-05T06:00:00Z")
