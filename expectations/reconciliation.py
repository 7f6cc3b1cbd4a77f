"""The one reconciliation of the models to their sources: per store-local month and measure, a total the dbt models
hold beside the same total computed here from the raw JSON and the finance inputs, sharing no SQL with dbt.

- The marts gate (`expectations.suites`, suite `marts.reconciliation`) checks the published marts' measures
  (`GATE`) every build: attributed revenue and refunds, approved and requested claims. They read only the
  attributed orders' JSON, so the gate stays cheap as history grows.
- The month-end finance pack (`pipeline.close`) shows every measure of the closed month (`ALL`): those of the gate
  and the ledgers behind the P&L (CS costs, orders, every refund's money returned and revenue reversal), which
  read every order's JSON once, for one month.
"""

from __future__ import annotations

from ingest.sql import literal
from settings import project_vars

GATE = ("attributed order revenue", "attributed refunds", "claims approved amount", "claims requested amount")
LEDGERS = (
    "CS cost lines",
    "orders in the ledger",
    "all refunds' money returned (order currency)",
    "all refunds' revenue reversal (order currency)",
)
ALL = GATE + LEDGERS


def local_month(ts: str) -> str:
    """'YYYY-MM' of an instant in the store's time zone (§7)."""
    return f"strftime(timezone({literal(project_vars()['store_timezone'])}, {ts}), '%Y-%m')"


def to_reporting(amount: str, currency: str, rate: str) -> str:
    """Rounded to the cent per amount, like the ledger (§2)."""
    reporting = project_vars()["reporting_currency"]
    return f"case when {currency} = {literal(reporting)} then {amount} else round({amount} * {rate}, 2) end"


def _ts(json_path: str, of: str = "record") -> str:
    return local_month(f"cast(json_extract_string({of}, '$.{json_path}') as timestamptz)")


def _refunds() -> str:
    """Per refund of the orders read (test orders aside): its month, currency, money returned
    (successful `refund` transactions) and revenue reversal (rule version 2: goods pre-tax plus refund_discrepancy
    adjustments, negative when money goes back). GraphQL: shop money, statuses upper case, children as
    connections' nodes."""
    return f"""
    select is_attributed, {_ts("createdAt", "refund")} as month, currency,
           coalesce((select sum(cast(json_extract_string(t, '$.amountSet.shopMoney.amount') as decimal(18, 2)))
                     from unnest(json_extract(refund, '$.transactions.nodes[*]')) as u(t)
                     where lower(json_extract_string(t, '$.kind')) = 'refund'
                       and lower(json_extract_string(t, '$.status')) = 'success'), 0) as returned,
           coalesce((select sum(cast(json_extract_string(li, '$.subtotalSet.shopMoney.amount') as decimal(18, 2)))
                     from unnest(json_extract(refund, '$.refundLineItems.nodes[*]')) as u(li)), 0)
           - coalesce((select sum(cast(json_extract_string(a, '$.amountSet.shopMoney.amount') as decimal(18, 2)))
                       from unnest(json_extract(refund, '$.orderAdjustments.nodes[*]')) as u(a)
                       where lower(json_extract_string(a, '$.reason')) = 'refund_discrepancy'), 0) as reversal
    from (select is_attributed, currency, unnest(json_extract(refunds, '$[*]')) as refund
          from orders where not is_test)"""


