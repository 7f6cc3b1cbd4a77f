"""The static HTML report: built from the published file, one chart per section, self-contained."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from pipeline import publish as pub
from pipeline.report import build_report, nice_step
from tests.publish.conftest import read


def test_the_report_shows_every_section_as_inline_svg_with_no_external_reference(warehouse, tmp_path):
    out = tmp_path / "published"
    result = pub.publish(warehouse, out, report=False)
    path = build_report(out / "marts.duckdb")

    assert path == out / "report.html"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "marts.duckdb", "parquet", "report.html"]
    html = path.read_text(encoding="utf-8")
    sections = dict(re.findall(r'<section id="(\w+)">(.*?)</section>', html, flags=re.S))
    assert set(sections) == {"pnl", "funnels", "winback", "lift", "refunds", "claims"}
    for name, body in sections.items():
        assert "<svg" in body, f"section {name} has no chart"
    assert not re.search(r"https?://", html)  # nothing to fetch: no CDN, no fonts, not even an SVG namespace
    assert "<script" not in html and " src=" not in html

    # the marts' months are DATEs; the report labels them YYYY-MM
    months = [
        m
        for (m,) in read(
            out / "marts.duckdb", "SELECT DISTINCT strftime(month, '%Y-%m') FROM cs_pnl_monthly ORDER BY 1"
        )
    ]
    assert len(months) >= 3
    for month in months:
        assert month in sections["pnl"]
    wide = read(out / "marts.duckdb", "SELECT month, net_contribution, is_profit_center FROM cs_pnl_monthly_wide")
    for _month, net, _profit in wide:
        assert f"{net:,.2f}" in sections["pnl"]  # money with two decimals, from the DECIMAL itself
        assert isinstance(net, Decimal)
    assert sections["pnl"].count("profit center") >= sum(1 for *_, p in wide if p)
    assert sections["pnl"].count("cost center") == sum(1 for *_, p in wide if not p)
    for campaign, contacted in read(
        out / "marts.duckdb", "SELECT campaign, sum(contacted)::BIGINT FROM campaign_performance_monthly GROUP BY 1"
    ):
        assert f">{campaign}<" in sections["funnels"] and f">{contacted:,}" in sections["funnels"]
    for (month,) in read(out / "marts.duckdb", "SELECT strftime(renewal_month, '%Y-%m') FROM winback_cohorts"):
        assert month in sections["winback"]
    assert result["rows"]["carrier_claims_monthly"] == 0 or "requested" in sections["claims"]
    for month, campaign, low, high in read(
        out / "marts.duckdb", "SELECT eligible_month, campaign, lift_ci_low, lift_ci_high FROM campaign_lift_monthly"
    ):  # §12: the lift with its interval, worded as an estimate
        assert f"{campaign} {month:%Y-%m}" in sections["lift"]
        assert low is None or f"[{low * 100:+.1f}, {high * 100:+.1f}]" in sections["lift"]
    assert "Estimates, not booked figures." in sections["lift"]
    for month, net, break_even in read(
        out / "marts.duckdb",
        "SELECT month, net_contribution, break_even_share FROM refund_share_sensitivity WHERE is_booked_share",
    ):
        assert f"<strong>{net:,.2f}</strong>" in sections["refunds"] and f"{month:%Y-%m}" in sections["refunds"]
        assert break_even is None or break_even < 0 or f"{break_even * 100:.1f}%" in sections["refunds"]


def test_publish_swaps_in_a_report_of_the_version_it_publishes(warehouse, tmp_path):
    out = tmp_path / "published"
    result = pub.publish(warehouse, out)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert result["report"] == str(out / "report.html")
    assert f"Published {result['published_at']}" in html
    assert "publish-tmp" not in html  # the staged file's temp name never shows


def test_chart_ticks_are_round_numbers():
    assert nice_step(800) == 200
    assert nice_step(1236.5) == 500
    assert nice_step(7, minimum=1) == 2
    assert nice_step(0, minimum=1) == 1


def test_the_lift_and_the_refund_share_sections_render_in_headless_chromium(warehouse, tmp_path):
    """The DOM Chromium lays out holds the lift section (its interval chart and table) and the sensitivity table."""
    import shutil
    import subprocess

    import pytest

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        pytest.skip("chromium is not installed (make browser)")
    out = tmp_path / "published"
    pub.publish(warehouse, out)
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", (out / "report.html").as_uri()],
        check=True, capture_output=True, timeout=120, text=True,
    ).stdout  # fmt: skip
    sections = dict(re.findall(r'<section id="(\w+)">(.*?)</section>', dom, flags=re.S))
    assert "95% interval" in sections["lift"] and sections["lift"].count("<circle") >= 2
    assert "break-even share" in sections["refunds"] and "<svg" in sections["refunds"]


def test_the_report_reads_as_finance_speaks_and_every_figure_is_the_marts(warehouse, tmp_path):
    """Issue 25: line names in the business rules' words, the currency named, each month's status, one scale for
    every campaign's funnel, claims readable per carrier, open win-back windows marked, and the funnel's revenue
    bridged to the P&L's. Before: column names (`refund_replacement_charge`), "the reporting currency", a scale per
    campaign, 18 carrier-month groups in one chart, open cohorts shown as final, the bridge in one sentence."""
    out = tmp_path / "published"
    pub.publish(warehouse, out)
    db = out / "marts.duckdb"
    html = (out / "report.html").read_text(encoding="utf-8")
    sections = dict(re.findall(r'<section id="(\w+)">(.*?)</section>', html, flags=re.S))

    for (line,) in read(db, "SELECT DISTINCT line FROM cs_pnl_monthly"):
        assert f">{line}<" not in sections["pnl"], f"the P&L shows the column name {line}"
    assert "Share of refunds and replacements charged to CS" in sections["pnl"]
    assert "Revenue: upsell campaign" in sections["pnl"]
    ((currency,),) = read(db, "SELECT reporting_currency FROM publication")
    assert f"Amounts in {currency}, the reporting currency" in html

    status_row = re.search(r"month status</strong></td>(.*?)</tr>", sections["pnl"]).group(1)
    for month, status in read(db, "SELECT strftime(month, '%Y-%m'), status FROM publication_months ORDER BY month"):
        assert status in status_row, (month, status)
    for affected, booked in read(
        db, "SELECT DISTINCT strftime(affects_month, '%Y-%m'), strftime(booked_month, '%Y-%m') FROM cs_pnl_adjustments"
    ):
        assert f"adjusted in {booked}" in status_row and f"carries adjustments of {affected}" in status_row

    # one scale: every funnel bar's width is its count times the same factor
    funnel = re.search(r"<svg.*?</svg>", sections["funnels"], flags=re.S).group(0)
    bar = r'width="([\d.]+)" height="16" fill="[^"]+"><title>[^<]*: ([\d,]+)<'
    bars = [(float(w), int(n.replace(",", ""))) for w, n in re.findall(bar, funnel)]
    widest = max(bars)
    assert len(bars) >= 6 and all(abs(w - n * widest[0] / widest[1]) <= 0.06 for w, n in bars if n), bars

    for campaign, funnel_revenue in read(
        db, "SELECT campaign, sum(revenue) FROM campaign_performance_monthly GROUP BY campaign"
    ):
        (pnl_revenue,) = read(db, "SELECT sum(amount) FROM cs_pnl_monthly WHERE line = ?", [f"revenue_{campaign}"])[0]
        row = re.search(rf"<tr><td>{campaign}</td><td class=n>([^<]*)</td><td class=n>([^<]*)</td><td class=n>([^<]*)<",
                        sections["funnels"])  # fmt: skip
        assert row, f"no revenue bridge row for {campaign}"
        assert row.groups() == (f"{funnel_revenue:,.2f}", f"{pnl_revenue:,.2f}", f"{funnel_revenue - pnl_revenue:,.2f}")

    for month, is_final in read(db, "SELECT strftime(renewal_month, '%Y-%m'), is_final FROM winback_cohorts"):
        row = re.search(rf"<tr><td>{month}.*?</tr>", sections["winback"]).group(0)
        assert ("(window open" in row and "so far" in row) != is_final, (month, is_final)

    # the project documents its own rules: links to the repository's docs pages that resolve from the report
    links = re.findall(r'href="([^"]+\.md)"', html)
    assert {Path(link).name for link in links} == {"rules.md", "campaigns.md", "pnl.md", "control-groups.md",
                                                   "sources.md"}  # fmt: skip
    assert all((out / link).resolve().is_file() for link in links) and "shared/spec" not in html

    carriers = read(db, "SELECT DISTINCT carrier FROM carrier_claims_monthly")
    months = read(db, "SELECT DISTINCT month FROM carrier_claims_monthly")
    charts = re.findall(r"<svg.*?</svg>", sections["claims"], flags=re.S)
    assert len(charts) == len(carriers) >= 1  # small multiples: one chart per carrier, months along its axis
    for (carrier,) in carriers:
        assert f"<h3>{carrier}</h3>" in sections["claims"]
    for chart in charts:
        assert chart.count('fill="#9e9e9e"><title>') == len(months)  # one "requested" bar per month
    axes = {tuple(re.findall(r'class="axis" text-anchor="end">([^<]+)<', chart)) for chart in charts}
    assert len(axes) == 1, axes  # one axis for every carrier


def test_the_report_does_not_import_publish():
    """The report renders a marts file; publishing calls it. Before, each imported the other (inside functions)."""
    import ast
    from pathlib import Path

    import pipeline.report

    tree = ast.parse(Path(pipeline.report.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert "pipeline.publish" not in imported and "pipeline" not in imported
