{#- Refunds (§2): booked in the month of the refund, converted at the refund month's rate, each with two amounts.
    money_returned: what the customer got back (successful refund transactions), the §6 charge's base.
    revenue_reversal: what leaves revenue under rule version 2: the refunded goods on net revenue's basis (pre-tax
    line subtotals) plus refund_discrepancy adjustments (sent negative when money goes back, so minus their amount);
    refunded tax and shipping are not revenue. (Rule version 1 reversed the money returned: fct_attributed_orders
    picks the basis of the version in force; both are here so a v1-closed month's rule effect can be told apart.)
    A refund that returned nothing (its transactions failed or are pending) is not booked, for either amount. -#}
with transactions as (
    select refund_id, sum(amount) as money_returned_original
    from {{ ref('stg_shopify__refund_transactions') }}
    where kind = 'refund' and status = 'success'
    group by refund_id
),

goods as (
    select refund_id, sum(subtotal) as goods_original
    from {{ ref('stg_shopify__refund_line_items') }}
    group by refund_id
),

discrepancies as (
    select refund_id, sum(amount) as discrepancy_original
    from {{ ref('stg_shopify__refund_adjustments') }}
    where kind = 'refund_discrepancy'
    group by refund_id
),

refunds as (
    select
        r.refund_id,
        r.order_id,
        r.created_at as refunded_at,
        {{ local_month('r.created_at') }} as refund_month,
        o.currency,
        t.money_returned_original,
        coalesce(g.goods_original, 0) - coalesce(d.discrepancy_original, 0) as revenue_reversal_original
    from {{ ref('stg_shopify__refunds') }} as r
    inner join {{ ref('int_orders_enriched') }} as o on o.order_id = r.order_id
    inner join transactions as t on t.refund_id = r.refund_id
    left join goods as g on g.refund_id = r.refund_id
    left join discrepancies as d on d.refund_id = r.refund_id
    where t.money_returned_original <> 0
)

select
    refunds.*,
    fx.rate_to_reporting as fx_rate,
    {{ to_reporting('refunds.money_returned_original', 'refunds.currency', 'fx.rate_to_reporting') }} as money_returned,
    {{ to_reporting('refunds.revenue_reversal_original', 'refunds.currency', 'fx.rate_to_reporting') }}
        as revenue_reversal
from refunds
left join {{ ref('stg_finance__fx_rates') }} as fx on fx.month = refunds.refund_month and fx.currency = refunds.currency
