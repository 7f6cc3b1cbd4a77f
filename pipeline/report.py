"""A static HTML report of the published marts, for people who would rather look than read.

    build_report(published_db) -> published/report.html

One self-contained file: inline CSS and SVG charts drawn here, no JavaScript, no network, no CDN, so it
opens from a file share or an e-mail attachment. Read from the published DuckDB file (read-only).
Sections: the monthly P&L, campaign funnels, win-back cohorts by renewal month, lift against control groups
(estimates), the refund-share sensitivity, carrier claims.
Amounts are the marts' DECIMALs, printed with 2 decimals; floats are used only for pixel geometry.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from pathlib import Path

import duckdb

from ingest.errors import run_cli
from settings import published_db_path

GREEN, RED, GREY = "#2e7d32", "#c62828", "#9e9e9e"
PALETTE = ("#1f5f99", "#e08a00", "#2e7d32", "#7b3fa0", "#00838f", "#6d4c41")
Number = int | Decimal


# The P&L's lines in the words of the business rules (§8), not the mart's column names; a campaign's revenue line
# (`revenue_<campaign>`) is named after its campaign, so a newly declared campaign needs no entry here.
LINE_LABELS = {
    "cogs_attributed": "Cost of goods of attributed orders (goods at cost + shipping labels)",
    "gross_profit": "Gross profit",
    "carrier_claims_income": "Carrier claims recovered",
    "cost_staffing": "Staffing",
    "cost_platform": "Helpdesk platform",
    "cost_other": "Other CS costs",
    "refund_replacement_charge": "Share of refunds and replacements charged to CS",
    "net_contribution": "Net contribution",
}
TOTALS = {"gross_profit", "net_contribution"}


def line_label(line: str) -> str:
    if line.startswith("revenue_"):
        return f"Revenue: {line.removeprefix('revenue_')} campaign"
    return LINE_LABELS.get(line, line.replace("_", " ").capitalize())


def money(value: Number | None) -> str:
    return "—" if value is None else f"{Decimal(value):,.2f}"


def count(value: Number | None) -> str:
    return "—" if value is None else f"{int(value):,}"


def rate(value: Number | None) -> str:
    return "—" if value is None else f"{Decimal(value) * 100:.1f}%"


def nice_step(span: float, ticks: int = 4, *, minimum: float = 0.01) -> float:
    """A round tick step (1, 2, 2.5 or 5 × 10^k) covering `span` in about `ticks` steps."""
    raw = max(span / ticks, minimum)
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(magnitude * m for m in (1, 2, 2.5, 5, 10) if magnitude * m >= raw)


def bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[Number | None]]],
    *,
    fmt=money,
    colors: Sequence[str] | None = None,
    bar_colors: Sequence[str] | None = None,
    markers: Sequence[tuple[str, str]] | None = None,
    title: str = "",
    domain: Sequence[Number | None] = (),
) -> str:
    """Grouped vertical bars with a zero line (negatives go down), value labels and a legend.

    `bar_colors` colours each category's bar (single series); `markers` adds a coloured dot and a word
    under each category (the P&L's profit-center marker); `domain`: more values the axis must cover (small multiples
    share one axis this way).
    """
    colors = colors or PALETTE
    values = [float(v or 0) for _, vals in series for v in vals] + [float(v or 0) for v in domain]
    top, bottom = max([0.0, *values]), min([0.0, *values])
    step = nice_step(top - bottom, minimum=0.01 if fmt is money else 1)
    top, bottom = math.ceil(top / step) * step, math.floor(bottom / step) * step
    group_w = max(120, 46 * len(series) + 30)
    left, right, head, plot_h = 80, 20, 34 if len(series) > 1 else 14, 200
    foot = 62 if markers else 46
    width = max(left + right + group_w * len(categories), left + 150 * len(series))
    height = head + plot_h + foot

    def y(v: float) -> float:
        return head + (top - v) / ((top - bottom) or 1.0) * plot_h

    out = [f'<svg role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="chart">']
    out.append(f"<title>{escape(title)}</title>")
    tick = bottom
    while tick <= top + step / 2:
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" class="grid"/>')
        label = fmt(Decimal(str(round(tick, 2)))) if fmt is money else f"{tick:,.0f}"
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" class="axis" text-anchor="end">{label}</text>')
        tick += step
    bar_w = (group_w - 30) / max(1, len(series))
    for i, cat in enumerate(categories):
        x0 = left + i * group_w + 15
        for j, (_, vals) in enumerate(series):
            v = vals[i]
            fill = bar_colors[i] if bar_colors else colors[j % len(colors)]
            y_top, y_bot = sorted((y(float(v or 0)), y(0.0)))
            x = x0 + j * bar_w
            out.append(
                f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{bar_w - 3:.1f}" height="{max(y_bot - y_top, 0.5):.1f}" '
                f'fill="{fill}"><title>{escape(cat)}: {fmt(v)}</title></rect>'
            )
            label_y = y_top - 3 if float(v or 0) >= 0 else y_bot + 11
            out.append(
                f'<text x="{x + (bar_w - 3) / 2:.1f}" y="{label_y:.1f}" class="value" text-anchor="middle">'
                f"{fmt(v)}</text>"
            )
        cx = left + i * group_w + group_w / 2
        for k, part in enumerate(cat.split("\n")):  # a second line for details (save rate, carrier)
            out.append(
                f'<text x="{cx:.1f}" y="{head + plot_h + 16 + 13 * k}" class="axis" text-anchor="middle">'
                f"{escape(part)}</text>"
            )
        if markers:
            color, word = markers[i]
            out.append(f'<circle cx="{cx - 38:.1f}" cy="{head + plot_h + 38}" r="5" fill="{color}"/>')
            out.append(f'<text x="{cx - 30:.1f}" y="{head + plot_h + 42}" class="axis">{escape(word)}</text>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(0.0):.1f}" y2="{y(0.0):.1f}" class="zero"/>')
    if len(series) > 1:
        for j, (name, _) in enumerate(series):
            x = left + j * 150
            out.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{colors[j % len(colors)]}"/>')
            out.append(f'<text x="{x + 17}" y="18" class="axis">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def funnel_chart(rows: Sequence[tuple[str, int, int, int, Decimal]]) -> str:
    """Per campaign: contacted → replied → converted as horizontal bars (rates of contacted, as the mart's
    reply and conversion rates), then the revenue those conversions brought. One scale for every campaign, so a
    bar's length compares across campaigns (a campaign of 775 orders is not drawn as wide as one of 9,789
    contacts)."""
    label_w, bar_max, row_h, gap = 110, 360, 20, 18
    block_h = 3 * row_h + gap + 16
    width, height = label_w + bar_max + 260, 10 + block_h * len(rows)
    scale = max([1, *(n for _, *counts, _ in rows for n in counts)])
    out = [f'<svg role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="chart">']
    out.append("<title>Campaign funnels</title>")
    for i, (campaign, contacted, replied, converted, revenue) in enumerate(rows):
        y0 = 10 + i * block_h
        out.append(f'<text x="0" y="{y0 + 12}" class="label">{escape(campaign)}</text>')
        for k, (step, n) in enumerate((("contacted", contacted), ("replied", replied), ("converted", converted))):
            y = y0 + 18 + k * row_h
            w = bar_max * n / scale
            share = f" ({n / contacted * 100:.1f}%)" if k and contacted else ""
            out.append(
                f'<rect x="{label_w}" y="{y}" width="{max(w, 0.5):.1f}" height="{row_h - 4}" '
                f'fill="{PALETTE[k]}"><title>{escape(campaign)} {step}: {n:,}</title></rect>'
            )
            out.append(f'<text x="{label_w - 6}" y="{y + 12}" class="axis" text-anchor="end">{step}</text>')
            out.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 12}" class="value">{n:,}{share}</text>')
        out.append(
            f'<text x="{label_w + bar_max + 90}" y="{y0 + 18 + 2 * row_h + 12}" class="value">'
            f"→ revenue {money(revenue)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, numeric_from: int = 1) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=n' if j >= numeric_from else ''}>{c}</td>" for j, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def wrap(html: str) -> str:
    """A chart or table that scrolls sideways on a narrow screen instead of shrinking its text to specks."""
    return f'<div class="fig">{html}</div>'


def query(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()  # fetch everything: DuckDB 2.0 refuses new work on an unfinished result


def label(column: str) -> str:
    """A mart's month (a DATE, the first day) as the report shows it: 'YYYY-MM'."""
    return f"strftime({column}, '%Y-%m')"


