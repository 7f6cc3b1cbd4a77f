{#- The drill-down behind every revenue figure (int_attributed_revenue_booked, which the P&L sums): one row per
    attributed order and one negative row per refund of one. A row is final once its booked month is over (a
    later refund is a row of its own). -#}
select
    order_id,
    row_type,
    refund_id,
    order_name,
    customer_key,
    campaign,
    agent_email,
    touch_ticket_id,
    touch_at,
    {{ month_date('touch_month') }} as touch_month,
    order_at,
    {{ month_date('booked_month') }} as booked_month,
    currency,
    amount_original,
    net_revenue,
    cogs,
    '{{ var("rule_version") }}' as rule_version,
    {{ finality_columns(add_months(month_start('booked_month'), 1)) }}
from {{ ref('int_attributed_revenue_booked') }}
