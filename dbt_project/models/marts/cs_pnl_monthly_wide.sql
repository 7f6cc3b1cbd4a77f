{#- The monthly CS P&L (§8), one row per store-local month, as published: a closed month shows its
    frozen rows (§9), whatever arrived since; an open month shows what the data says now plus the
    adjustments booked into it from closed months. Months are dates (the first day), so BI tools chart them. -#}
{#- Its columns follow the declared campaigns (one revenue_<campaign> line each), and a contract lists
    columns by name: it is enforced while the campaigns are the ones _marts__models.yml lists. Declaring
    a campaign: add its revenue_<key> column there and its key here. The long cs_pnl_monthly always is. -#}
{{ config(contract={'enforced': var('attribution_priority') | sort == ['coupon', 'upsell', 'winback']}) }}
{%- set lines = pnl_lines() %}
with computed as (select * from {{ ref('int_pnl_monthly_computed') }}),

closed as (
    select
        month,
        {%- for line in lines %}
        coalesce(sum(case when line = '{{ line }}' then amount end), 0) as {{ line }},
        {%- endfor %}
        max(closed_at) as closed_at,
        max(rule_version) as rule_version
    from {{ source('ops', 'cs_pnl_closed') }}
    group by month
),

adjustments as (
    select
        {{ month_label('booked_month') }} as month,
        {%- for line in lines %}
        sum(case when line = '{{ line }}' then amount else 0 end) as {{ line }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ ref('cs_pnl_adjustments') }}
    group by 1
),

months as (
    select month from {{ ref('int_months_spanned') }}
    union
    select month from adjustments
    union
    select month from closed
),

published as (
    select
        m.month,
        {%- for line in lines %}
        case when cl.month is not null then cl.{{ line }}
             else coalesce(c.{{ line }}, 0) + coalesce(a.{{ line }}, 0) end as {{ line }},
        {%- endfor %}
        -- a month closes only when its source history is complete (pipeline/close.py), and stays frozen
        cl.month is not null or coalesce(c.source_history_complete, true) as source_history_complete,
        cl.month is not null as is_closed,
        cl.closed_at,
        coalesce(cl.rule_version, '{{ var("rule_version") }}') as rule_version
    from months as m
    left join computed as c on c.month = m.month
    left join closed as cl on cl.month = m.month
    left join adjustments as a on a.month = m.month
),

-- §12 incremental net contribution (an estimate, never booked): per campaign with a lift estimate for the month,
-- its attributed margin (revenue net of refunds booked - COGS) is replaced by its incremental margin, and the
-- interval by the lift interval's ends × treatment size × margin per converted order (campaigns' ends added up).
attributed_margin as (
    select {{ month_label('booked_month') }} as month, campaign,
           sum(net_revenue) - coalesce(sum(cogs) filter (where row_type = 'order'), 0) as margin
    from {{ ref('fct_attributed_orders') }}
    group by 1, campaign
),

lift as (
    select
        {{ month_label('eligible_month') }} as month,
        campaign,
        incremental_margin,
        {%- for end in ['low', 'high'] %}
        {{ exact_quotient('cast(lift_ci_' ~ end ~ ' * 10000 as hugeint) * treatment_size * cast(treatment_margin * 100 as hugeint)',
                          '10000 * treatment_conversions', 0) }} * 0.01 as margin_{{ end }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ ref('campaign_lift_monthly') }}
    where incremental_margin is not null
),

estimates as (
    select
        l.month,
        sum(l.incremental_margin - coalesce(a.margin, 0)) as delta,
        sum(least(l.margin_low, l.margin_high) - coalesce(a.margin, 0)) as delta_low,
        sum(greatest(l.margin_low, l.margin_high) - coalesce(a.margin, 0)) as delta_high
    from lift as l
    left join attributed_margin as a on a.month = l.month and a.campaign = l.campaign
    group by l.month
)

select
    {{ month_date('published.month') }} as month,
    {%- for line in lines %}
    cast({{ line }} as decimal(18, 2)) as {{ line }},
    {%- endfor %}
    net_contribution > 0 as is_profit_center,
    source_history_complete,
    is_closed,
    closed_at,
    rule_version,
    cast(net_contribution + coalesce(e.delta, 0) as decimal(18, 2)) as incremental_net_contribution,
    cast(net_contribution + coalesce(e.delta_low, 0) as decimal(18, 2)) as incremental_net_contribution_low,
    cast(net_contribution + coalesce(e.delta_high, 0) as decimal(18, 2)) as incremental_net_contribution_high,
    is_closed as is_final,
    {#- an open month is final when it is closed: on the close schedule, unless its history is short (it
        cannot close) or the scheduled day has passed -#}
    case when is_closed then {{ local_date('closed_at') }}
         when source_history_complete then {{ scheduled_close(month_date('published.month')) }} end as final_on
from published
left join estimates as e on e.month = published.month