def incomplete_history(con: duckdb.DuckDBPyConnection, tables: set[str]) -> list[str]:
    """Months a mart marks `source_history_complete = false` (business rules §5): their renewals are short."""
    months: set[str] = set()
    for mart, column in (("cs_pnl_monthly_wide", "month"), ("winback_cohorts", "renewal_month")):
        if mart in tables:
            months.update(
                m for (m,) in query(con, f"SELECT {label(column)} FROM {mart} WHERE NOT source_history_complete")
            )
    return sorted(months)


def month_status(con: duckdb.DuckDBPyConnection, tables: set[str]) -> dict[str, str]:
    """Each P&L month's status as finance says it: closed (frozen by the month-end close), open (can still
    change; when it will be final), and adjusted (a closed month that later data changed, the difference booked
    in an open month; an open month carrying such adjustments)."""
    if "cs_pnl_monthly_wide" not in tables:
        return {}
    found = {
        m: ("closed" if closed else f"open, final on {final_on:%Y-%m-%d}" if final_on else "open")
        for m, closed, final_on in query(con, f"SELECT {label('month')}, is_closed, final_on FROM cs_pnl_monthly_wide")
    }
    if "cs_pnl_adjustments" in tables:
        pairs = query(
            con,
            f"SELECT DISTINCT {label('affects_month')}, {label('booked_month')} FROM cs_pnl_adjustments ORDER BY 1, 2",
        )
        for affected, booked in pairs:
            if affected in found:
                found[affected] += f"; adjusted in {booked}"
            if booked in found:
                found[booked] += f"; carries adjustments of {affected}"
    return found


