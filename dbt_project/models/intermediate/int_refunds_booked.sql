{#- Refunds (§2): booked in the month of the refund, for what the customer got back (successful
    refund transactions), converted at the refund month's rate. Refunds of nothing are dropped. -#}
with transactions as (
    select refund_id, sum(amount) as amount_original
    from {{ ref('stg_shopify__refund_transactions') }}
    where kind = 'refund' and status = 'success'
    group by refund_id
),

refunds as (
    select
        r.refund_id,
        r.order_id,
        r.created_at as refunded_at,
        {{ local_month('r.created_at') }} as refund_month,
        o.currency,
        t.amount_original
    from {{ ref('stg_shopify__refunds') }} as r
    inner join {{ ref('int_orders_enriched') }} as o on o.order_id = r.order_id
    inner join transactions as t on t.refund_id = r.refund_id
    where t.amount_original <> 0
)

select
    refunds.*,
    fx.rate_to_reporting as fx_rate,
    {{ to_reporting('refunds.amount_original', 'refunds.currency', 'fx.rate_to_reporting') }} as amount
from refunds
left join {{ ref('stg_finance__fx_rates') }} as fx on fx.month = refunds.refund_month and fx.currency = refunds.currency
