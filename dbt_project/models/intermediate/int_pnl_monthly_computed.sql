{#- The monthly CS P&L (§8) as the data says now, one row per store-local month: revenue per declared
    campaign (orders created in the month minus refunds of attributed orders booked in it), COGS of
    attributed orders, claims income, CS costs, the refund/replacement charge and the net contribution.
    The published P&L (cs_pnl_monthly_wide) replaces closed months with their frozen rows (§9).
    source_history_complete (§5): false when a Shopify renewal order of the month has no renewal behind it. -#}
{%- set declared = campaigns() %}
with months as (select month from {{ ref('int_months_spanned') }}),

attributed as (
    select
        booked_month as month,
        {%- for c in declared %}
        sum(case when campaign = '{{ c.key }}' then net_revenue end) as revenue_{{ c.key }},
        {%- endfor %}
        sum(case when row_type = 'order' then cogs end) as cogs_attributed
    from {{ ref('int_attributed_revenue_booked') }}
    group by 1
),

claims as (
    select month, sum(amount_approved) as carrier_claims_income
    from {{ ref('int_carrier_claims_grouped') }}
    group by 1
),

costs as (
    select
        month,
        sum(case when cost_type = 'staffing' then amount end) as cost_staffing,
        sum(case when cost_type = 'platform' then amount end) as cost_platform,
        sum(case when cost_type = 'other' then amount end) as cost_other
    from {{ ref('int_cs_costs_converted') }}
    group by month
),

lines as (
    select
        m.month,
        {%- for c in declared %}
        coalesce(a.revenue_{{ c.key }}, 0) as revenue_{{ c.key }},
        {%- endfor %}
        coalesce(a.cogs_attributed, 0) as cogs_attributed,
        coalesce(cl.carrier_claims_income, 0) as carrier_claims_income,
        coalesce(co.cost_staffing, 0) as cost_staffing,
        coalesce(co.cost_platform, 0) as cost_platform,
        coalesce(co.cost_other, 0) as cost_other,
        {{ cents('s.refund_share * b.refund_replacement_base') }} as refund_replacement_charge  -- §6
    from months as m
    left join attributed as a on a.month = m.month
    left join claims as cl on cl.month = m.month
    left join costs as co on co.month = m.month
    left join {{ ref('int_refund_replacement_base_monthly') }} as b on b.month = m.month
    left join {{ ref('int_refund_share_monthly') }} as s on s.month = m.month
),

profit as (
    select
        *,
        {% for c in declared %}revenue_{{ c.key }} + {% endfor %}0 - cogs_attributed as gross_profit
    from lines
)

select
    profit.month,
    {%- for c in declared %}
    cast(revenue_{{ c.key }} as decimal(18, 2)) as revenue_{{ c.key }},
    {%- endfor %}
    cast(cogs_attributed as decimal(18, 2)) as cogs_attributed,
    cast(gross_profit as decimal(18, 2)) as gross_profit,
    cast(carrier_claims_income as decimal(18, 2)) as carrier_claims_income,
    cast(cost_staffing as decimal(18, 2)) as cost_staffing,
    cast(cost_platform as decimal(18, 2)) as cost_platform,
    cast(cost_other as decimal(18, 2)) as cost_other,
    cast(refund_replacement_charge as decimal(18, 2)) as refund_replacement_charge,
    cast(gross_profit + carrier_claims_income - cost_staffing - cost_platform - cost_other
         - refund_replacement_charge as decimal(18, 2)) as net_contribution,
    gross_profit + carrier_claims_income - cost_staffing - cost_platform - cost_other
        - refund_replacement_charge > 0 as is_profit_center,
    h.source_history_complete,
    '{{ var("rule_version") }}' as rule_version
from profit
left join {{ ref('int_renewal_history_reconciled') }} as h on h.month = profit.month