def history_notice(months: Sequence[str]) -> str:
    if not months:
        return ""
    return (
        f'<p class="warn"><strong>Incomplete source history: {escape(", ".join(months))}.</strong> Recharge no longer '
        "serves those months' paid renewals and their Recharge orders are missing too, so renewals, the win-back "
        "cohort and win-back revenue of those months are short. They are marked, not final, and cannot be closed "
        "until the missing history is loaded.</p>"
    )


def pnl_section(con: duckdb.DuckDBPyConnection, tables: set[str]) -> str:
    if "cs_pnl_monthly" not in tables:
        return "<p>The P&amp;L mart is not published.</p>"
    long = query(
        con, f"SELECT {label('month')}, line_order, line, amount FROM cs_pnl_monthly ORDER BY line_order, month"
    )
    months = sorted({m for m, *_ in long})
    lines = list(dict.fromkeys(line for _, _, line, _ in long))
    amount = {(m, line): a for m, _, line, a in long}
    net = [amount.get((m, "net_contribution")) for m in months]
    if "cs_pnl_monthly_wide" in tables:
        flags = dict(query(con, f"SELECT {label('month')}, is_profit_center FROM cs_pnl_monthly_wide"))
    else:
        flags = {m: (n or 0) > 0 for m, n in zip(months, net, strict=True)}
    markers = [(GREEN, "profit center") if flags.get(m) else (RED, "cost center") for m in months]
    chart = bar_chart(
        months,
        [("net contribution", net)],
        bar_colors=[GREEN if (n or 0) > 0 else RED for n in net],
        markers=markers,
        title="Net contribution by month",
    )
    statuses = month_status(con, tables)
    rows = [["<strong>month status</strong>"] + [escape(statuses.get(m, "—")) for m in months]]
    rows += [
        [f"<strong>{escape(line_label(line))}</strong>" if line in TOTALS else escape(line_label(line))]
        + [f"<strong>{money(amount.get((m, line)))}</strong>" if line in TOTALS else money(amount.get((m, line)))
           for m in months]
        for line in lines
    ]  # fmt: skip
    rows.append(
        ["profit center?"]
        + [f'<span class="dot" style="background:{c}"></span>{"yes" if c == GREEN else "no"}' for c, _ in markers]
    )
    incomplete = incomplete_history(con, tables)
    rows.append(
        ["source history complete?"] + ['<span class="warn">no</span>' if m in incomplete else "yes" for m in months]
    )
    if "cs_pnl_monthly_wide" in tables:  # §12: the estimate, below the booked figures and never among them
        est = {
            m: (n, lo, hi)
            for m, n, lo, hi in query(
                con,
                f"""SELECT {label("month")}, incremental_net_contribution, incremental_net_contribution_low,
                          incremental_net_contribution_high FROM cs_pnl_monthly_wide""",
            )
        }
        rows.append(
            ["<em>estimate, not booked:</em> net contribution if campaigns earned only their incremental margin "
             "[95% interval]"]
            + [f"<em>{money(est[m][0])}</em><br>[{money(est[m][1])}, {money(est[m][2])}]" if m in est else "—"
               for m in months]
        )  # fmt: skip
    return (
        "<p>Net contribution per store-local month (green: the CS department was a profit center that month).</p>"
        f"{wrap(chart)}{wrap(table(['line', *months], rows))}"
    )


