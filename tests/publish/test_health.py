"""The pipeline health page: what it says about extracts, freshness and gates comes from the warehouse's own
bookkeeping (`ops.extract_runs`, `ops.dq_results`), for a data engineer who wants to know what went wrong."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, timedelta

import duckdb

from pipeline.health import render_health
from tests.publish.conftest import read


def test_the_health_page_shows_failed_and_never_successful_extracts_stale_sources_and_no_gate_yet(warehouse, tmp_path):
    """Before: no health page. A run of gorgias.tickets failed after its last success, an endpoint never
    succeeded, and Shopify's last load is older than a 1-hour threshold: each is said, in red."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse, copy)
    con = duckdb.connect(str(copy))
    try:
        con.execute(
            """INSERT INTO ops.extract_runs (run_id, vendor, endpoint, records, rejected, requests, retries, throttled,
                                             duration_s, status, error, started_at, finished_at, loaded_at)
               VALUES ('late-failure', 'gorgias', 'tickets', 0, 0, 3, 2, 1, 1.0, 'failed', 'HTTPError: 503',
                       now() + INTERVAL 1 MINUTE, now() + INTERVAL 2 MINUTE, now() + INTERVAL 2 MINUTE),
                      ('never', 'gorgias', 'views', 0, 0, 1, 0, 0, 0.2, 'failed', 'HTTPError: 404',
                       now(), now(), now())"""
        )
    finally:
        con.close()
    (shopify_loaded,) = read(copy, "SELECT max(loaded_at) FROM ops.extract_runs WHERE vendor = 'shopify'")[0]
    at = shopify_loaded.astimezone(UTC) + timedelta(hours=2)

    html = render_health(copy, at=at, limits={"shopify": 1, "gorgias": 3}, published_at="then")
    sections = dict(re.findall(r'<section id="(\w+)">(.*?)</section>', html, flags=re.S))
    assert set(sections) == {"extracts", "freshness", "gates"}

    tickets = re.search(r"<tr><td>gorgias</td><td>tickets</td>.*?</tr>", sections["extracts"]).group(0)
    assert tickets.endswith('<span class="warn">1</span></td></tr>')  # one failed run since the last success
    (records,) = read(
        copy,
        """SELECT records FROM ops.extract_runs WHERE vendor = 'gorgias' AND endpoint = 'tickets'
           AND status = 'succeeded' ORDER BY finished_at DESC LIMIT 1""",
    )[0]
    assert f"<td class=n>{records:,}</td>" in tickets
    views = re.search(r"<tr><td>gorgias</td><td>views</td>.*?</tr>", sections["extracts"]).group(0)
    assert '<span class="warn">never</span>' in views

    shopify = re.search(r"<tr><td>shopify</td>.*?</tr>", sections["freshness"]).group(0)
    assert "2.0 h" in shopify and "1 h" in shopify and ">stale<" in shopify
    gorgias = re.search(r"<tr><td>gorgias</td>.*?</tr>", sections["freshness"]).group(0)
    assert ">fresh<" in gorgias
    assert "No data-quality gate has run" in sections["gates"]  # the tiny warehouse was built without the gates
