"""The data-quality suites, declared as data and turned into GX 1.x ExpectationSuites in code.

Each suite validates one dataframe, read by SQL through a read-only DuckDB connection (the GX SQL
datasource is broken on DuckDB). Money stays exact: DECIMAL columns arrive as `Decimal` objects
(DuckDB -> Arrow -> pandas) and are compared with equality, never with a float tolerance.

- Raw suites: one per source entity, read from its declaration (ingest/sources: which JSON fields are
  required, statuses and their allowed values, timestamps that must be plausible, money the vendor
  guarantees non-negative); the SQL and the expectations are generated from it.
  Finance inputs are typed tables with a few checks.
- Mart suites: a query and its checks per property (the P&L identity, rates, funnel order, month
  coverage, attributed revenue within the ledger, reconciliation with the raw layer, source history: a month
  marked complete reconciles its renewals with the Shopify renewal orders).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from expectations.facts import fact, not_linked, renewal_tag
from expectations.reconciliation import local_month, reconciliation_sql
from ingest import finance
from ingest.endpoints import Endpoint
from ingest.finance import FileSpec
from ingest.sources import endpoints
from ingest.sql import literal

Layer = Literal["raw", "marts"]

EARLIEST_PLAUSIBLE = dt.datetime(2010, 1, 1, tzinfo=dt.UTC)  # before any of the vendors' accounts existed
CLOCK_SKEW = "interval 1 hour"  # vendor clocks may run slightly ahead of ours


ROW_SET_EXPECTATIONS = {"ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique"}  # judge rows together


@dataclass(frozen=True)
class Check:
    """One expectation as data: a `great_expectations.expectations` class name and its arguments."""

    expectation: str
    kwargs: dict[str, Any]
    description: str | None = None


@dataclass(frozen=True)
class Dataset:
    """A suite: the dataframe it validates (SQL), the table it speaks for, and its checks."""

    name: str
    layer: Layer
    table: str
    sql: str
    key: tuple[str, ...]  # columns that identify an offending row in a failure message
    checks: tuple[Check, ...]

    @property
    def row_local(self) -> bool:
        """Every check judges one row alone, so the rows may be validated in chunks."""
        return not any(c.expectation in ROW_SET_EXPECTATIONS for c in self.checks)


def _number(value: Any) -> int | float:
    """A declared bound as GX's kwargs hold it (JSON numbers): bounds are whole or short fractions."""
    return int(value) if value == int(value) else float(value)


# --- the vocabulary of checks --------------------------------------------------------------------


def unique(*columns: str) -> Check:
    if len(columns) == 1:
        return Check("ExpectColumnValuesToBeUnique", {"column": columns[0]})
    return Check("ExpectCompoundColumnsToBeUnique", {"column_list": list(columns)})


def not_null(column: str) -> Check:
    return Check("ExpectColumnValuesToNotBeNull", {"column": column})


def is_null(column: str, description: str | None = None) -> Check:
    return Check("ExpectColumnValuesToBeNull", {"column": column}, description)


def in_set(column: str, values: tuple[Any, ...], description: str | None = None, **kwargs: Any) -> Check:
    return Check("ExpectColumnValuesToBeInSet", {"column": column, "value_set": list(values), **kwargs}, description)


def between(column: str, low: Any = None, high: Any = None, description: str | None = None, **kwargs: Any) -> Check:
    args = {"column": column, "min_value": low, "max_value": high, **kwargs}
    return Check("ExpectColumnValuesToBeBetween", args, description)


def at_least(a: str, b: str, description: str | None = None, **kwargs: Any) -> Check:
    """a >= b on every row where both are known."""
    args = {"column_A": a, "column_B": b, "or_equal": True, "ignore_row_if": "either_value_is_missing", **kwargs}
    return Check("ExpectColumnPairValuesAToBeGreaterThanB", args, description)