def funnel_section(con: duckdb.DuckDBPyConnection, tables: set[str]) -> str:
    if "campaign_performance_monthly" not in tables:
        return "<p>The campaign performance mart is not published.</p>"
    totals = query(
        con,
        """SELECT campaign, sum(contacted)::BIGINT, sum(replied)::BIGINT, sum(converted_orders)::BIGINT, sum(revenue)
           FROM campaign_performance_monthly GROUP BY campaign ORDER BY min(campaign_priority), campaign""",
    )
    monthly = query(
        con,
        f"""SELECT {label("month")}, campaign, contacted, replied, reply_rate, converted_orders, conversion_rate,
                  revenue, gross_margin, revenue_per_contact
           FROM campaign_performance_monthly ORDER BY month, campaign_priority, campaign""",
    )
    rows = [
        [escape(m), escape(c), count(n1), count(n2), rate(r1), count(n3), rate(r2), money(rev), money(gm), money(rpc)]
        for m, c, n1, n2, r1, n3, r2, rev, gm, rpc in monthly
    ]
    headers = ["touch month", "campaign", "contacted", "replied", "reply rate", "converted", "conversion", "revenue"]
    return (
        "<p>All months, by the month of the touch (a cohort view: revenue is net of the converted orders' refunds, "
        "whenever booked). Coupons have no touch, so only their converted orders show. The bars of every campaign "
        "share one scale.</p>"
        f"{wrap(funnel_chart(totals))}"
        f"{wrap(table([*headers, 'gross margin', 'revenue / contact'], rows, numeric_from=2))}"
        f"{revenue_bridge(con, tables, totals)}"
    )


def revenue_bridge(con: duckdb.DuckDBPyConnection, tables: set[str], totals: Sequence[tuple]) -> str:
    """The funnel's revenue (by touch month) beside the P&L's (by order month), per campaign, with the difference
    and why: the same orders, split into months differently."""
    if "cs_pnl_monthly" not in tables:
        return ""
    pnl = dict(
        query(
            con,
            """SELECT substr(line, 9), sum(amount) FROM cs_pnl_monthly WHERE line LIKE 'revenue\\_%' ESCAPE '\\'
               GROUP BY line""",
        )
    )
    rows = [
        [escape(c), money(rev), money(pnl.get(c)), money(None if c not in pnl else rev - pnl[c])]
        for c, *_, rev in totals
    ]
    return (
        '<p class="note">Funnel revenue and P&amp;L revenue count the same attributed orders, split into months '
        "differently: the funnel puts an order and all its later refunds in the month of the touch that won it; "
        "the P&amp;L puts the order in the month it was placed and each refund in the month it was given, and "
        "keeps closed months frozen (later changes are booked as adjustments in an open month). Over all months "
        "they differ only by orders or refunds that fall outside the P&amp;L's months and by adjustments not yet "
        "booked:</p>"
        + wrap(table(["campaign", "funnel revenue (by touch month)", "P&L revenue (by order and refund month)",
                      "difference"], rows))
    )  # fmt: skip


