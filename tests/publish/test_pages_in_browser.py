"""The published pages as a reader sees them, in headless Chromium at a laptop's width (1280 px) and a phone's
(390 px): the report, the pipeline health page and the dbt docs site. Each renders with nothing on the
browser's console, its key figures are there as text (equal to the marts and the ops tables), and a
screenshot of readable size comes out (PAGES_SCREENSHOT_DIR keeps them, to look at)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from expectations.runner import validate
from pipeline import publish as pub
from tests.publish.browser import rendered, screenshot, served, visible_text
from tests.publish.conftest import read

WIDTHS = {"laptop": 1280, "phone": 390}
HEIGHTS = {"report.html": 5200, "health.html": 1500, "dbt-docs/index.html": 900}


@pytest.fixture(scope="module")
def published(warehouse, tmp_path_factory) -> tuple[Path, Path]:
    """A copy of the tiny warehouse that went through both gates (so the health page has results to show),
    published with the dbt docs site: (published folder, warehouse)."""
    work = tmp_path_factory.mktemp("pages")
    copy = work / "warehouse.duckdb"
    shutil.copyfile(warehouse, copy)
    validate("raw", copy)
    validate("marts", copy)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PUBLISH_DBT_DOCS", "true")
        pub.publish(copy, work / "published")
    return work / "published", copy


def report_figures(db: Path) -> list[str]:
    (currency,) = read(db, "SELECT reporting_currency FROM publication")[0]
    figures = [f"Amounts in {currency}", "month status"]
    figures += [f"{net:,.2f}" for (net,) in read(db, "SELECT net_contribution FROM cs_pnl_monthly_wide")]
    figures += [f"{n:,}" for (n,) in read(db, "SELECT sum(contacted)::BIGINT FROM campaign_performance_monthly "
                                              "GROUP BY campaign HAVING sum(contacted) > 0")]  # fmt: skip
    figures += [c for (c,) in read(db, "SELECT DISTINCT carrier FROM carrier_claims_monthly")]
    return figures


def health_figures(warehouse: Path) -> list[str]:
    figures = ["Extracts", "Freshness", "Data-quality gates"]
    figures += [
        f"{vendor} {endpoint} {when}" for vendor, endpoint, when in read(
            warehouse,
            """SELECT vendor, endpoint, strftime(max(finished_at) AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M UTC')
               FROM ops.extract_runs WHERE status = 'succeeded' GROUP BY ALL""",
        )
    ]  # fmt: skip
    figures += [
        f"{layer} {when} {n:,} passed" for layer, when, n in read(
            warehouse,
            """SELECT layer, strftime(max(validated_at) AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M UTC'), count(*)
               FROM ops.dq_results GROUP BY layer, run_id""",
        )
    ]  # fmt: skip
    return figures


def docs_figures(db: Path) -> list[str]:
    """The published marts, listed by name in the rendered site (the sidebar Angular draws from the manifest; it
    breaks long names with tags, so the test reads its text without spaces)."""
    return ["cs_profit_center", "CSprofitcenter:thepublishedmarts"] + [
        name for (name,) in read(db, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'")
    ]


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
@pytest.mark.parametrize("page", HEIGHTS)
def test_the_published_pages_render_with_no_console_errors_and_their_figures_as_text(published, page, width, tmp_path):
    """Before: only the report was rendered, at 1280 px, with nothing checked but the PNG's size (this replaces
    that test); there was no health page and no dbt docs site."""
    folder, warehouse = published
    expected = {
        "report.html": report_figures(folder / "marts.duckdb"),
        "health.html": health_figures(warehouse),
        "dbt-docs/index.html": docs_figures(folder / "marts.duckdb"),
    }[page]
    png = tmp_path / f"{page.replace('/', '-')}-{width}.png"
    with served(folder) as base:
        # the report and the health page are opened as files (an e-mail attachment, a file share); the dbt docs
        # site over HTTP (it loads its icons by URL, which browsers refuse from file://)
        url = f"{base}/{page}" if page.startswith("dbt-docs") else (folder / page).as_uri()
        dom, console = rendered(url, tmp_path / "profile", width=width)
        size = screenshot(url, tmp_path / "profile", png, width=width, height=HEIGHTS[page])

    assert console == [], console
    text = visible_text(dom)
    if page.startswith("dbt-docs"):
        text = text.replace(" ", "")
    missing = [f for f in expected if f not in text]
    assert not missing, f"{page} at {width} px lacks {missing}"
    assert size == (width, HEIGHTS[page])
    assert png.stat().st_size > 20_000, "the screenshot is nearly blank"
    if keep := os.environ.get("PAGES_SCREENSHOT_DIR"):
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)


def test_the_dbt_docs_site_is_generated_once_per_project_version(published, tmp_path):
    """A publish with an unchanged dbt project keeps the published docs page (no `dbt docs generate`, which costs
    seconds); the page is self-contained: nothing to fetch from a network."""
    folder, warehouse = published
    index = folder / "dbt-docs" / "index.html"
    before = index.stat().st_mtime_ns
    changed = tmp_path / "changed.duckdb"  # new data (a new version is published), the same dbt project
    shutil.copyfile(warehouse, changed)
    con = duckdb.connect(str(changed))
    try:
        con.execute("UPDATE marts.cs_pnl_monthly SET amount = amount + 0.01 WHERE rowid = 0")
    finally:
        con.close()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PUBLISH_DBT_DOCS", "true")
        result = pub.publish(changed, folder)
    assert result["unchanged"] is False
    assert result["dbt_docs"] == str(index)
    assert index.stat().st_mtime_ns == before
    assert result["timings"]["dbt_docs_s"] < 1
    page = index.read_text(encoding="utf-8")
    assert '<script src="http' not in page and '<link href="http' not in page and "cs_pnl_monthly" in page