def equal(a: str, b: str, description: str | None = None) -> Check:
    """a = b on every row (a missing value on one side only is a failure)."""
    return Check("ExpectColumnPairValuesToBeEqual", {"column_A": a, "column_B": b}, description)


# --- raw layer -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawEntity:
    """A raw table `raw_<vendor>.<entity>` (id, updated_at, extracted_at, run_id, record: the JSON text) as the
    gate reads its source declaration (ingest/sources): the scalar paths of it (a path through a list is
    landing's alone). A column is the path with `.` -> `_`; statuses are compared the way staging reads
    them (trimmed, lower case)."""

    table: str
    required: tuple[str, ...] = ()
    codes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    timestamps: tuple[str, ...] = ()  # instants that happened: parseable, after 2010, not after extraction
    scheduled: tuple[str, ...] = ()  # instants that may lie ahead: parseable
    money: tuple[str, ...] = ()  # parseable decimals the vendor guarantees non-negative
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)  # whole numbers within bounds
    key: str = "id"  # the path of the record's id, the table's id column (Shopify GraphQL: legacyResourceId)

    @classmethod
    def of(cls, ep: Endpoint) -> RawEntity:
        def scalar(paths) -> tuple[str, ...]:
            return tuple(p for p in paths if "[]" not in p)

        return cls(
            ep.table,
            required=scalar(ep.required),
            codes={p: tuple(sorted(v.lower() for v in values)) for p, values in ep.enums.items() if "[]" not in p},
            timestamps=scalar(ep.timestamps),
            scheduled=scalar(ep.scheduled),
            money=scalar(p for p in ep.money if p not in ep.signed),
            ranges=dict(ep.ranges),
            key=ep.key,
        )

    def column(self, path: str) -> str:
        return path.replace(".", "_")

    def paths(self) -> list[str]:
        seen = dict.fromkeys(
            [self.key, *self.required, *self.codes, *self.timestamps, *self.scheduled, *self.money, *self.ranges]
        )
        return list(seen)


RAW_ENTITIES: tuple[RawEntity, ...] = tuple(RawEntity.of(ep) for ep in endpoints())


def raw_sql(e: RawEntity, after_load: int = -1) -> str:
    """One row per raw row of the loads after `after_load` (every row by default): its key, how many rows
    of the whole table share its id, the record's fields typed as staging types them (unparseable ->
    null), and `unparseable` naming every field whose text did not parse. Rows from before load ids
    (null load_id) count as load 0."""
    paths = e.paths()
    extract = ", ".join(f"'$.{p}'" for p in paths)
    typed, bad = [], []
    for i, p in enumerate(paths, start=1):
        text, col = f"f[{i}]", e.column(p)
        if p in e.timestamps or p in e.scheduled:
            expr = f"try_cast({text} as timestamptz)"
        elif p in e.money:
            expr = f"try_cast({text} as decimal(18, 2))"
        elif p in e.ranges:
            expr = f"try_cast({text} as bigint)"
        elif p in e.codes:
            expr = f"lower(trim({text}))"
        else:
            expr = text
        typed.append(f"{expr} as {'record_id' if p == e.key else col}")
        if expr != text and p not in e.codes:
            bad.append(f"case when {text} is not null and {expr} is null then '{col}=' || {text} end")
    unparseable = f"nullif(concat_ws('; ', {', '.join(bad)}), '')" if bad else "cast(null as varchar)"
    in_slice = f"coalesce(load_id, 0) > {int(after_load)}"  # rows from before load ids count as load 0
    # The whole table (load ids start at 1): no semi-join of the table's ids with themselves.
    of_slice = f"where id in (select id from {e.table} where {in_slice}) " if after_load >= 0 else ""
    # Streamed, never materialized: the slice is scanned once and joined to the (few) ids held more than
    # once, not to a count per id (a CTE read twice was materialized, JSON and all: 8.8 GB at large).
    return (
        f"with repeated as (select id, count(*) as copies from {e.table}\n"
        f"                  {of_slice}group by id having count(*) > 1)\n"
        f"select id, copies, extracted_at, extracted_at + {CLOCK_SKEW} as latest_plausible, {', '.join(typed)},\n"
        f"       {unparseable} as unparseable\n"
        f"from (select s.id, coalesce(r.copies, 1) as copies, s.extracted_at,\n"
        f"             json_extract_string(s.record, [{extract}]) as f\n"
        f"      from {e.table} as s left join repeated as r using (id){f' where {in_slice}' if of_slice else ''})"
    )