def winback_section(con: duckdb.DuckDBPyConnection, tables: set[str]) -> str:
    if "winback_cohorts" not in tables:
        return "<p>The win-back cohort mart is not published.</p>"
    cohorts = query(
        con,
        f"""SELECT {label("renewal_month")}, renewals, failed, recovered_by_dunning, cohort_size, contacted, saved,
                  save_rate, recovered_revenue, retained_revenue_90d, is_final, final_on
           FROM winback_cohorts ORDER BY renewal_month""",
    )
    incomplete = incomplete_history(con, tables)

    def so_far(r: tuple) -> str:  # a cohort whose saves or 90 days of retained revenue can still grow
        return "" if r[10] else " so far"

    months = [f"{r[0]}{' (open)' if not r[10] else ''}\n{rate(r[7])} saved{so_far(r)}" for r in cohorts]
    chart = bar_chart(
        months,
        [
            ("cohort size", [r[4] for r in cohorts]),
            ("contacted", [r[5] for r in cohorts]),
            ("saved", [r[6] for r in cohorts]),
        ],
        fmt=count,
        title="Win-back cohorts by renewal month",
    )
    rows = [
        [
            escape(r[0])
            + (' <span class="warn">(incomplete history)</span>' if r[0] in incomplete else "")
            + (
                ""
                if r[10]
                else f' <span class="open">(window open{f" until {r[11]:%Y-%m-%d}" if r[11] else ""})</span>'
            ),
            *(count(v) for v in r[1:7]),
            rate(r[7]) + so_far(r),
            money(r[8]),
            money(r[9]) + so_far(r),
        ]
        for r in cohorts
    ]
    headers = ["renewal month", "renewals", "failed", "recovered by dunning", "cohort", "contacted", "saved"]
    return (
        "<p>Failed renewals still unpaid when dunning ended (the cohort), those CS contacted and those it saved; "
        "save rate = saved ÷ cohort. Retained revenue 90d is informational, not in the P&amp;L. A cohort whose "
        "win-back window or 90 days of retained revenue are still running is marked <em>open</em>: its saves and "
        "retained revenue are figures <em>so far</em>, not final; a month marked <em>incomplete history</em> is "
        "short (see above).</p>"
        f"{wrap(chart)}{wrap(table([*headers, 'save rate', 'recovered revenue', 'retained revenue 90d'], rows))}"
    )


def claims_section(con: duckdb.DuckDBPyConnection, tables: set[str]) -> str:
    if "carrier_claims_monthly" not in tables:
        return "<p>The carrier claims mart is not published.</p>"
    by_carrier = query(
        con,
        f"""SELECT {label("month")}, carrier, sum(amount_requested), sum(amount_approved)
           FROM carrier_claims_monthly GROUP BY month, carrier ORDER BY month, carrier""",
    )
    detail = query(
        con,
        f"""SELECT {label("month")}, carrier, claim_type, claims_submitted, claims_approved, claims_rejected,
                  claims_pending, amount_requested, amount_approved
           FROM carrier_claims_monthly ORDER BY month, carrier, claim_type""",
    )
    if not by_carrier:
        return "<p>No carrier claims yet.</p>"
    months = list(dict.fromkeys(m for m, *_ in by_carrier))
    carriers = list(dict.fromkeys(c for _, c, *_ in sorted(by_carrier, key=lambda r: r[1])))
    amounts = {(m, c): (req, appr) for m, c, req, appr in by_carrier}
    # Small multiples: one chart per carrier, months along the axis, so the labels stay readable at page width;
    # all on one axis.
    chart = "".join(
        f"<h3>{escape(c)}</h3>"
        + wrap(
            bar_chart(
                months,
                [
                    ("requested", [amounts.get((m, c), (None, None))[0] for m in months]),
                    ("approved", [amounts.get((m, c), (None, None))[1] for m in months]),
                ],
                colors=(GREY, GREEN),
                title=f"Carrier claims of {c}: requested vs approved",
                domain=[r[2] for r in by_carrier],  # one axis for every carrier: their bars compare
            )
        )
        for c in carriers
    )
    rows = [[*(escape(v) for v in r[:3]), *(count(v) for v in r[3:7]), money(r[7]), money(r[8])] for r in detail]
    headers = ["month", "carrier", "type", "claims", "approved", "rejected", "pending", "requested", "approved amount"]
    return (
        "<p>Claims by the month of their current status, one chart per carrier; approved amounts are the P&amp;L's "
        "carrier claims recovered.</p>"
        f"{chart}{wrap(table(headers, rows, numeric_from=3))}"
    )


