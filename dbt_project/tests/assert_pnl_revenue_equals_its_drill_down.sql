{#- Every revenue figure of the P&L (as computed; closed months are frozen copies of it) is the sum of
    its fct_attributed_orders rows, and agents add up to the same lines. Returns months that disagree. -#}
with fact as (
    select booked_month as month, campaign, sum(net_revenue) as revenue
    from {{ ref('fct_attributed_orders') }}
    group by 1, 2
),

agents as (
    select month, campaign, sum(attributed_revenue) as revenue
    from {{ ref('agent_performance_monthly') }}
    group by 1, 2
),

pnl as (
    {%- for c in campaigns() %}
    select {{ month_date('month') }} as month, '{{ c.key }}' as campaign, revenue_{{ c.key }} as revenue
    from {{ ref('int_pnl_monthly_computed') }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select p.month, p.campaign, p.revenue as pnl, f.revenue as fact, a.revenue as agents
from pnl as p
left join fact as f on f.month = p.month and f.campaign = p.campaign
left join agents as a on a.month = p.month and a.campaign = p.campaign
where p.revenue <> coalesce(f.revenue, 0) or p.revenue <> coalesce(a.revenue, 0)
