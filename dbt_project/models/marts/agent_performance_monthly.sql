{#- Per month, agent and campaign (§10): touches and replies (by touch month) and attributed orders
    and revenue (booked like the P&L: orders in their month, refunds in theirs), so agents add up to
    the P&L's revenue lines. Coupon rows credit the coupon's agent. A row is final once the month is over
    and the longest reply window of its touches has passed. -#}
with touches as (
    select
        touch_month as month,
        agent_email,
        campaign,
        count(*) as touches,
        count(*) filter (where replied) as replies
    from {{ ref('fct_campaign_touches') }}
    group by 1, 2, 3
),

orders as (
    select
        booked_month as month,
        agent_email,
        campaign,
        count(*) filter (where row_type = 'order') as attributed_orders,
        sum(net_revenue) as attributed_revenue
    from {{ ref('fct_attributed_orders') }}
    group by 1, 2, 3
),

combined as (
    select
        coalesce(t.month, o.month) as month,
        coalesce(t.agent_email, o.agent_email) as agent_email,
        coalesce(t.campaign, o.campaign) as campaign,
        coalesce(t.touches, 0) as touches,
        coalesce(t.replies, 0) as replies,
        coalesce(o.attributed_orders, 0) as attributed_orders,
        cast(coalesce(o.attributed_revenue, 0) as decimal(18, 2)) as attributed_revenue
    from touches as t
    full outer join orders as o on o.month = t.month and o.agent_email = t.agent_email and o.campaign = t.campaign
)

select
    c.*,
    {{ finality_columns(add_days(add_months('c.month', 1), longest_window_days())) }}
from combined as c
inner join {{ ref('int_months_spanned') }} as m on {{ month_date('m.month') }} = c.month