def points(value: Number | None) -> str:
    """A difference of two rates, in percentage points with its sign."""
    return "—" if value is None else f"{Decimal(value) * 100:+.1f} pts"


def interval_chart(rows: Sequence[tuple[str, Number, Number | None, Number | None]], *, title: str) -> str:
    """One row per estimate: a dot at the lift and a whisker over its interval, against a zero line."""
    values = [float(v) for _, lift, lo, hi in rows for v in (lift, lo, hi) if v is not None] + [0.0]
    lo_v, hi_v = min(values), max(values)
    pad = (hi_v - lo_v) * 0.05 or 0.01
    lo_v, hi_v = lo_v - pad, hi_v + pad
    left, width, row_h, head = 190, 640, 22, 30
    height = head + row_h * len(rows) + 24

    def x(v: float) -> float:
        return left + (v - lo_v) / (hi_v - lo_v) * (width - left - 20)

    out = [f'<svg role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="chart">',
           f'<text x="10" y="16" class="label">{escape(title)}</text>',
           f'<line x1="{x(0):.1f}" y1="{head - 6}" x2="{x(0):.1f}" y2="{height - 20}" class="zero"/>',
           f'<text x="{x(0):.1f}" y="{height - 6}" text-anchor="middle">0</text>']  # fmt: skip
    for i, (label, lift, lo, hi) in enumerate(rows):
        y = head + row_h * i + row_h / 2
        color = GREY if lo is None or (lo <= 0 <= hi) else (GREEN if lo > 0 else RED)
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
        if lo is not None and hi is not None:
            out.append(f'<line x1="{x(float(lo)):.1f}" y1="{y:.1f}" x2="{x(float(hi)):.1f}" y2="{y:.1f}" '
                       f'stroke="{color}" stroke-width="2"/>')  # fmt: skip
        out.append(f'<circle cx="{x(float(lift)):.1f}" cy="{y:.1f}" r="4" fill="{color}"/>')
    out.append("</svg>")
    return "\n".join(out)


def lift_section(con: duckdb.DuckDBPyConnection, tables: set[str]) -> str:
    if "campaign_lift_monthly" not in tables:
        return "<p>No campaign declares a control group (the lift mart is not published).</p>"
    lift = query(
        con,
        """SELECT eligible_month, campaign, eligible, treatment_size, control_size, treatment_rate, control_rate,
                  absolute_lift, lift_ci_low, lift_ci_high, lift_excludes_zero, incremental_orders, treatment_margin,
                  incremental_margin, contaminated, is_final
           FROM campaign_lift_monthly ORDER BY campaign, eligible_month""",
    )
    if not lift:
        return "<p>No customer has become eligible for a campaign with a control group yet.</p>"
    chart = interval_chart(
        [(f"{r[1]} {r[0]:%Y-%m}", r[7], r[8], r[9]) for r in lift if r[7] is not None],
        title="Absolute lift (treatment − control conversion) with its 95% interval",
    )
    rows = [
        [
            escape(f"{r[0]:%Y-%m}") + ("" if r[15] else ' <span class="warn">(window open)</span>'),
            escape(r[1]), count(r[2]), count(r[3]), count(r[4]), rate(r[5]), rate(r[6]),
            f"{points(r[7])} [{points(r[8]).removesuffix(' pts')}, {points(r[9]).removesuffix(' pts')}]",
            "—" if r[10] is None else "yes" if r[10] else '<span class="warn">no: not told from 0</span>',
            money(r[11]).removesuffix(".00"), money(r[12]), money(r[13]), count(r[14]),
        ]
        for r in lift
    ]  # fmt: skip
    headers = ["eligible month", "campaign", "eligible", "treatment", "control", "treatment conv.", "control conv.",
               "lift [95% interval]", "excludes 0?", "incr. orders (est.)", "attributable margin",
               "incr. margin (est.)", "control contacted"]  # fmt: skip
    return (
        "<p><strong>Estimates, not booked figures.</strong> Each campaign with a control group holds out a share of "
        "the customers it could contact (chosen by a stated hash, published in <code>campaign_assignments</code>: "
        "do not contact them). Conversion is measured from the moment a customer became eligible, in both groups, "
        "by assignment (a control customer contacted anyway still counts as control). Lift = treatment rate − "
        "control rate, with a 95% interval (two-proportion Wald, unpooled standard error); when the interval "
        "includes zero, the data cannot tell the campaign's effect from none. Attributable margin is the margin "
        "of every treatment conversion (what attribution would credit); incremental margin is what the campaign "
        "caused beyond what the control group did anyway.</p>"
        f"{wrap(chart)}{wrap(table(headers, rows, numeric_from=2))}"
    )