def raw_checks(e: RawEntity) -> tuple[Check, ...]:
    checks = [
        between("copies", 1, 1, description="one row per id in the whole table"),
        equal("id", "record_id", "the table's id is the record's id"),
        not_null("record_id"),
    ]
    checks += [not_null(e.column(p)) for p in e.required]
    checks += [in_set(e.column(p), values, "allowed values") for p, values in e.codes.items()]
    for p in e.timestamps:
        checks += [
            between(e.column(p), EARLIEST_PLAUSIBLE),
            at_least("latest_plausible", e.column(p), "a record's time is not after its extraction"),
        ]
    checks += [between(e.column(p), 0) for p in e.money]
    checks += [between(e.column(p), low, high) for p, (low, high) in e.ranges.items()]
    checks.append(is_null("unparseable", "every timestamp, amount and number parses"))
    return tuple(checks)


def finance_dataset(spec: FileSpec) -> Dataset:
    """A finance file's suite, from its declaration (ingest/finance.py `FileSpec`, which the loader enforces
    row by row): its key unique, required columns present, allowed values, months, minimums and the row checks
    again on the loaded table. Keys compare as the loader compares them (codes case-insensitively, an empty
    optional column as '')."""
    columns, checks = [], [unique(*spec.key)]
    for c in spec.columns:
        expr = f"lower({c.name})" if c.key_casefold else c.name
        if not c.required and c.name in spec.key:
            expr = f"coalesce({c.name}, '')"
        columns.append(c.name if expr == c.name else f"{expr} as {c.name}")
        checks += [not_null(c.name)] if c.required else []
        checks += [in_set(c.name, c.values)] if c.kind == "enum" else []
        checks += (
            [Check("ExpectColumnValuesToMatchRegex", {"column": c.name, "regex": MONTH})] if c.kind == "month" else []
        )
        if c.minimum is not None:
            checks.append(between(c.name, _number(c.minimum), strict_min=c.minimum_exclusive or None))
    for row_check in spec.row_checks:
        checks += FINANCE_ROW_CHECKS[row_check]
    sql = f"select source_line, {', '.join(columns)} from {spec.table_name}"
    return Dataset(spec.table_name, "raw", spec.table_name, sql, ("source_line",), tuple(checks))


MONTH = r"^\d{4}-(?:0[1-9]|1[0-2])$"
# The loader's row checks (Python on each row) as the gate's expectations on the table.
FINANCE_ROW_CHECKS = {
    finance.valid_to_not_before_valid_from: [at_least("valid_to", "valid_from", "a coupon ends after it starts")],
    finance.setting_in_range: [
        between("value", _number(low), _number(high), row_condition=("setting", name))
        for name, (low, high) in finance.SETTING_RANGES.items()
    ],
}


FINANCE: tuple[Dataset, ...] = tuple(finance_dataset(spec) for spec in finance.SPECS)


# --- marts ---------------------------------------------------------------------------------------


PNL_SQL = """
select month, gross_profit, net_contribution, is_profit_center,
       list_sum(list_value(*columns('^revenue_'))) - cogs_attributed as revenue_minus_cogs,
       gross_profit + carrier_claims_income - cost_staffing - cost_platform - cost_other - refund_replacement_charge
           as contribution_by_identity,
       net_contribution > 0 as contribution_positive
from marts.cs_pnl_monthly_wide
"""

