"""Compare the warehouse's marts with the sandbox's answer key, row by row and to the cent.

Values are compared by meaning, not by text: 1.5 == 1.50, a null equals the answer key's empty
field, timestamps are compared as UTC instants, and the key's 'YYYY-MM' months equal the marts' DATE
months (the first day of the month). The answer key's columns are the contract; a mart
may carry more columns (drill-down helpers), which are ignored here.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

# mart -> the columns that identify a row
KEYS = {
    "cs_pnl_monthly": ("month", "line"),
    "cs_pnl_monthly_wide": ("month",),
    "campaign_performance_monthly": ("month", "campaign"),
    "agent_performance_monthly": ("month", "agent_email", "campaign"),
    "winback_cohorts": ("renewal_month",),
    "carrier_claims_monthly": ("month", "carrier", "claim_type"),
    "fct_attributed_orders": ("order_id", "row_type", "refund_id"),
    "fct_campaign_touches": ("ticket_id", "campaign"),
    "campaign_assignments": ("campaign", "customer_key"),
    "campaign_lift_monthly": ("eligible_month", "campaign"),
    "refund_share_sensitivity": ("month", "refund_share"),
}


MONTH_LABEL = re.compile(r"^(\d{4})-(\d{2})$")


def normalize(value: object) -> object:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return Decimal(value).normalize() if isinstance(value, Decimal) else Decimal(value)
    if isinstance(value, float):
        raise TypeError(f"float in a mart: {value!r} (money and rates must be decimal)")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and (month := MONTH_LABEL.match(value)):
        return date(int(month[1]), int(month[2]), 1)
    if isinstance(value, str) and len(value) >= 20 and value[10] == "T" and value.endswith("Z"):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return Decimal(value)
    return value


def mart_rows(con: duckdb.DuckDBPyConnection, mart: str, columns: list[str], schema: str = "marts") -> list[dict]:
    cols = ", ".join(f'"{c}"' for c in columns)
    cur = con.execute(f"SELECT {cols} FROM {schema}.{mart}")
    return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def diff_mart(mart: str, want: list[dict], got: list[dict], limit: int = 5) -> list[str]:
    keys = KEYS[mart]

    def index(rows: list[dict], side: str, problems: list[str]) -> dict:
        out = {}
        for r in rows:
            k = tuple(normalize(r[c]) for c in keys)
            if k in out:
                problems.append(f"{mart}: duplicate key {k} in {side}")
            out[k] = {c: normalize(v) for c, v in r.items()}
        return out

    problems: list[str] = []
    w, g = index(want, "answer key", problems), index(got, "mart", problems)
    missing, extra = sorted(w.keys() - g.keys(), key=str), sorted(g.keys() - w.keys(), key=str)
    if missing:
        problems.append(f"{mart}: {len(missing)} rows missing, e.g. {missing[:limit]}")
    if extra:
        problems.append(f"{mart}: {len(extra)} unexpected rows, e.g. {extra[:limit]}")
    wrong = []
    for k in sorted(w.keys() & g.keys(), key=str):
        cells = [f"{c}: want {w[k][c]!r} got {g[k][c]!r}" for c in w[k] if w[k][c] != g[k][c]]
        if cells:
            wrong.append(f"{k}: " + "; ".join(cells))
    if wrong:
        problems.append(f"{mart}: {len(wrong)} rows differ, e.g.\n    " + "\n    ".join(wrong[:limit]))
    return problems


def compare(warehouse: Path, expected: dict[str, list[dict]], schema: str = "marts") -> tuple[int, list[str]]:
    """(rows checked, problems) for every mart of the answer key, read from `schema` (the hand-written
    benchmark reference writes the same marts to another schema)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    checked, problems = 0, []
    try:
        for mart, want in expected.items():
            columns = list(want[0].keys()) if want else list(KEYS[mart])
            got = mart_rows(con, mart, columns, schema)
            problems += diff_mart(mart, want, got)
            checked += len(want)
    finally:
        con.close()
    return checked, problems