def reconciliation_sql(measures: tuple[str, ...] = GATE, orders: str = "raw_shopify.orders") -> str:
    """(measure, month, mart_total, raw_total) of `measures`, every month either side has (a month missing on one
    side counts 0 there). A refund that returned nothing is not booked, for either amount (§2). The Shopify orders
    are read from `orders`: the raw table, or the gate's copy of the attributed ones (`expectations.facts`)."""
    unknown = set(measures) - set(ALL)
    if unknown:
        raise ValueError(f"no such reconciliation measure: {sorted(unknown)}")
    ledgers = any(m in LEDGERS for m in measures)
    if ledgers and orders != "raw_shopify.orders":
        raise ValueError("the ledgers read every order: from the raw table")
    fx = "raw_finance.fx_rates"
    created = local_month("cast(created_at as timestamptz)")
    # The orders read below, every record parsed once for every field read (one call per field parsed the record
    # again each time; inlined, each reader did): the attributed ones for the gate; every order for the ledgers.
    # The gate parses only the records whose loaded id is an attributed order's (the raw gate holds that id to the
    # record's own); the record's id decides.
    orders = f"""
orders as materialized (
    select order_id, currency, coalesce(cast(is_test as boolean), false) as is_test,
           order_id in (select order_id from attributed) as is_attributed,
           created_at, subtotal, cancelled_at, refunds
    from (select cast(j[1] ->> '$' as bigint) as order_id, j[2] ->> '$' as currency, j[3] ->> '$' as is_test,
                 j[4] ->> '$' as created_at, j[5] ->> '$' as subtotal, j[6] ->> '$' as cancelled_at, j[7] as refunds
          from (select json_extract(o.record, ['$.legacyResourceId', '$.currencyCode', '$.test', '$.createdAt',
                                               '$.subtotalPriceSet.shopMoney.amount', '$.cancelledAt', '$.refunds'])
                       as j
                from {orders} as o{"" if ledgers else " where o.id in (select order_id::varchar from attributed)"}))
    {"" if ledgers else "where order_id in (select order_id from attributed)"}
)"""
    raw = {
        "attributed order revenue": f"""
    select r.month, sum({to_reporting("r.amount", "r.currency", "fx.rate_to_reporting")})
    from (select {created} as month, currency, cast(subtotal as decimal(18, 2)) as amount
          from orders
          where is_attributed and not is_test and cancelled_at is null) as r
    left join {fx} as fx on fx.month = r.month and fx.currency = r.currency group by all""",
        "attributed refunds": f"""
    select r.month, sum({to_reporting("r.amount", "r.currency", "fx.rate_to_reporting")})
    from (select month, currency,  -- v1 reversed the money returned
                 -(case when (select max(rule_version) from marts.fct_attributed_orders) = 'v1' then returned
                        else reversal end) as amount
          from refunds where is_attributed and returned <> 0) as r
    left join {fx} as fx on fx.month = r.month and fx.currency = r.currency group by all""",
        "claims approved amount": """
    select month, coalesce(sum(approved) filter (where status in ('approved', 'approved_partial')), 0)
    from claims group by all""",
        "claims requested amount": "select month, sum(requested) from claims group by all",
        "CS cost lines": f"""
    select c.month, sum({to_reporting("c.amount", "c.currency", "f.rate_to_reporting")})
    from raw_finance.cs_costs as c left join {fx} as f using (month, currency) group by all""",
        "orders in the ledger": f"select {created}, count(*) from orders where not is_test group by all",
        "all refunds' money returned (order currency)": "select month, sum(returned) from refunds group by all",
        "all refunds' revenue reversal (order currency)": """
    select month, sum(reversal) from refunds where returned <> 0 group by all""",
    }
    mart = {
        "attributed order revenue": """
    select strftime(booked_month, '%Y-%m'), sum(net_revenue)
    from marts.fct_attributed_orders where row_type = 'order' group by all""",
        "attributed refunds": """
    select strftime(booked_month, '%Y-%m'), sum(net_revenue)
    from marts.fct_attributed_orders where row_type = 'refund' group by all""",
        "claims approved amount": """
    select strftime(month, '%Y-%m'), sum(amount_approved) from marts.carrier_claims_monthly group by all""",
        "claims requested amount": """
    select strftime(month, '%Y-%m'), sum(amount_requested) from marts.carrier_claims_monthly group by all""",
        "CS cost lines": """
    select month, cost_staffing + cost_platform + cost_other from intermediate.int_pnl_monthly_computed""",
        "orders in the ledger": "select order_month, count(*) from intermediate.int_orders_enriched group by all",
        "all refunds' money returned (order currency)": """
    select refund_month, sum(money_returned_original) from intermediate.int_refunds_booked group by all""",
        "all refunds' revenue reversal (order currency)": """
    select refund_month, sum(revenue_reversal_original) from intermediate.int_refunds_booked group by all""",
    }

    def union(side: dict[str, str]) -> str:
        return "\n    union all\n".join(
            f"select {literal(m)} as measure, month, cast(total as decimal(38, 2)) as total\n"
            f"    from ({side[m]}) as t(month, total)"
            for m in measures
        )

    return f"""
with attributed as (select distinct order_id from marts.fct_attributed_orders where row_type = 'order'),
{orders},
refunds as ({_refunds()}
),
claims as (
    select lower(trim(json_extract_string(record, '$.status'))) as status,
           {_ts("status_timestamp")} as month,
           cast(json_extract_string(record, '$.requested_amount') as decimal(18, 2)) as requested,
           cast(json_extract_string(record, '$.approved_amount') as decimal(18, 2)) as approved
    from raw_easypost.claims
    where lower(trim(json_extract_string(record, '$.mode'))) = 'production'
      and lower(trim(json_extract_string(record, '$.status'))) <> 'cancelled'
),
raw_totals as ({union(raw)}
),
mart_totals as ({union(mart)}
)
select measure, month, coalesce(m.total, 0) as mart_total, coalesce(r.total, 0) as raw_total
from mart_totals as m full outer join raw_totals as r using (measure, month)
"""