# Which marts must have every month (their DATE months read as the spine's 'YYYY-MM' labels): P&L and
# campaign funnel over the whole month spine (per line / campaign); win-back cohorts between their own
# first and last month (a cohort waits for dunning).
MONTHS_SQL = """
with observed as (
    select 'marts.cs_pnl_monthly_wide' as mart, '-' as series, strftime(month, '%Y-%m') as month, true as spine
    from marts.cs_pnl_monthly_wide
    union all select 'marts.cs_pnl_monthly', line, strftime(month, '%Y-%m'), true from marts.cs_pnl_monthly
    union all select 'marts.campaign_performance_monthly', campaign, strftime(month, '%Y-%m'), true
    from marts.campaign_performance_monthly
    union all select 'marts.winback_cohorts', '-', strftime(renewal_month, '%Y-%m'), false from marts.winback_cohorts
),
spine as (select month from intermediate.int_months_spanned union select month from observed where spine),
bounds as (
    select mart, series,
           case when any_value(spine) then (select min(month) from spine) else min(month) end as first_month,
           case when any_value(spine) then (select max(month) from spine) else max(month) end as last_month
    from observed group by mart, series
),
expected as (
    select mart, series, strftime(unnest(generate_series(cast(first_month || '-01' as date),
                                                         cast(last_month || '-01' as date), interval 1 month)), '%Y-%m')
           as month
    from bounds
)
select e.mart, e.series, e.month, count(o.month) as rows_present
from expected as e left join observed as o using (mart, series, month)
group by all
"""

CAMPAIGN_SQL = """
select p.month, p.campaign, d.kind, p.contacted, p.replied, p.converted_orders, p.reply_rate, p.conversion_rate
from marts.campaign_performance_monthly as p
left join intermediate.int_campaigns_declared as d using (campaign)
"""

LEDGER_SQL = """
select f.order_id, any_value(f.order_name) as order_name,
       sum(f.net_revenue) filter (where f.row_type = 'order') as attributed_revenue,
       any_value(l.net_revenue) as ledger_revenue
from marts.fct_attributed_orders as f
left join intermediate.int_orders_enriched as l using (order_id)
group by f.order_id
"""


# §2: an unknown amount is a data-quality failure, never published. Every money column of every published
# mart, with the columns that name a row; ratios and money per contact are null where nothing was contacted.
# A test checks this list against the marts' decimal columns, so a new amount cannot be left out.
# §12: the P&L's estimate beside the booked figures, with its interval
INCREMENTAL = ("incremental_net_contribution", "incremental_net_contribution_low", "incremental_net_contribution_high")
AMOUNTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fct_attributed_orders": (("order_id", "row_type", "refund_id"), ("amount_original", "net_revenue", "cogs")),
    "cs_pnl_monthly": (("month", "line"), ("amount", *INCREMENTAL)),
    "cs_pnl_monthly_wide": (("month",), ("revenue_coupon", "revenue_upsell", "revenue_winback", "cogs_attributed",
                                         "gross_profit", "carrier_claims_income", "cost_staffing", "cost_platform",
                                         "cost_other", "refund_replacement_charge", "net_contribution",
                                         *INCREMENTAL)),
    "cs_pnl_adjustments": (("affects_month", "line"), ("amount", "frozen_amount", "recomputed_amount")),
    "campaign_performance_monthly": (("month", "campaign"), ("revenue", "cogs", "gross_margin")),
    "agent_performance_monthly": (("month", "agent_email", "campaign"), ("attributed_revenue",)),
    "winback_cohorts": (("renewal_month",), ("recovered_revenue", "retained_revenue_90d")),
    "carrier_claims_monthly": (("month", "carrier", "claim_type"), ("amount_requested", "amount_approved")),
    "campaign_lift_monthly": (("eligible_month", "campaign"), ("treatment_margin",)),
    "refund_share_sensitivity": (("month", "refund_share"), ("net_contribution_before_refund_charge",
                                 "refund_replacement_base", "refund_replacement_charge", "net_contribution")),
}  # fmt: skip
NOT_AMOUNTS = ("reply_rate", "conversion_rate", "save_rate", "revenue_per_contact",
               # §12: shares, rates and estimates; null where they do not exist (no control group, no conversion)
               "control_share", "conversion_margin", "treatment_rate", "control_rate", "absolute_lift", "relative_lift",
               "lift_ci_low", "lift_ci_high", "incremental_orders", "incremental_margin", "contamination_rate",
               "refund_share", "break_even_share")  # fmt: skip


