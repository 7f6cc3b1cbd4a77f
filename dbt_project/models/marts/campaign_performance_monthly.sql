{#- Campaign funnel per touch month and declared campaign (§10). A cohort view: an order counts in
    the month of the touch that won it (coupons: the order's month), and its revenue is net of its
    refunds whenever they are booked. The P&L instead books revenue by the month of the order.
    A row is final once every touch of the month has passed its window (contacts, replies and conversions
    are then settled); a refund of a converted order booked later still lowers its revenue (DECISIONLOG). -#}
with months as (select {{ month_date('month') }} as month from {{ ref('int_months_spanned') }}),

campaigns as (select campaign, priority from {{ ref('int_campaigns_declared') }}),

touches as (
    select
        touch_month as month,
        campaign,
        count(distinct customer_key) as contacted,
        count(distinct case when replied then customer_key end) as replied
    from {{ ref('fct_campaign_touches') }}
    group by touch_month, campaign
),

orders as (
    select
        touch_month as month,
        campaign,
        count(*) filter (where row_type = 'order') as converted_orders,
        sum(net_revenue) as revenue,
        sum(cogs) as cogs
    from {{ ref('fct_attributed_orders') }}
    group by touch_month, campaign
),

funnel as (
    select
        m.month,
        c.campaign,
        c.priority,
        coalesce(t.contacted, 0) as contacted,
        coalesce(t.replied, 0) as replied,
        coalesce(o.converted_orders, 0) as converted_orders,
        cast(coalesce(o.revenue, 0) as decimal(18, 2)) as revenue,
        cast(coalesce(o.cogs, 0) as decimal(18, 2)) as cogs
    from months as m
    cross join campaigns as c
    left join touches as t on t.month = m.month and t.campaign = c.campaign
    left join orders as o on o.month = m.month and o.campaign = c.campaign
)

select
    month,
    campaign,
    contacted,
    replied,
    cast({{ ratio('replied', 'contacted') }} as decimal(5, 4)) as reply_rate,
    converted_orders,
    cast({{ ratio('converted_orders', 'contacted') }} as decimal(5, 4)) as conversion_rate,
    revenue,
    cogs,
    cast(revenue - cogs as decimal(18, 2)) as gross_margin,
    cast({{ money_per('revenue', 'contacted') }} as decimal(18, 2)) as revenue_per_contact,
    priority as campaign_priority,
    {{ finality_columns(add_days(add_months('month', 1), longest_window_days())) }}
from funnel
