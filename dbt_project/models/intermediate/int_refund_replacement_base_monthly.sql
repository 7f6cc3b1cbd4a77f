{#- §6's base of the refund/replacement charge per month: the money returned by every refund booked in the month
    (whatever the rule version) plus the COGS of the replacement orders created in it. The P&L charges a share of it;
    refund_share_sensitivity tries other shares. -#}
with refunds as (
    select refund_month as month, sum(money_returned) as refunds
    from {{ ref('int_refunds_booked') }}
    group by refund_month
),

replacements as (
    select order_month as month, sum(cogs) as replacement_cogs
    from {{ ref('int_orders_enriched') }}
    where is_replacement and not is_cancelled
    group by order_month
)

select
    m.month,
    coalesce(r.refunds, 0) + coalesce(rp.replacement_cogs, 0) as refund_replacement_base
from {{ ref('int_months_spanned') }} as m
left join refunds as r on r.month = m.month
left join replacements as rp on rp.month = m.month