def amount_datasets() -> tuple[Dataset, ...]:
    return tuple(
        Dataset(f"marts.{mart}.amounts_known", "marts", f"marts.{mart}",
                f"select {', '.join((*key, *amounts))} from marts.{mart}", key,
                tuple(Check("ExpectColumnValuesToNotBeNull", {"column": c}, f"{c} is known (§2: no unknown amount)")
                      for c in amounts))
        for mart, (key, amounts) in AMOUNTS.items()
    )  # fmt: skip


def source_history_sql() -> str:
    """§5 Source history, reconciled from the raw JSON (sharing no SQL with dbt): per store-local month, the Shopify
    renewal orders (tagged by Recharge) that no Recharge charge or Recharge order links to, beside each mart row
    that says whether its month's history is complete. A row marked complete must have none."""
    tag = literal(renewal_tag())
    unlinked = fact("shopify_unlinked_tagged").table
    return f"""
with
-- the raw JSON's parsed fields, kept by the gate between runs (expectations.facts)
tagged as (
    select f[1] as order_id, {local_month("cast(f[2] as timestamptz)")} as month, f[3] as tags
    from {unlinked}
    where coalesce(cast(f[4] as boolean), false) = false
),
renewal_orders as (
    select order_id, month from tagged
    where list_contains(list_transform(cast(cast(tags as json) as varchar[]), lambda t: lower(trim(t))), {tag})
),
gaps as (
    select month, count(*) as renewal_orders_unaccounted
    from renewal_orders as r where {not_linked("r.order_id")}
    group by month
),
flagged as (
    select 'marts.winback_cohorts' as mart, strftime(renewal_month, '%Y-%m') as month, source_history_complete
    from marts.winback_cohorts
    union all
    select 'marts.cs_pnl_monthly_wide', strftime(month, '%Y-%m'), source_history_complete from marts.cs_pnl_monthly_wide
)
select f.mart, f.month, f.source_history_complete,
       coalesce(g.renewal_orders_unaccounted, 0) as renewal_orders_unaccounted
from flagged as f left join gaps as g using (month)
"""


