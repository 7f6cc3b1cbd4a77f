{#- The attributed revenue as booked (§2, §8): one row per attributed order (row_type = order, in the order's
    month) and one negative row per refund of an attributed order (row_type = refund, in the refund's month, for
    its revenue reversal). The P&L sums it; fct_attributed_orders publishes it as the drill-down. -#}
with attributed as (
    select o.*, a.campaign, a.touch_ticket_id, a.touch_at, a.touch_month, a.agent_email
    from {{ ref('int_orders_attributed') }} as a
    inner join {{ ref('int_orders_enriched') }} as o on o.order_id = a.order_id
)

select
    order_id,
    'order' as row_type,
    cast(null as bigint) as refund_id,
    order_name,
    customer_key,
    campaign,
    agent_email,
    touch_ticket_id,
    touch_at,
    touch_month,
    order_at,
    order_month as booked_month,
    currency,
    cast(subtotal_original as decimal(18, 2)) as amount_original,
    cast(net_revenue as decimal(18, 2)) as net_revenue,
    cast(cogs as decimal(18, 2)) as cogs
from attributed

union all

select
    a.order_id,
    'refund' as row_type,
    r.refund_id,
    a.order_name,
    a.customer_key,
    a.campaign,
    a.agent_email,
    a.touch_ticket_id,
    a.touch_at,
    a.touch_month,
    a.order_at,
    r.refund_month as booked_month,
    r.currency,
    {%- if var('rule_version') == 'v1' %}  {#- v1 reversed the whole money returned, tax and shipping included #}
    cast(-r.money_returned_original as decimal(18, 2)) as amount_original,
    cast(-r.money_returned as decimal(18, 2)) as net_revenue,
    {%- else %}
    cast(-r.revenue_reversal_original as decimal(18, 2)) as amount_original,
    cast(-r.revenue_reversal as decimal(18, 2)) as net_revenue,
    {%- endif %}
    cast(0 as decimal(18, 2)) as cogs
from attributed as a
inner join {{ ref('int_refunds_booked') }} as r on r.order_id = a.order_id