def sensitivity_section(con: duckdb.DuckDBPyConnection, tables: set[str]) -> str:
    if "refund_share_sensitivity" not in tables:
        return "<p>The refund-share sensitivity mart is not published.</p>"
    found = query(
        con,
        """SELECT month, refund_share, is_booked_share, net_contribution, break_even_share
           FROM refund_share_sensitivity ORDER BY month, refund_share""",
    )
    months = list(dict.fromkeys(r[0] for r in found))
    shares = list(dict.fromkeys(r[1] for r in found))
    cell = {(r[0], r[1]): r for r in found}
    booked = {}  # the booked P&L's net contribution (its share may lie between the steps)
    if "cs_pnl_monthly_wide" in tables:
        booked = {str(m)[:7]: n for m, n in query(con, "SELECT month, net_contribution FROM cs_pnl_monthly_wide")}
    rows = []
    for m in months:
        row = [escape(f"{m:%Y-%m}"), money(booked.get(f"{m:%Y-%m}"))]
        for sh in shares:
            r = cell.get((m, sh))
            value = money(r[3]) if r else "—"
            row.append(f"<strong>{value}</strong>" if r and r[2] else value)
        be = cell[(m, shares[0])][4]
        row.append("— (no refunds)" if be is None else rate(be) if be >= 0 else "none (a loss before any charge)")
        rows.append(row)
    headers = ["month", *(f"{float(sh) * 100:g}%" for sh in shares), "break-even share"]
    chart = bar_chart(
        [f"{m:%Y-%m}" for m in months],
        [
            (f"at {headers[1]}", [cell[(m, shares[0])][3] for m in months]),
            ("booked", [booked.get(f"{m:%Y-%m}") for m in months]),
            (f"at {headers[-2]}", [cell[(m, shares[-1])][3] for m in months]),
        ],
        colors=(GREEN, PALETTE[0], RED),
        title="Net contribution at the lowest, booked and highest refund share",
    )
    return (
        "<p>Net contribution per month had CS been charged another share of refunds and replacements (the "
        "booked share in bold), everything else as booked; break-even share = net contribution before the charge "
        "÷ the month's refunds and replacement costs: the share at which the month's net contribution is zero.</p>"
        f"{wrap(chart)}{wrap(table([headers[0], 'booked', *headers[1:]], rows))}"
    )


CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:22px;margin-bottom:2px} h2{font-size:18px;margin-top:36px;border-bottom:1px solid #ddd}
.meta{color:#666} table{border-collapse:collapse;margin:12px 0;font-size:13px}
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th{background:#f5f5f5} .chart{display:block;max-width:100%;height:auto;margin:8px 0}
.chart text{font:11px system-ui,sans-serif;fill:#333} .chart .label{font-weight:600;font-size:12px}
.chart .grid{stroke:#eee} .chart .zero{stroke:#555}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px}
.warn{color:#c62828} .open{color:#8a5a00} .note{color:#444;font-size:13px} h3{font-size:15px;margin:18px 0 0}
.fig{overflow-x:auto;max-width:100%} nav a{margin-right:14px}
@media (max-width:700px){body{margin:12px} .fig .chart{max-width:none;width:auto}}
"""


# Beside the report in the published folder: the health page and the dbt docs site (publish writes both).
NAV = (
    '<nav class="meta"><a href="health.html">Pipeline health</a><a href="dbt-docs/index.html">Mart columns and '
    "lineage (dbt docs)</a></nav>\n"
)
DOCS = Path(__file__).resolve().parent.parent / "docs"  # the repository's pages on how each figure is made
DOC_PAGES = (("rules.md", "the rules every mart follows"), ("campaigns.md", "campaigns"), ("pnl.md", "the P&amp;L"),
             ("control-groups.md", "control groups"), ("sources.md", "sources"))  # fmt: skip


def footer(folder: Path) -> str:
    """Links to the repository's docs pages, relative to the folder the report is published in (they work where
    the report is opened beside a checkout; the page names say where to look when it travels alone)."""
    base = Path(os.path.relpath(DOCS, folder.resolve())).as_posix()
    links = ", ".join(f'<a href="{escape(base)}/{page}">{title}</a>' for page, title in DOC_PAGES)
    return (
        f'<p class="note">How each figure is computed, in the project\'s words (<code>docs/</code> in the '
        f"pipeline's repository): {links}. Every mart's columns and lineage: "
        '<a href="dbt-docs/index.html">dbt docs</a>.</p>\n'
    )


def reporting_currency(con: duckdb.DuckDBPyConnection, tables: set[str]) -> str:
    """The currency every amount is in, from the version table (the dbt var `reporting_currency`)."""
    if "publication" in tables and (found := query(con, "SELECT reporting_currency FROM publication")):
        return found[0][0]
    return "the reporting currency"


def render_report(published_db: Path | str, *, published_at: str | None = None, name: str | None = None) -> str:
    """The report's HTML, read from a published (or staged) marts file, read-only; `name` is the file's
    published name (the staged file's is a temp name)."""
    con = duckdb.connect(str(published_db), read_only=True)
    try:
        tables = {name for (name,) in query(con, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'")}
        notice = history_notice(incomplete_history(con, tables))
        currency = reporting_currency(con, tables)
        sections = [
            ("pnl", "Monthly CS P&amp;L", pnl_section(con, tables)),
            ("funnels", "Campaign funnels", funnel_section(con, tables)),
            ("winback", "Win-back cohorts", winback_section(con, tables)),
            ("lift", "Did CS cause the revenue? Lift against control groups (estimates)", lift_section(con, tables)),
            ("refunds", "Refund share: sensitivity and break-even", sensitivity_section(con, tables)),
            ("claims", "Carrier claims", claims_section(con, tables)),
        ]
    finally:
        con.close()
    when = published_at or datetime.now(UTC).replace(microsecond=0).isoformat()
    intro = (
        f'<p class="meta">Published {escape(when)} from the marts in {escape(name or Path(published_db).name)}. '
        f"Amounts in {escape(currency)}, the reporting currency (other currencies converted at the month's rate), "
        f"to the cent.</p>\n{NAV}{notice}"
    )
    return page("CS profit center report", "Customer service as a profit center", intro, sections,
                footer(Path(published_db).parent))  # fmt: skip


def page(title: str, heading: str, intro: str, sections: list[tuple[str, str, str]], tail: str = "") -> str:
    """A published page (the report, the health page): one style, `sections` as (id, title, html)."""
    body = "\n".join(f'<section id="{key}"><h2>{name}</h2>\n{html}</section>' for key, name, html in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{CSS}</style></head><body>\n<h1>{heading}</h1>\n"
        f"{intro}{body}\n{tail}</body></html>\n"
    )


def build_report(published_db: Path | str, out: Path | str | None = None) -> Path:
    """Write `report.html` beside the published file (atomically: written to a temp name, then replaced)."""
    published_db = Path(published_db)
    target = Path(out) if out else published_db.with_name("report.html")
    tmp = target.with_name(f"{target.name}.publish-tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        tmp.write_text(render_report(published_db), encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.report", description="Rebuild report.html")
    parser.add_argument("published_db", nargs="?", type=Path, default=None)
    args = parser.parse_args(argv)
    print(build_report(args.published_db or published_db_path()))


if __name__ == "__main__":
    run_cli(main)