def mart_datasets() -> tuple[Dataset, ...]:
    to_cent = "mart total = raw source total, to the cent"
    return (
        Dataset(
            "marts.cs_pnl_monthly_wide", "marts", "marts.cs_pnl_monthly_wide", PNL_SQL, ("month",),
            (unique("month"), not_null("net_contribution"),
             equal("net_contribution", "contribution_by_identity",
                   "P&L identity: net_contribution = gross_profit + carrier_claims_income - cost_staffing"
                   " - cost_platform - cost_other - refund_replacement_charge"),
             equal("gross_profit", "revenue_minus_cogs", "gross_profit = Σ revenue_<campaign> - cogs_attributed"),
             equal("is_profit_center", "contribution_positive", "is_profit_center = net_contribution > 0")),
        ),
        Dataset(
            "marts.month_coverage", "marts", "marts (month-grained)", MONTHS_SQL, ("mart", "series", "month"),
            (in_set("rows_present", (1,), "each month present exactly once, no gaps"),),
        ),
        Dataset(
            "marts.campaign_performance_monthly", "marts", "marts.campaign_performance_monthly", CAMPAIGN_SQL,
            ("month", "campaign"),
            (not_null("kind"), between("reply_rate", 0, 1), between("conversion_rate", 0, 1),
             at_least("contacted", "replied", "contacted >= replied"),
             at_least("contacted", "converted_orders", "converted <= contacted (touch campaigns)",
                      row_condition=("kind", "touch"))),
        ),
        Dataset(
            "marts.winback_cohorts", "marts", "marts.winback_cohorts",
            "select renewal_month, cohort_size, contacted, saved, save_rate from marts.winback_cohorts",
            ("renewal_month",),
            (between("save_rate", 0, 1), at_least("cohort_size", "contacted", "contacted <= cohort"),
             at_least("contacted", "saved", "saved <= contacted")),
        ),
        Dataset(
            "marts.campaign_lift_monthly", "marts", "marts.campaign_lift_monthly",
            "select eligible_month, campaign, eligible, treatment_size + control_size as sized, treatment_size,"
            " treatment_conversions, control_size, control_conversions, treatment_rate, control_rate, absolute_lift,"
            " coalesce(lift_ci_low, absolute_lift) as ci_low, coalesce(lift_ci_high, absolute_lift) as ci_high"
            " from marts.campaign_lift_monthly",
            ("eligible_month", "campaign"),
            (equal("eligible", "sized", "eligible = treatment + control"),
             between("treatment_rate", 0, 1), between("control_rate", 0, 1),
             at_least("treatment_size", "treatment_conversions", "conversions <= group size (treatment)"),
             at_least("control_size", "control_conversions", "conversions <= group size (control)"),
             at_least("absolute_lift", "ci_low", "the interval contains the lift (low)"),
             at_least("ci_high", "absolute_lift", "the interval contains the lift (high)")),
        ),
        Dataset(
            "marts.fct_attributed_orders", "marts", "marts.fct_attributed_orders", LEDGER_SQL, ("order_id",),
            (not_null("ledger_revenue"),
             at_least("ledger_revenue", "attributed_revenue",
                      "attributed revenue is not above the ledger's revenue for the order")),
        ),
        Dataset(
            "marts.reconciliation", "marts", "marts vs raw (monthly totals)",
            reconciliation_sql(orders=fact("attributed_orders").table),
            ("measure", "month"), (equal("mart_total", "raw_total", to_cent),),
        ),
        *amount_datasets(),
        Dataset(
            "marts.source_history", "marts", "marts vs raw (renewal orders per month)", source_history_sql(),
            ("mart", "month"),
            (not_null("source_history_complete"),
             in_set("renewal_orders_unaccounted", (0,),
                    "a month published as complete has a renewal (Recharge charge or order) behind every Shopify"
                    " renewal order created in it (§5 Source history)",
                    row_condition=("source_history_complete", True))),
        ),
    )  # fmt: skip


def datasets(layer: Layer, validated_loads: dict[str, int] | None = None) -> tuple[Dataset, ...]:
    """The suites of a layer. Raw tables: only the rows of loads after `validated_loads[table]` (the last
    load a passing gate covered), so a daily gate reads a day of raw, not all of it."""
    if layer == "raw":
        after = validated_loads or {}
        entities = tuple(
            Dataset(e.table, "raw", e.table, raw_sql(e, after.get(e.table, -1)), ("id",), raw_checks(e))
            for e in RAW_ENTITIES
        )
        return entities + FINANCE
    if layer == "marts":
        return mart_datasets()
    raise ValueError(f"unknown layer {layer!r} (raw or marts)")


def build_suite(dataset: Dataset) -> Any:
    """The GX ExpectationSuite of a dataset (GX imported here: it takes seconds to import)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    suite = gx.ExpectationSuite(name=dataset.name, meta={"table": dataset.table, "layer": dataset.layer})
    for check in dataset.checks:
        kwargs = {k: v for k, v in check.kwargs.items() if v is not None}
        if "row_condition" in kwargs:  # declared as (column, value): only rows where column = value
            column, value = kwargs["row_condition"]
            kwargs["row_condition"] = Column(column) == value
        expectation = getattr(gxe, check.expectation)(**kwargs, meta={"table": dataset.table})
        if check.description:
            expectation.description = check.description
        suite.add_expectation(expectation)
    return suite
